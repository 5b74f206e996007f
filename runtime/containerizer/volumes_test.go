package containerizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
	"github.com/docker/docker/api/types/mount"
)

func volume(host, ctr string, mode messages.ContainerInfo_Volume_Mode) *messages.ContainerInfo_Volume {
	return &messages.ContainerInfo_Volume{HostPath: host, ContainerPath: ctr, Mode: mode}
}

// Volumes map to bind mounts as in Mesos' Docker containerizer
// (docker.cpp): relative host paths in the sandbox, relative container
// paths under /mnt/mesos/sandbox, not both relative; the sandbox itself
// first. Paths that leave the sandbox, by name or by a link the task's
// files put there, are refused, as are absent host paths and clashes.
func TestBindMounts(t *testing.T) {
	sandbox := t.TempDir()
	host := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(sandbox, "etc-link")); err != nil {
		t.Fatal(err)
	}
	const rw, ro = messages.ContainerInfo_Volume_RW, messages.ContainerInfo_Volume_RO
	got, err := BindMounts([]*messages.ContainerInfo_Volume{
		volume(host, "/data", ro), volume("cache/x", "/cache", rw), volume(host+"/", "rel/dir", rw),
	}, sandbox)
	if err != nil {
		t.Fatal(err)
	}
	want := []mount.Mount{
		{Type: mount.TypeBind, Source: sandbox, Target: "/mnt/mesos/sandbox"},
		{Type: mount.TypeBind, Source: host, Target: "/data", ReadOnly: true},
		{Type: mount.TypeBind, Source: filepath.Join(sandbox, "cache", "x"), Target: "/cache"},
		{Type: mount.TypeBind, Source: host, Target: "/mnt/mesos/sandbox/rel/dir"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("mounts\n%v\nwant\n%v", got, want)
	}
	if fi, err := os.Stat(filepath.Join(sandbox, "cache", "x")); err != nil || !fi.IsDir() {
		t.Fatalf("the sandbox volume was not created: %v", err)
	}
	many := make([]*messages.ContainerInfo_Volume, maxVolumes+1)
	for i := range many {
		many[i] = volume(host, fmt.Sprintf("/v%d", i), rw)
	}
	for _, tc := range []struct {
		name string
		vols []*messages.ContainerInfo_Volume
		want string
	}{
		{"both relative", []*messages.ContainerInfo_Volume{volume("a", "b", rw)}, "both relative"},
		{"no host path", []*messages.ContainerInfo_Volume{volume("", "/b", rw)}, "no host_path"},
		{"no container path", []*messages.ContainerInfo_Volume{volume(host, "", rw)}, "without a container_path"},
		{"out of the sandbox", []*messages.ContainerInfo_Volume{volume("../x", "/x", rw)}, "leaves the sandbox"},
		{"through a link", []*messages.ContainerInfo_Volume{volume("etc-link", "/x", rw)}, "leads out of the sandbox"},
		{"absent host path", []*messages.ContainerInfo_Volume{volume(filepath.Join(host, "nope"), "/x", rw)}, "no such file"},
		{"twice the same target", []*messages.ContainerInfo_Volume{volume(host, "/x", rw), volume(host, "/x/", ro)}, "two volumes"},
		{"over the sandbox", []*messages.ContainerInfo_Volume{volume(host, "/mnt/mesos/sandbox", rw)}, "two volumes"},
		{"too many", many, "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := BindMounts(tc.vols, sandbox); !errors.Is(err, ErrBadVolume) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrBadVolume saying %q", err, tc.want)
			}
		})
	}
	if _, err := BindMounts(nil, "relative/sandbox"); err == nil {
		t.Fatal("a relative sandbox was accepted")
	}
}

// In a real container: the sandbox is at /mnt/mesos/sandbox and
// MESOS_SANDBOX says so; a read-only volume cannot be written, even by
// root; a read-write one in the sandbox keeps what the task wrote.
func TestDockerSandboxAndVolumes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := dockerTask(TestImage, `echo "$MESOS_SANDBOX"; cat /data/in; (echo x > /data/new) 2>/dev/null && echo wrote-ro || echo ro-refused
echo cached > /cache/f; echo mine > "$MESOS_SANDBOX/out"; cat "$MESOS_SANDBOX/rel/in"`)
	spec.Sandbox = filepath.Join(t.TempDir(), "sandbox")
	spec.Container.Volumes = []*messages.ContainerInfo_Volume{
		volume(host, "/data", messages.ContainerInfo_Volume_RO),
		volume("cache", "/cache", messages.ContainerInfo_Volume_RW),
		volume(host, "rel", messages.ContainerInfo_Volume_RO),
	}
	want := "/mnt/mesos/sandbox\nhello\nro-refused\nhello\n"
	if out := runOut(t, d, spec); out != want {
		t.Fatalf("stdout %q, want %q", out, want)
	}
	for file, want := range map[string]string{"cache/f": "cached\n", "out": "mine\n"} {
		if b, err := os.ReadFile(filepath.Join(spec.Sandbox, file)); err != nil || string(b) != want {
			t.Fatalf("sandbox %s: %q %v, want %q", file, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(host, "new")); !os.IsNotExist(err) {
		t.Fatalf("the read-only volume was written: %v", err)
	}
}

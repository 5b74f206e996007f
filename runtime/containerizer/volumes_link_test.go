package containerizer

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
	"golang.org/x/sys/unix"
)

// A command task sees a persistent volume at its container path in the
// sandbox (a link to the agent's directory): what one task writes there,
// the next task of another sandbox reads back, and the file stays on the
// host after both ended.
func TestCommandTaskSeesVolumeInSandbox(t *testing.T) {
	vol := filepath.Join(t.TempDir(), "volumes", "roles", "eng", "v1")
	if err := os.MkdirAll(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(name, cmd string) string {
		t.Helper()
		sandbox := filepath.Join(t.TempDir(), name)
		ctr, err := Command{}.Launch(t.Context(), LaunchSpec{ID: name, Sandbox: sandbox, Command: &messages.CommandInfo{Value: cmd, Shell: true},
			Volumes: []*messages.ContainerInfo_Volume{{HostPath: vol, ContainerPath: "state/data", Mode: messages.ContainerInfo_Volume_RW}}})
		if err != nil {
			t.Fatal(err)
		}
		if ex := wait(t, ctr); !ex.Success() {
			t.Fatalf("%s: %s", name, ex.Describe())
		}
		out, _ := os.ReadFile(filepath.Join(sandbox, "stdout"))
		return string(out)
	}
	run("writer", "echo hello > state/data/f")
	if got := run("reader", "cat state/data/f"); got != "hello\n" {
		t.Fatalf("the second task read %q from the volume; want hello", got)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "f")); err != nil || string(b) != "hello\n" {
		t.Fatalf("the volume on the host holds %q (%v)", b, err)
	}
}

func TestCommandVolumeOutsideSandboxRefused(t *testing.T) {
	_, err := Command{}.Launch(t.Context(), LaunchSpec{ID: "t", Sandbox: t.TempDir(), Command: &messages.CommandInfo{Value: "true", Shell: true},
		Volumes: []*messages.ContainerInfo_Volume{{HostPath: t.TempDir(), ContainerPath: "../escape"}}})
	if !errors.Is(err, ErrBadVolume) {
		t.Fatalf("a volume at ../escape launched (err %v); want ErrBadVolume", err)
	}
}

// A Docker task gets the agent's volumes (LaunchSpec.Volumes, such as a
// persistent volume) as bind mounts at their container path under the
// sandbox: what it writes there is in the agent's directory after it ends.
func TestDockerTaskWritesAgentVolume(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	vol := t.TempDir()
	if err := os.Chmod(vol, 0o777); err != nil { // the image's user may not be the agent's
		t.Fatal(err)
	}
	spec := dockerTask(TestImage, `echo kept > "$MESOS_SANDBOX/state/f" && echo ok`)
	spec.Sandbox = filepath.Join(t.TempDir(), "sandbox")
	spec.Volumes = []*messages.ContainerInfo_Volume{{HostPath: vol, ContainerPath: "state", Mode: messages.ContainerInfo_Volume_RW}}
	if out := runOut(t, d, spec); out != "ok\n" {
		t.Fatalf("stdout %q", out)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "f")); err != nil || string(b) != "kept\n" {
		t.Fatalf("the volume on the host holds %q (%v)", b, err)
	}
}

// A command task that mounts a volume read-only reads what is there, and
// the kernel refuses its write (EROFS, through the link to the volume's
// read-only view), while a task mounting it read-write writes; the view
// is kept for the next reader and goes with UnmountReadOnlyView.
func TestCommandTaskReadOnlyVolumeRefusesWrites(t *testing.T) {
	work := t.TempDir()
	vol := filepath.Join(work, "volumes", "roles", "eng", "v1")
	view := filepath.Join(work, "volumes", "ro", "eng", "v1")
	if err := os.MkdirAll(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "f"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = UnmountReadOnlyView(view) })
	run := func(name, cmd string, mode messages.ContainerInfo_Volume_Mode) (Exit, string) {
		t.Helper()
		sandbox := filepath.Join(t.TempDir(), name)
		ctr, err := Command{}.Launch(t.Context(), LaunchSpec{ID: name, Sandbox: sandbox, Command: &messages.CommandInfo{Value: cmd, Shell: true},
			Volumes:       []*messages.ContainerInfo_Volume{{HostPath: vol, ContainerPath: "data", Mode: mode}},
			ReadOnlyViews: map[string]string{vol: view}})
		if errors.Is(err, unix.EPERM) {
			t.Skipf("this process may not mount (%v): read-only volumes need CAP_SYS_ADMIN", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		ex := wait(t, ctr)
		out, _ := os.ReadFile(filepath.Join(sandbox, "stdout"))
		errOut, _ := os.ReadFile(filepath.Join(sandbox, "stderr"))
		return ex, string(out) + string(errOut)
	}
	ex, out := run("reader", "cat data/f && echo changed > data/f", messages.ContainerInfo_Volume_RO)
	if ex.Success() || !strings.Contains(out, "kept") || !strings.Contains(out, "Read-only file system") {
		t.Fatalf("a read-only task's write ended %s with output %q; want its read of kept, then its write refused with Read-only file system", ex.Describe(), out)
	}
	if b, _ := os.ReadFile(filepath.Join(vol, "f")); string(b) != "kept\n" {
		t.Fatalf("the volume holds %q after the read-only task; want it unchanged", b)
	}
	if ex, out := run("again", "test ! -w data/f && cat data/f", messages.ContainerInfo_Volume_RO); !ex.Success() || out != "kept\n" {
		t.Fatalf("a second read-only task (the view kept) ended %s with %q", ex.Describe(), out)
	}
	if ex, out := run("writer", "echo changed > data/f", messages.ContainerInfo_Volume_RW); !ex.Success() {
		t.Fatalf("a read-write task's write ended %s (%q)", ex.Describe(), out)
	}
	if err := UnmountReadOnlyView(view); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(view); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the view is still there after UnmountReadOnlyView (%v)", err)
	}
	if b, _ := os.ReadFile(filepath.Join(vol, "f")); string(b) != "changed\n" {
		t.Fatalf("the volume holds %q after the views went; want the writer's", b)
	}
}

// A read-only volume without a place for its view is refused, not
// mounted read-write.
func TestCommandReadOnlyVolumeWithoutViewRefused(t *testing.T) {
	_, err := Command{}.Launch(t.Context(), LaunchSpec{ID: "t", Sandbox: t.TempDir(), Command: &messages.CommandInfo{Value: "true", Shell: true},
		Volumes: []*messages.ContainerInfo_Volume{{HostPath: t.TempDir(), ContainerPath: "data", Mode: messages.ContainerInfo_Volume_RO}}})
	if !errors.Is(err, ErrBadVolume) {
		t.Fatalf("a read-only volume without a view launched (err %v); want ErrBadVolume", err)
	}
}

// A Docker task mounts a read-only volume with the engine's :ro bind: it
// reads, and its write is refused.
func TestDockerTaskReadOnlyVolume(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "f"), []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := dockerTask(TestImage, `cat "$MESOS_SANDBOX/state/f"; if echo changed > "$MESOS_SANDBOX/state/f"; then echo wrote; else echo refused; fi`)
	spec.Sandbox = filepath.Join(t.TempDir(), "sandbox")
	spec.Volumes = []*messages.ContainerInfo_Volume{{HostPath: vol, ContainerPath: "state", Mode: messages.ContainerInfo_Volume_RO}}
	if out := runOut(t, d, spec); out != "kept\nrefused\n" {
		t.Fatalf("stdout %q; want the volume's file read and the write refused", out)
	}
	if b, _ := os.ReadFile(filepath.Join(vol, "f")); string(b) != "kept\n" {
		t.Fatalf("the volume holds %q; want it unchanged", b)
	}
}

// A view left from an earlier directory of the volume (destroyed and made
// again while the view stayed) is replaced, not reused: the task reads the
// volume it names.
func TestReadOnlyViewOfAnotherDirectoryReplaced(t *testing.T) {
	work := t.TempDir()
	old, vol, view := filepath.Join(work, "old"), filepath.Join(work, "vol"), filepath.Join(work, "ro", "v1")
	for dir, content := range map[string]string{old: "old\n", vol: "new\n"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = UnmountReadOnlyView(view) })
	if err := readOnlyView(old, view); errors.Is(err, unix.EPERM) {
		t.Skipf("this process may not mount (%v): read-only volumes need CAP_SYS_ADMIN", err)
	} else if err != nil {
		t.Fatal(err)
	}
	if err := readOnlyView(vol, view); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(view, "f")); err != nil || string(b) != "new\n" {
		t.Fatalf("the view holds %q (%v); want the volume's new\\n", b, err)
	}
	if err := readOnlyView(vol, view); err != nil { // kept: no second mount stacked
		t.Fatal(err)
	}
	if err := UnmountReadOnlyView(view); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(view); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the view is still there (%v)", err)
	}
}

package containerizer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/agora-sched/agora/messages"
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

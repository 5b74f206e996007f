package containerizer

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// What a restarted agent does for a task it has lost track of (its
// checkpoint unreadable): Destroy ends everything the task started, with
// cgroups by emptying its group (then removed), without by finding the
// processes by their sandbox.
func TestDestroyEndsEverythingATaskStarted(t *testing.T) {
	cg, err := DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		t.Fatalf("running as root, cgroups should be usable here: %v", err)
	}
	for _, cz := range []Command{{Cgroups: cg}, {}} {
		dir := filepath.Join(t.TempDir(), "sandbox")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(dir, "ready"), 0o600); err != nil {
			t.Fatal(err)
		}
		// Children in the background, one of which leaves the task's
		// process group: all must go. That one says it started itself
		// (setsid may fork again before it runs anything, so the shell's
		// word for it would come too early).
		ctr, err := cz.Launch(t.Context(), LaunchSpec{ID: "f.destroy", Sandbox: dir,
			Command: &messages.CommandInfo{Value: "sleep 600 & setsid sh -c 'echo started > ready; exec sleep 600' & wait", Shell: true}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = Command{Cgroups: cg}.Destroy(context.Background(), "f.destroy", dir) })
		// Reading the FIFO blocks until both children are started.
		if b, err := os.ReadFile(filepath.Join(dir, "ready")); err != nil || string(b) != "started\n" {
			t.Fatalf("ready: %q %v", b, err)
		}
		mark := []byte("\x00AGORA_SANDBOX=" + dir + "\x00")
		if found, _ := processesWithEnv(mark); len(found) != 4 { // the recorder, the shell, two sleeps
			t.Fatalf("found %v by their sandbox, want the task's 4 processes", found)
		}
		if err := cz.Destroy(t.Context(), "f.destroy", dir); err != nil {
			t.Fatalf("cgroups=%v: %v", cz.Cgroups != nil, err)
		}
		if found, _ := processesWithEnv(mark); len(found) != 0 {
			t.Fatalf("cgroups=%v: processes %v still run", cz.Cgroups != nil, found)
		}
		if cg.Exists("f.destroy") {
			t.Fatalf("cgroups=%v: the task's group is left", cz.Cgroups != nil)
		}
		if ex := wait(t, ctr); ex.Signal != "killed" {
			t.Fatalf("cgroups=%v: the task ended %+v, want SIGKILL", cz.Cgroups != nil, ex)
		}
	}
}

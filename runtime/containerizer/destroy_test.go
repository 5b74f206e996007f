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
		for _, fifo := range []string{"ready1", "ready2", "hold"} {
			if err := syscall.Mkfifo(filepath.Join(dir, fifo), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		// Children in the background, one of which leaves the task's
		// process group: all must go. Each says it started itself and
		// then blocks opening a FIFO nobody writes, without exec'ing
		// again: a process in the middle of an exec can hide its
		// environment from /proc for an instant (a sleep exec'd in the
		// background made this test fail 1 run in 5 under load).
		ctr, err := cz.Launch(t.Context(), LaunchSpec{ID: "f.destroy", Sandbox: dir,
			Command: &messages.CommandInfo{Value: "(echo started > ready1; read x < hold) & setsid sh -c 'echo started > ready2; read x < hold' & wait", Shell: true}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = Command{Cgroups: cg}.Destroy(context.Background(), "f.destroy", dir) })
		// Reading a FIFO blocks until its child has started.
		for _, fifo := range []string{"ready1", "ready2"} {
			if b, err := os.ReadFile(filepath.Join(dir, fifo)); err != nil || string(b) != "started\n" {
				t.Fatalf("%s: %q %v", fifo, b, err)
			}
		}
		mark := []byte("\x00AGORA_SANDBOX=" + dir + "\x00")
		if found, _ := processesWithEnv(mark); len(found) != 4 { // the recorder, the shell, its subshell, the setsid'd shell
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

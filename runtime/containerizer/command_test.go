package containerizer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

func launch(t *testing.T, c *messages.CommandInfo) (Container, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sandbox")
	ctr, err := Command{}.Launch(t.Context(), LaunchSpec{ID: "t1", Command: c, Sandbox: dir, Env: map[string]string{"EXTRA": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	return ctr, dir
}

// wait waits for c to end; the test's deadline bounds it.
func wait(t *testing.T, c Container) Exit {
	t.Helper()
	ex, err := c.Wait(t.Context())
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return ex
}

func TestCommandRunsInSandboxWithOutputFiles(t *testing.T) {
	ctr, dir := launch(t, &messages.CommandInfo{Value: "echo out; echo err >&2; echo $GREETING $EXTRA; pwd", Shell: true, Environment: map[string]string{"GREETING": "hi"}})
	if ex := wait(t, ctr); !ex.Success() {
		t.Fatalf("exit: %+v", ex)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "stdout"))
	errb, _ := os.ReadFile(filepath.Join(dir, "stderr"))
	if string(out) != "out\nhi x\n"+dir+"\n" || string(errb) != "err\n" {
		t.Fatalf("stdout %q stderr %q", out, errb)
	}
}

func TestCommandExitCodesAndArgv(t *testing.T) {
	ctr, _ := launch(t, &messages.CommandInfo{Value: "sh", Arguments: []string{"-c", "exit 3"}})
	if ex := wait(t, ctr); ex.Code != 3 || ex.Success() || ex.Describe() != "exited with code 3" {
		t.Fatalf("exit: %+v", ex)
	}
	if _, err := (Command{}).Launch(t.Context(), LaunchSpec{Command: &messages.CommandInfo{Value: "/no/such/binary"}, Sandbox: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing binary: %v", err)
	}
	if _, err := (Command{}).Launch(t.Context(), LaunchSpec{Sandbox: t.TempDir()}); err == nil {
		t.Fatal("no command: want an error")
	}
}

// Kill sends SIGTERM to the whole process group and SIGKILL after the
// grace period to what ignores it.
func TestKillTermThenKillWholeGroup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sandbox")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready")
	if err := syscall.Mkfifo(ready, 0o600); err != nil {
		t.Fatal(err)
	}
	ctr, err := Command{}.Launch(t.Context(), LaunchSpec{ID: "t1", Sandbox: dir, Command: &messages.CommandInfo{
		Value: "trap '' TERM; sleep 600 & echo ready > ready; wait", Shell: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Reading the FIFO blocks until the shell has set its trap and started
	// its child.
	if b, err := os.ReadFile(ready); err != nil || string(b) != "ready\n" {
		t.Fatalf("ready: %q %v", b, err)
	}
	ctr.Kill(200 * time.Millisecond)
	if ex := wait(t, ctr); !ex.Killed || ex.Signal != "killed" {
		t.Fatalf("exit: %+v (want SIGKILL after the ignored SIGTERM)", ex)
	}
}

func TestSandboxPathRefusesTricks(t *testing.T) {
	for _, bad := range [][2]string{{"..", "t"}, {"f", "../../etc"}, {"f", ""}, {"a/b", "t"}, {"f", "."}} {
		if _, err := SandboxPath("/w", bad[0], bad[1]); !errors.Is(err, ErrBadID) {
			t.Errorf("%v: err = %v", bad, err)
		}
	}
	if p, err := SandboxPath("/w", "f1", "t.1"); err != nil || p != "/w/frameworks/f1/tasks/t.1" {
		t.Fatalf("%s %v", p, err)
	}
}

// A restarted agent re-attaches to a task by PID and start time and learns
// its exit code from the sandbox; a wrong start time (a reused PID) is not
// the task.
func TestAttachLearnsExitCodeFromSandbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sandbox")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "go")
	// The task blocks on the FIFO until the test lets it end.
	if err := syscall.Mkfifo(ready, 0o600); err != nil {
		t.Fatal(err)
	}
	ctr, err := Command{}.Launch(t.Context(), LaunchSpec{ID: "t1", Sandbox: dir, Command: &messages.CommandInfo{
		Value: "read x < go; exit 3", Shell: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	pid, start := ctr.(Identified).Identity()
	if _, ok := Attach(t.Context(), pid, start+1, dir); ok {
		t.Fatal("attached to a process with another start time")
	}
	att, ok := Attach(t.Context(), pid, start, dir)
	if !ok {
		t.Fatal("could not attach to a running task")
	}
	if err := os.WriteFile(ready, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ex := wait(t, att); ex.Code != 3 || ex.Killed {
		t.Fatalf("attached exit %+v, want code 3", ex)
	}
	if ex := wait(t, ctr); ex.Code != 3 {
		t.Fatalf("parent exit %+v", ex)
	}
	if ex, ok := RecordedExit(dir); !ok || ex.Code != 3 {
		t.Fatalf("recorded %+v %v", ex, ok)
	}
	if _, ok := Attach(t.Context(), pid, start, dir); ok {
		t.Fatal("attached to a task that has ended")
	}
}

// Attach follows a task only as long as its context: once that is done the
// follower returns (the agent that re-attached is stopping), the task goes
// on, and Wait says why it cannot tell how the task ended.
func TestAttachStopsFollowingWithItsContext(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sandbox")
	ctr, err := Command{}.Launch(t.Context(), LaunchSpec{ID: "t1", Sandbox: dir, Command: &messages.CommandInfo{Value: "sleep 600", Shell: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ctr.Kill(0); wait(t, ctr) }()
	pid, start := ctr.(Identified).Identity()
	ctx, cancel := context.WithCancel(t.Context())
	att, ok := Attach(ctx, pid, start, dir)
	if !ok {
		t.Fatal("could not attach to a running task")
	}
	cancel()
	select {
	case <-att.(*attached).following:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower outlived its context")
	}
	if _, err := att.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait after the context ended: %v", err)
	}
	if st, err := ProcessStartTime(pid); err != nil || st != start {
		t.Fatalf("the task did not go on: %v", err)
	}
}

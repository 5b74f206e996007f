package containerizer

import (
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
	ctr, err := Command{}.Launch(LaunchSpec{ID: "t1", Command: c, Sandbox: dir, Env: map[string]string{"EXTRA": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	return ctr, dir
}

func TestCommandRunsInSandboxWithOutputFiles(t *testing.T) {
	ctr, dir := launch(t, &messages.CommandInfo{Value: "echo out; echo err >&2; echo $GREETING $EXTRA; pwd", Shell: true, Environment: map[string]string{"GREETING": "hi"}})
	if ex := ctr.Wait(); !ex.Success() {
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
	if ex := ctr.Wait(); ex.Code != 3 || ex.Success() || ex.Describe() != "exited with code 3" {
		t.Fatalf("exit: %+v", ex)
	}
	if _, err := (Command{}).Launch(LaunchSpec{Command: &messages.CommandInfo{Value: "/no/such/binary"}, Sandbox: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing binary: %v", err)
	}
	if _, err := (Command{}).Launch(LaunchSpec{Sandbox: t.TempDir()}); err == nil {
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
	ctr, err := Command{}.Launch(LaunchSpec{ID: "t1", Sandbox: dir, Command: &messages.CommandInfo{
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
	if ex := ctr.Wait(); !ex.Killed || ex.Signal != "killed" {
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
	ctr, err := Command{}.Launch(LaunchSpec{ID: "t1", Sandbox: dir, Command: &messages.CommandInfo{
		Value: "read x < go; exit 3", Shell: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	pid, start := ctr.(Identified).Identity()
	if _, ok := Attach(pid, start+1, dir); ok {
		t.Fatal("attached to a process with another start time")
	}
	att, ok := Attach(pid, start, dir)
	if !ok {
		t.Fatal("could not attach to a running task")
	}
	if err := os.WriteFile(ready, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ex := att.Wait(); ex.Code != 3 || ex.Killed {
		t.Fatalf("attached exit %+v, want code 3", ex)
	}
	if ex := ctr.Wait(); ex.Code != 3 {
		t.Fatalf("parent exit %+v", ex)
	}
	if ex, ok := RecordedExit(dir); !ok || ex.Code != 3 {
		t.Fatalf("recorded %+v %v", ex, ok)
	}
	if _, ok := Attach(pid, start, dir); ok {
		t.Fatal("attached to a task that has ended")
	}
}

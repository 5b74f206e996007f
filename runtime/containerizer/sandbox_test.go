package containerizer

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// searchableDir is a temporary directory every user can reach (t.TempDir
// and its parent are 0700): sandboxes of tasks that run as another user
// must be under one, as the agent's work dir must.
func searchableDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, dir := range []string{d, filepath.Dir(d)} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// What a task can leave in its sandbox in place of its output, and what
// the agent reads there: only regular files, reached without following any
// link, are opened; nothing blocks. Both ways of resolving (openat2, and
// the component walk of kernels without it) refuse the same.
func TestOpenSandboxFileRefusesLinksAndSpecialFiles(t *testing.T) {
	work := t.TempDir()
	sb := func(task string) string {
		p, err := SandboxPath(work, "f1", task)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t1, t2 := sb("t1"), sb("t2")
	write := func(path, data string) {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, path string) {
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(t1, "stdout"), "mine\n")
	write(filepath.Join(t2, "stdout"), "another task's\n")
	link("/etc/shadow", filepath.Join(t1, "stderr"))
	link("../t2/stdout", filepath.Join(t1, "sibling"))
	link("stdout", filepath.Join(t1, "inner"))
	if err := syscall.Mkfifo(filepath.Join(t1, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(t1, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A task that could replace its sandbox's entry (it cannot: tasks/ is
	// the agent's) would still not lead the agent elsewhere.
	link("t1", filepath.Join(filepath.Dir(t1), "t3"))

	for _, walk := range []bool{false, true} {
		noOpenat2 = walk
		f, err := OpenSandboxFile(work, "f1", "t1", "stdout")
		if err != nil {
			t.Fatalf("walk=%v: a regular file: %v", walk, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != "mine\n" {
			t.Fatalf("walk=%v: read %q", walk, b)
		}
		for _, c := range []struct{ task, name string }{
			{"t1", "stderr"}, {"t1", "sibling"}, {"t1", "inner"}, {"t1", "fifo"}, {"t1", "dir"}, {"t3", "stdout"},
		} {
			done := make(chan error, 1)
			go func() {
				f, err := OpenSandboxFile(work, "f1", c.task, c.name)
				if err == nil {
					f.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrNotRegularFile) {
					t.Errorf("walk=%v: %s/%s: err = %v, want ErrNotRegularFile", walk, c.task, c.name, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("walk=%v: opening %s/%s blocked", walk, c.task, c.name)
			}
		}
		if _, err := OpenSandboxFile(work, "f1", "t1", "nothing"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("walk=%v: missing file: %v", walk, err)
		}
		for _, bad := range [][3]string{{"..", "t1", "stdout"}, {"f1", "t1", "../t2"}, {"f1", "t1", ".."}, {"f1", "../f1", "stdout"}} {
			if _, err := OpenSandboxFile(work, bad[0], bad[1], bad[2]); !errors.Is(err, ErrBadID) {
				t.Errorf("walk=%v: %v: err = %v, want ErrBadID", walk, bad, err)
			}
		}
	}
	noOpenat2 = false
}

// The attack, with a real task: it replaces its stderr with a link to
// /etc/shadow while it runs. The agent's reader refuses it; the output the
// task wrote before is in the file it replaced, which nobody serves.
func TestTaskLinkingItsStderrToShadowIsRefused(t *testing.T) {
	work := searchableDir(t)
	sandbox, _ := SandboxPath(work, "f1", "t1")
	ctr, err := Command{}.Launch(t.Context(), LaunchSpec{ID: "f1.t1", Sandbox: sandbox, User: "nobody",
		Command: &messages.CommandInfo{Value: "echo before >&2; ln -sf /etc/shadow stderr", Shell: true}})
	if err != nil {
		t.Fatal(err)
	}
	if ex := wait(t, ctr); !ex.Success() {
		t.Fatalf("exit %+v", ex)
	}
	if target, err := os.Readlink(filepath.Join(sandbox, "stderr")); err != nil || target != "/etc/shadow" {
		t.Fatalf("the task did not plant its link: %q %v", target, err)
	}
	if f, err := OpenSandboxFile(work, "f1", "t1", "stderr"); !errors.Is(err, ErrNotRegularFile) {
		if err == nil {
			b, _ := io.ReadAll(f)
			f.Close()
			t.Fatalf("served %d bytes through the task's link to /etc/shadow", len(b))
		}
		t.Fatalf("err = %v, want ErrNotRegularFile", err)
	}
}

// A FIFO or a link in place of the exit file records nothing and does not
// block the agent reading it (the task's user owns the sandbox).
func TestRecordedExitReadsOnlyARegularFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(ExitFile(dir), []byte("7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ex, ok := RecordedExit(dir); !ok || ex.Code != 7 {
		t.Fatalf("recorded %+v %v", ex, ok)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(ExitFile(dir))
	if err := os.Symlink(secret, ExitFile(dir)); err != nil {
		t.Fatal(err)
	}
	if ex, ok := RecordedExit(dir); ok {
		t.Fatalf("read the exit code %d through a link", ex.Code)
	}
	_ = os.Remove(ExitFile(dir))
	if err := syscall.Mkfifo(ExitFile(dir), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool, 1)
	go func() { _, ok := RecordedExit(dir); done <- ok }()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("a FIFO recorded an exit code")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading a FIFO exit file blocked")
	}
}

// A task of the same ID left links named stdout and stderr in the sandbox
// it is launched in again: the agent, root, must not write through them.
func TestLaunchDoesNotWriteThroughLeftLinks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sandbox")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stdout", "stderr", ".agora-exit"} {
		if err := os.Symlink(victim, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	ctr, err := Command{}.Launch(t.Context(), LaunchSpec{ID: "t1", Sandbox: dir, Command: &messages.CommandInfo{Value: "echo out; echo err >&2; exit 4", Shell: true}})
	if err != nil {
		t.Fatal(err)
	}
	if ex := wait(t, ctr); ex.Code != 4 {
		t.Fatalf("exit %+v", ex)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("the agent wrote through a link the task left: victim holds %q", b)
	}
	for name, want := range map[string]string{"stdout": "out\n", "stderr": "err\n", ".agora-exit": "4\n"} {
		st, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || !st.Mode().IsRegular() {
			t.Fatalf("%s is not a fresh regular file: %v %v", name, st, err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != want {
			t.Fatalf("%s holds %q, want %q", name, b, want)
		}
	}
}

package containerizer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// testUser creates a user in a group of its own plus a supplementary
// group, for the test's life (useradd needs root, as switching users does).
func testUser(t *testing.T) User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("running tasks as other users needs root (make test runs as root)")
	}
	name, group := fmt.Sprintf("agt%d", os.Getpid()), fmt.Sprintf("agg%d", os.Getpid())
	run := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("groupadd", group)
	t.Cleanup(func() { _ = exec.Command("groupdel", group).Run() })
	run("useradd", "--no-create-home", "--user-group", "--groups", group, "--shell", "/bin/sh", "--home-dir", "/nonexistent", name)
	t.Cleanup(func() { _ = exec.Command("userdel", name).Run() })
	u, err := LookupUser(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A task runs as the user it names: its uid, its primary group and its
// supplementary groups; its sandbox and output are its own to write; its
// environment is what it sets and Agora's variables, nothing of the
// agent's (which may hold credentials).
func TestTaskRunsAsItsUserWithOnlyItsEnvironment(t *testing.T) {
	u := testUser(t)
	t.Setenv("AGORA_TEST_AGENT_SECRET", "hunter2")
	dir := filepath.Join(searchableDir(t), "sandbox")
	ctr, err := Command{}.Launch(t.Context(), LaunchSpec{ID: "t1", Sandbox: dir, User: u.Name,
		Env: map[string]string{"AGORA_TASK_ID": "t1"},
		Command: &messages.CommandInfo{Value: "id -u; id -g; id -G; echo written > mine; env", Shell: true,
			Environment: map[string]string{"GREETING": "hi", "AGORA_SANDBOX": "/elsewhere", "AGORA_TASK_ID": "forged"}}})
	if err != nil {
		t.Fatal(err)
	}
	if ex := wait(t, ctr); !ex.Success() {
		errOut, _ := os.ReadFile(filepath.Join(dir, "stderr"))
		t.Fatalf("exit %+v: %s", ex, errOut)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "stdout"))
	lines := strings.Split(string(out), "\n")
	if lines[0] != strconv.Itoa(int(u.UID)) || lines[1] != strconv.Itoa(int(u.GID)) {
		t.Fatalf("ran as uid %s gid %s, want %d %d", lines[0], lines[1], u.UID, u.GID)
	}
	groups := strings.Fields(lines[2])
	for _, g := range u.Groups {
		if !contains(groups, strconv.Itoa(int(g))) {
			t.Fatalf("groups %v lack supplementary group %d", groups, g)
		}
	}
	if len(u.Groups) < 2 || contains(groups, "0") {
		t.Fatalf("groups %v (user's %v): want its own and the supplementary one, not root's", groups, u.Groups)
	}
	env := strings.Join(lines[3:], "\n")
	for _, want := range []string{"GREETING=hi", "AGORA_SANDBOX=" + dir, "AGORA_TASK_ID=t1", "USER=" + u.Name, "HOME=/nonexistent", "PATH=" + defaultPath} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("environment lacks %s:\n%s", want, env)
		}
	}
	for _, leak := range []string{"hunter2", "/elsewhere", "forged"} {
		if strings.Contains(env, leak) {
			t.Errorf("environment holds %q:\n%s", leak, env)
		}
	}
	for _, name := range []string{".", "mine", "stdout", ExitFile(dir)} {
		path := name
		if !filepath.IsAbs(name) {
			path = filepath.Join(dir, name)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if sys := st.Sys().(*syscall.Stat_t); sys.Uid != u.UID {
			t.Errorf("%s belongs to uid %d, want the task's %d", name, sys.Uid, u.UID)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// An unknown user fails the launch and says so; a sandbox the task's user
// cannot reach fails it with what to change.
func TestLaunchRefusesUnknownUserAndUnreachableSandbox(t *testing.T) {
	_, err := Command{}.Launch(t.Context(), LaunchSpec{ID: "t1", Sandbox: t.TempDir(), User: "no-such-user-agora",
		Command: &messages.CommandInfo{Value: "true", Shell: true}})
	if !errors.Is(err, ErrUnknownUser) || !strings.Contains(err.Error(), `"no-such-user-agora" does not exist on this agent`) {
		t.Fatalf("unknown user: %v", err)
	}
	hidden := filepath.Join(t.TempDir(), "sandbox") // under a 0700 directory
	_, err = Command{}.Launch(t.Context(), LaunchSpec{ID: "t1", Sandbox: hidden, User: "nobody",
		Command: &messages.CommandInfo{Value: "true", Shell: true}})
	if err == nil || !strings.Contains(err.Error(), "user nobody cannot enter its sandbox") {
		t.Fatalf("unreachable sandbox: %v", err)
	}
}

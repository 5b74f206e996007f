package containerizer

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
	"golang.org/x/sys/unix"
)

// cgroup v2, run for real on a cgroup2 hierarchy this test mounts itself.
// Where that hierarchy has the memory and cpu controllers (a v2-only host,
// or the VM of tools/cgroup2-vm.sh), everything TestCgroupLimitsAndUsage
// checks runs on it: OOM kill at memory.max, cpu.max, usage from
// memory.current and cpu.stat, groups removed.
//
// Where a controller is bound to a v1 hierarchy instead (this project's
// usual machines: /proc/cgroups puts memory and cpu in v1 hierarchies that
// Docker and the agents use, and a controller lives in one hierarchy
// only), detection must refuse v2 naming what it lacks, and the v2 code
// that needs no controller still runs here: a task's group is created
// under v2, the task runs inside it, and the group is removed when it
// ends, with what the task left running in it killed.
func TestCgroupV2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("mounting a cgroup2 hierarchy needs root (these tests run as root)")
	}
	mnt := t.TempDir()
	if err := unix.Mount("none", mnt, "cgroup2", 0, ""); err != nil {
		t.Fatalf("mount cgroup2 at %s: %v", mnt, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	// Every cgroup2 mount shows the one v2 hierarchy: the test's groups
	// go under a parent of their own.
	parent := filepath.Join(mnt, "agora-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(filepath.Join(parent, "agora")); _ = os.Remove(parent) })
	b, err := os.ReadFile(filepath.Join(mnt, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	have := strings.Fields(string(b))
	cg, err := DetectCgroups(parent)
	if contains(have, "memory") && contains(have, "cpu") {
		if err != nil {
			t.Fatalf("v2 with memory and cpu (%v): %v", have, err)
		}
		if !cg.v2 {
			t.Fatal("a cgroup2 hierarchy was taken for v1")
		}
		checkCgroupLimits(t, cg)
		checkCgroupResize(t, cg)
		return
	}
	if !errors.Is(err, ErrNoCgroups) || !strings.Contains(err.Error(), "lacks the") || !strings.Contains(err.Error(), "/proc/cgroups") {
		t.Fatalf("v2 without memory or cpu (controllers: %v): %v, want ErrNoCgroups naming them", have, err)
	}
	t.Logf("cgroup v2 here has controllers %v (memory and cpu are in v1 hierarchies): checking v2 groups without limits", have)

	cg = &Cgroups{v2: true, root: parent}
	sandbox := filepath.Join(t.TempDir(), "v2")
	// It leaves a sleeper behind in its group.
	c, err := Command{Cgroups: cg}.Launch(t.Context(), LaunchSpec{ID: "v2task", Sandbox: sandbox,
		Command: &messages.CommandInfo{Value: `cat /proc/self/cgroup; sleep 600 & exit 0`, Shell: true}})
	if err != nil {
		t.Fatal(err)
	}
	if ex := wait(t, c); !ex.Success() || ex.OOM {
		t.Fatalf("exit %+v", ex)
	}
	out, _ := os.ReadFile(filepath.Join(sandbox, "stdout"))
	rel, _ := filepath.Rel(mnt, filepath.Join(parent, "v2task"))
	if !strings.Contains(string(out), "0::/"+rel+"\n") {
		t.Fatalf("the task ran in %q, want its v2 group /%s", out, rel)
	}
	if cg.Exists("v2task") {
		t.Fatal("the task's v2 group is left behind (with its sleeper)")
	}
}

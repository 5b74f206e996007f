package containerizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// A task allocating past its 32 MB limit is killed by the kernel and its
// exit says so; within the limit it runs normally; its cgroup is gone
// afterwards; a running task's cpu time and memory are read from its group.
// On a machine without usable cgroups, detection says why.
func TestCgroupLimitsAndUsage(t *testing.T) {
	cg, err := DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		if os.Geteuid() == 0 {
			t.Fatalf("running as root, cgroups should be usable here: %v", err)
		}
		if !strings.Contains(err.Error(), "cgroups unavailable") {
			t.Fatalf("detection error does not say what is missing: %v", err)
		}
		return
	}
	checkCgroupLimits(t, cg)
}

// checkCgroupLimits is TestCgroupLimitsAndUsage's checks on cg, a v1 or
// a v2 hierarchy.
func checkCgroupLimits(t *testing.T, cg *Cgroups) {
	t.Helper()
	run := func(id, script string) Exit {
		dir := filepath.Join(t.TempDir(), id)
		c, err := Command{Cgroups: cg}.Launch(t.Context(), LaunchSpec{ID: id, Sandbox: dir, MemMB: 32, CPUs: 0.5,
			Command: &messages.CommandInfo{Value: script, Shell: true}})
		if err != nil {
			t.Fatal(err)
		}
		return wait(t, c)
	}
	// A shell variable of 100 MB.
	if ex := run("hog", `x=$(head -c 100000000 /dev/zero | tr '\0' a); echo ${#x}`); !ex.OOM {
		t.Fatalf("a 100 MB task under a 32 MB limit ended %+v, want OOM", ex)
	}
	if ex := run("small", `x=$(head -c 1000000 /dev/zero | tr '\0' a); echo ${#x}`); ex.OOM || !ex.Success() {
		t.Fatalf("a 1 MB task ended %+v", ex)
	}
	// Usage of a running task: cpu time and memory from its group.
	busy, err := Command{Cgroups: cg}.Launch(t.Context(), LaunchSpec{ID: "busy", Sandbox: filepath.Join(t.TempDir(), "busy"), MemMB: 32, CPUs: 1,
		Command: &messages.CommandInfo{Value: `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 600`, Shell: true}})
	if err != nil {
		t.Fatal(err)
	}
	var u Usage
	for i := 0; i < 500 && u.CPUSeconds < 0.05; i++ { // bounded: the loop burns cpu for a while
		u, _ = cg.Usage("busy")
		time.Sleep(10 * time.Millisecond)
	}
	busy.Kill(0)
	wait(t, busy)
	if u.CPUSeconds < 0.05 || u.MemoryBytes <= 0 || u.MemoryPeakBytes < u.MemoryBytes {
		t.Fatalf("usage of a busy task: %+v", u)
	}
	if _, err := cg.Usage("busy"); err == nil {
		t.Fatal("usage of a task whose group is gone")
	}
	for _, id := range []string{"hog", "small", "busy"} {
		for _, d := range []string{cg.root, cg.mem, cg.cpu, cg.cpuacct} {
			if d == "" {
				continue
			}
			if _, err := os.Stat(filepath.Join(d, id)); !os.IsNotExist(err) {
				t.Fatalf("cgroup %s/%s left behind: %v", d, id, err)
			}
		}
	}
}

// The tasks of a task group (LaunchSpec.CgroupParent) get their cgroups
// under one parent group: found there by ID (usage, existence), each
// removed when its task ends, and the parent by RemoveGroup once they are.
func TestCgroupParentOfATaskGroup(t *testing.T) {
	cg, err := DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		t.Skipf("no usable cgroups here (TestCgroupLimitsAndUsage says why): %v", err)
	}
	cz := Command{Cgroups: cg}
	const parent = "group.fw.pod-test"
	var running []Container
	for _, id := range []string{"fw.g1", "fw.g2"} {
		c, err := cz.Launch(t.Context(), LaunchSpec{ID: id, Sandbox: filepath.Join(t.TempDir(), id), MemMB: 32, CgroupParent: parent,
			Command: &messages.CommandInfo{Value: "exec sleep 600", Shell: true}})
		if err != nil {
			t.Fatal(err)
		}
		running = append(running, c)
		if got := cg.ParentOf(id); got != parent {
			t.Fatalf("task %s's cgroup is under %q, want the group's %q", id, got, parent)
		}
		if !cg.Exists(id) {
			t.Fatalf("task %s's cgroup not found by its ID", id)
		}
		if _, err := cg.Usage(id); err != nil {
			t.Fatalf("usage of task %s in a group: %v", id, err)
		}
	}
	if err := cz.RemoveGroup(parent); err == nil {
		t.Fatal("the group's parent cgroup was removed while its tasks ran")
	}
	for _, c := range running {
		c.Kill(0)
		wait(t, c)
	}
	if err := cz.RemoveGroup(parent); err != nil {
		t.Fatalf("removing the group's parent once its tasks ended: %v", err)
	}
	for _, d := range cg.dirsOf(parent) {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Fatalf("the group's parent cgroup %s left behind: %v", d, err)
		}
	}
}

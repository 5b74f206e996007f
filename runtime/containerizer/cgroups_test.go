package containerizer

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
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

// An executor's container grows and shrinks with its tasks: Resize writes
// the new limits into the running container's group, where the kernel
// enforces them; a container without a group is refused by name.
func TestCgroupResize(t *testing.T) {
	cg, err := DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		t.Skipf("no usable cgroups here: %v", err)
	}
	checkCgroupResize(t, cg)
}

// checkCgroupResize is TestCgroupResize's checks on cg, a v1 or a v2
// hierarchy (TestCgroupV2 runs them where v2 has the controllers).
func checkCgroupResize(t *testing.T, cg *Cgroups) {
	t.Helper()
	cz := Command{Cgroups: cg}
	c, err := cz.Launch(t.Context(), LaunchSpec{ID: "resized", Sandbox: filepath.Join(t.TempDir(), "resized"), MemMB: 32, CPUs: 0.5,
		Command: &messages.CommandInfo{Value: "sleep 600", Shell: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Kill(0); wait(t, c) }()
	limit := func() string {
		b, err := os.ReadFile(cg.LimitFile("resized"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := limit(); got != "33554432" {
		t.Fatalf("memory limit at launch %s, want 32 MiB", got)
	}
	for _, mb := range []float64{96, 48} {
		if err := cz.Resize(t.Context(), "resized", 1, mb); err != nil {
			t.Fatal(err)
		}
		if got, want := limit(), strconv.Itoa(int(mb)<<20); got != want {
			t.Fatalf("memory limit after resizing to %v MiB: %s, want %s", mb, got, want)
		}
	}
	if err := cz.Resize(t.Context(), "no-such-container", 1, 64); err == nil || !strings.Contains(err.Error(), "no-such-container") {
		t.Fatalf("resizing a container that does not exist: %v", err)
	}
	if err := (Command{}).Resize(t.Context(), "resized", 1, 64); !errors.Is(err, ErrNotIsolated) {
		t.Fatalf("resizing without cgroups: %v, want ErrNotIsolated", err)
	}
}

// A task group's parent cgroup is limited to what LaunchSpec.ParentCPUs
// and ParentMemMB say (its executor's resources plus its tasks'), written
// when its first task makes it, and resized by the parent's name as the
// group's tasks end.
func TestCgroupParentLimits(t *testing.T) {
	cg, err := DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		t.Skipf("no usable cgroups here (TestCgroupLimitsAndUsage says why): %v", err)
	}
	cz := Command{Cgroups: cg}
	const parent = "group.fw.limited"
	c, err := cz.Launch(t.Context(), LaunchSpec{ID: "fw.l1", Sandbox: filepath.Join(t.TempDir(), "l1"), MemMB: 32, CPUs: 0.25,
		CgroupParent: parent, ParentCPUs: 1, ParentMemMB: 96, Command: &messages.CommandInfo{Value: "exec sleep 600", Shell: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Kill(0)
		wait(t, c)
		if err := cz.RemoveGroup(parent); err != nil {
			t.Errorf("removing the group's parent: %v", err)
		}
	}()
	limit := func() string {
		b, err := os.ReadFile(cg.LimitFile(parent))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := limit(); got != strconv.Itoa(96<<20) {
		t.Fatalf("the group's parent memory limit %s, want 96 MiB", got)
	}
	if err := cz.Resize(t.Context(), parent, 0.5, 64); err != nil {
		t.Fatal(err)
	}
	if got := limit(); got != strconv.Itoa(64<<20) {
		t.Fatalf("the group's parent memory limit after the resize %s, want 64 MiB", got)
	}
}

package containerizer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cgroups isolates tasks in a control group each: a memory limit from the
// task's mem, CPU shares and a CFS quota from its cpus. It works with
// cgroup v2 (one unified hierarchy) or v1 (a hierarchy per controller).
type Cgroups struct {
	v2      bool
	root    string // v2: the agora group; v1: unused
	mem     string // v1: the agora group under the memory hierarchy
	cpu     string // v1: the agora group under the cpu hierarchy
	cpuacct string // v1: the agora group under cpuacct (usage; may be the cpu one)
}

// ErrNoCgroups says why tasks cannot be isolated here.
var ErrNoCgroups = errors.New("cgroups unavailable")

// DetectCgroups finds a usable hierarchy under mount (normally
// /sys/fs/cgroup) and creates Agora's group in it.
func DetectCgroups(mount string) (*Cgroups, error) {
	if b, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers")); err == nil {
		// A controller is in one hierarchy only: one that a v1 hierarchy
		// holds (/proc/cgroups) is missing from v2's.
		var missing []string
		for _, want := range []string{"memory", "cpu"} {
			if !slices.Contains(strings.Fields(string(b)), want) {
				missing = append(missing, want)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%w: the cgroup v2 hierarchy at %s lacks the %s controller(s), bound to cgroup v1 hierarchies or disabled (see /proc/cgroups); use the v1 mount, or --isolation=none", ErrNoCgroups, mount, strings.Join(missing, " and "))
		}
		c := &Cgroups{v2: true, root: filepath.Join(mount, "agora")}
		if err := os.MkdirAll(c.root, 0o755); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoCgroups, err)
		}
		// Children of agora/ get the memory and cpu controllers.
		_ = os.WriteFile(filepath.Join(mount, "cgroup.subtree_control"), []byte("+memory +cpu"), 0o644)
		if err := os.WriteFile(filepath.Join(c.root, "cgroup.subtree_control"), []byte("+memory +cpu"), 0o644); err != nil {
			return nil, fmt.Errorf("%w: enable memory and cpu controllers: %w", ErrNoCgroups, err)
		}
		return c, nil
	}
	c := &Cgroups{mem: filepath.Join(mount, "memory", "agora"), cpu: filepath.Join(mount, "cpu", "agora"), cpuacct: filepath.Join(mount, "cpuacct", "agora")}
	if _, err := os.Stat(filepath.Join(mount, "cpu", "cpuacct.usage")); err == nil {
		c.cpuacct = c.cpu // mounted together (cpu,cpuacct)
	}
	for _, dir := range []string{c.mem, c.cpu, c.cpuacct} {
		if _, err := os.Stat(filepath.Dir(dir)); err != nil {
			return nil, fmt.Errorf("%w: no cgroup v2 at %s and no v1 hierarchy at %s", ErrNoCgroups, mount, filepath.Dir(dir))
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("%w: %w (run the agent as root, or --isolation=none)", ErrNoCgroups, err)
		}
	}
	return c, nil
}

// cgroup is one task's group.
type cgroup struct {
	c    *Cgroups
	dirs []string // v2: one; v1: memory, cpu
}

// create makes the group of task id with its limits (0: none), under the
// group parent when one is named (a task group's tasks share one), the
// parent limited to parentCPUs and parentMemMB (0: none).
func (c *Cgroups) create(parent string, parentCPUs, parentMemMB float64, id string, cpus, memMB float64) (*cgroup, error) {
	name := cgroupName(id)
	if parent != "" {
		if err := c.createParent(parent, parentCPUs, parentMemMB); err != nil {
			return nil, err
		}
		name = cgroupName(parent) + "/" + name
	}
	g := &cgroup{c: c}
	g.dirs = c.dirsOf(name)
	for _, d := range g.dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", d, err)
		}
	}
	if err := g.limit(cpus, memMB); err != nil {
		_ = g.destroy(context.Background())
		return nil, err
	}
	return g, nil
}

// limit writes the group's limits (0: leave that one as it is).
func (g *cgroup) limit(cpus, memMB float64) error {
	const period = 100000
	var writes [][2]string
	mem := strconv.FormatInt(int64(memMB*1024*1024), 10)
	quota := strconv.FormatInt(int64(cpus*period), 10)
	if g.c.v2 {
		if memMB > 0 {
			writes = append(writes, [2]string{filepath.Join(g.dirs[0], "memory.max"), mem}, [2]string{filepath.Join(g.dirs[0], "memory.swap.max"), "0"})
		}
		if cpus > 0 {
			writes = append(writes, [2]string{filepath.Join(g.dirs[0], "cpu.max"), quota + " " + strconv.Itoa(period)},
				[2]string{filepath.Join(g.dirs[0], "cpu.weight"), strconv.Itoa(max(1, min(10000, int(cpus*100))))})
		}
	} else {
		if memMB > 0 {
			writes = append(writes, [2]string{filepath.Join(g.dirs[0], "memory.limit_in_bytes"), mem})
		}
		if cpus > 0 {
			writes = append(writes, [2]string{filepath.Join(g.dirs[1], "cpu.shares"), strconv.Itoa(max(2, int(cpus*1024)))},
				[2]string{filepath.Join(g.dirs[1], "cpu.cfs_period_us"), strconv.Itoa(period)},
				[2]string{filepath.Join(g.dirs[1], "cpu.cfs_quota_us"), quota})
		}
	}
	for _, w := range writes {
		if err := os.WriteFile(w[0], []byte(w[1]), 0o644); err != nil && !strings.HasSuffix(w[0], "swap.max") {
			return fmt.Errorf("set %s: %w", w[0], err)
		}
	}
	return nil
}

// Update changes the limits of container id's group while it runs: an
// executor's, as its tasks come and go (0: leave that one as it is). A
// memory limit below what the group uses now is refused by the kernel
// (v1: EBUSY); the error says so and the old limit stays.
func (c *Cgroups) Update(id string, cpus, memMB float64) error {
	g := &cgroup{c: c, dirs: c.locate(cgroupName(id))}
	for _, d := range g.dirs {
		if _, err := os.Stat(d); err != nil {
			return fmt.Errorf("update the limits of container %s: %w", id, err)
		}
	}
	if err := g.limit(cpus, memMB); err != nil {
		return fmt.Errorf("update the limits of container %s (a memory limit below its usage is refused): %w", id, err)
	}
	return nil
}

// LimitFile is the file holding container id's memory limit in bytes
// (memory.max on v2, memory.limit_in_bytes on v1), for operators and
// tests to read.
func (c *Cgroups) LimitFile(id string) string {
	dirs := c.locate(cgroupName(id))
	if c.v2 {
		return filepath.Join(dirs[0], "memory.max")
	}
	return filepath.Join(dirs[0], "memory.limit_in_bytes")
}

// createParent makes the parent group of a task group's tasks, limited to
// cpus and memMB (0: none), the group's executor resources plus its
// tasks': each task has its own limit too. It is made (and its limits
// written) by the group's first task; the later ones find it.
func (c *Cgroups) createParent(parent string, cpus, memMB float64) error {
	dirs := c.dirsOf(cgroupName(parent))
	if _, err := os.Stat(dirs[0]); err == nil {
		return nil
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create task group cgroup %s: %w", d, err)
		}
		if c.v2 {
			// Its children get the memory and cpu controllers too.
			if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+memory +cpu"), 0o644); err != nil {
				return fmt.Errorf("enable memory and cpu controllers in %s: %w", d, err)
			}
		}
	}
	if cpus > 0 || memMB > 0 {
		g := &cgroup{c: c, dirs: dirs}
		if err := g.limit(cpus, memMB); err != nil {
			return fmt.Errorf("limit task group cgroup %s: %w", parent, err)
		}
	}
	return nil
}

// RemoveParent removes a task group's parent group once its tasks' groups
// are gone (each is removed when its task ends); one still holding a task
// stays, and the error says so.
func (c *Cgroups) RemoveParent(parent string) error {
	var errs []error
	for _, d := range c.dirsOf(cgroupName(parent)) {
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ParentOf is the directories of task id's group's parent, relative to
// each hierarchy's Agora group: "" for a task alone, the parent's name for
// a task of a task group. It tells tests and operators where a task is.
func (c *Cgroups) ParentOf(id string) string {
	dirs := c.locate(cgroupName(id))
	if len(dirs) == 0 {
		return ""
	}
	rel, err := filepath.Rel(c.dirsOf("")[0], filepath.Dir(dirs[0]))
	if err != nil || rel == "." {
		return ""
	}
	return rel
}

// locate finds task id's group's directories (see nameOf).
func (c *Cgroups) locate(name string) []string { return c.dirsOf(c.nameOf(name)) }

// nameOf is where the group named name is, relative to Agora's group:
// directly under it, or under a task group's parent (one level down).
func (c *Cgroups) nameOf(name string) string {
	if _, err := os.Stat(c.dirsOf(name)[0]); err == nil {
		return name
	}
	nested, _ := filepath.Glob(filepath.Join(c.dirsOf("")[0], "*", name))
	if len(nested) == 0 {
		return name
	}
	return filepath.Base(filepath.Dir(nested[0])) + "/" + name
}

// RemoveContext removes task id's group, killing what is left in it: for
// groups whose task outlived the agent that created them. It blocks while
// the kernel reaps what it killed (about a second at most), or until ctx
// is done, and says which groups it could not remove.
func (c *Cgroups) RemoveContext(ctx context.Context, id string) error {
	g := &cgroup{c: c, dirs: c.locate(cgroupName(id))}
	return g.destroy(ctx)
}

// Remove is RemoveContext without a context or an error, for cleanup
// that has nothing to do about a failure (tests).
func (c *Cgroups) Remove(id string) { _ = c.RemoveContext(context.Background(), id) }

// Exists reports whether task id's group is there (in any hierarchy).
func (c *Cgroups) Exists(id string) bool {
	for _, d := range c.locate(cgroupName(id)) {
		if _, err := os.Stat(d); err == nil {
			return true
		}
	}
	return false
}

func cgroupName(id string) string { return strings.NewReplacer("/", "_", "..", "_").Replace(id) }

// dirsOf lists a task group's directories: v2 one; v1 memory, cpu and
// (when mounted apart) cpuacct.
func (c *Cgroups) dirsOf(name string) []string {
	if c.v2 {
		return []string{filepath.Join(c.root, name)}
	}
	dirs := []string{filepath.Join(c.mem, name), filepath.Join(c.cpu, name)}
	if c.cpuacct != c.cpu {
		dirs = append(dirs, filepath.Join(c.cpuacct, name))
	}
	return dirs
}

// Usage is what a task's group reports.
type Usage struct {
	CPUSeconds                   float64
	MemoryBytes, MemoryPeakBytes int64
}

// Usage reads task id's cpu time and memory from its group.
func (c *Cgroups) Usage(id string) (Usage, error) {
	name := c.nameOf(cgroupName(id))
	read := func(path string) (int64, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	var u Usage
	if c.v2 {
		dir := filepath.Join(c.root, name)
		mem, err := read(filepath.Join(dir, "memory.current"))
		if err != nil {
			return u, fmt.Errorf("task %s has no cgroup here: %w", id, err)
		}
		u.MemoryBytes = mem
		u.MemoryPeakBytes, _ = read(filepath.Join(dir, "memory.peak"))
		if b, err := os.ReadFile(filepath.Join(dir, "cpu.stat")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "usage_usec" {
					us, _ := strconv.ParseInt(f[1], 10, 64)
					u.CPUSeconds = float64(us) / 1e6
				}
			}
		}
		return u, nil
	}
	mem, err := read(filepath.Join(c.mem, name, "memory.usage_in_bytes"))
	if err != nil {
		return u, fmt.Errorf("task %s has no cgroup here: %w", id, err)
	}
	u.MemoryBytes = mem
	u.MemoryPeakBytes, _ = read(filepath.Join(c.mem, name, "memory.max_usage_in_bytes"))
	ns, _ := read(filepath.Join(c.cpuacct, name, "cpuacct.usage"))
	u.CPUSeconds = float64(ns) / 1e9
	return u, nil
}

// add moves a process into the group.
func (g *cgroup) add(pid int) error {
	for _, d := range g.dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("move task into cgroup %s: %w", d, err)
		}
	}
	return nil
}

// oomKilled reports whether the kernel killed a process of the group for
// reaching its memory limit.
func (g *cgroup) oomKilled() bool {
	file := filepath.Join(g.dirs[0], "memory.oom_control")
	if g.c.v2 {
		file = filepath.Join(g.dirs[0], "memory.events")
	}
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) == 2 && fs[0] == "oom_kill" && fs[1] != "0" {
			return true
		}
	}
	return false
}

// destroy removes the group once its task ended: what the task left in it
// (children still exiting, or ones it left behind) is killed first, since
// a group with processes cannot be removed. It gives the kernel a second
// to reap them, and stops early when ctx is done.
func (g *cgroup) destroy(ctx context.Context) error {
	const attempts, pause = 100, 10 * time.Millisecond
	var left []string
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("remove cgroups %v: %w", left, ctx.Err())
			case <-time.After(pause): // the kernel is reaping the killed
			}
		}
		left = left[:0]
		for _, d := range g.dirs {
			if b, err := os.ReadFile(filepath.Join(d, "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
				left = append(left, d)
			}
		}
		if len(left) == 0 {
			return nil
		}
	}
	return fmt.Errorf("remove cgroups %v: processes still inside after %v", left, attempts*pause)
}

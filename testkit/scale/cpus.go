package scale

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Pinning the masters apart from their peers.
//
// On one machine the master shares its cores with everything that talks to
// it. On this project's 2-core virtual machines the vCPUs share no cache
// domain the kernel knows of, so when a process wakes another (a socket
// write wakes the reader) the kernel queues the wakee on the waker's busy
// CPU rather than on the idle one, and the idle CPU pulls it only at the next
// load balance, up to a tick later (4 ms at HZ=250): a traced run of the
// first-offer probe showed the framework's threads queued behind the
// master's for 4-9 ms while the other CPU idled (docs/benchmarks.md,
// session 17). A master on a machine of its own does not meet that. With
// Config.MasterCPUs the masters run on those CPUs and the harness and its
// children (agent hosts, frameworks, pollers) on the others, as if on
// machines of their own; the calibrations and the bare echo, which measure
// the machine, run on all of them.

// maxCPUs is how many CPUs a unix.CPUSet can name.
const maxCPUs = len(unix.CPUSet{}) * 64

// allowedCPUs is the CPUs this process may run on: the machine's, or the
// cpuset or affinity it was started under.
func allowedCPUs() (unix.CPUSet, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return set, fmt.Errorf("scale: reading this process's CPUs: %w", err)
	}
	return set, nil
}

// cpuList parses a CPU list as taskset and /proc write it ("0", "0-1,3");
// every CPU it names must be one of allowed.
func cpuList(s string, allowed unix.CPUSet) (unix.CPUSet, error) {
	var set unix.CPUSet
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b >= maxCPUs {
			return set, fmt.Errorf("scale: CPU list %q: want a list such as \"0\" or \"0-1,3\" of the CPUs this process may use (%s)", s, formatCPUs(allowed))
		}
		for c := a; c <= b; c++ {
			if !allowed.IsSet(c) {
				return set, fmt.Errorf("scale: CPU list %q: CPU %d is not one this process may use (%s)", s, c, formatCPUs(allowed))
			}
			set.Set(c)
		}
	}
	return set, nil
}

// without is set less the CPUs of other.
func without(set, other unix.CPUSet) unix.CPUSet {
	for c := range maxCPUs {
		if other.IsSet(c) {
			set.Clear(c)
		}
	}
	return set
}

// formatCPUs writes set as a list of CPUs ("0,1").
func formatCPUs(set unix.CPUSet) string {
	var cs []string
	for c := range maxCPUs {
		if set.IsSet(c) {
			cs = append(cs, strconv.Itoa(c))
		}
	}
	return strings.Join(cs, ",")
}

// startOn starts cmd on the CPUs of set. A child inherits the affinity of
// the thread that forks it: this goroutine's, locked to its thread and
// pinned for the fork, then set back. Should setting it back fail, the
// goroutine ends locked, and the runtime ends the thread with it rather
// than hand a pinned thread to other goroutines.
func startOn(cmd *exec.Cmd, set unix.CPUSet) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var before unix.CPUSet
		if err := unix.SchedGetaffinity(0, &before); err != nil {
			errc <- fmt.Errorf("scale: reading this thread's CPUs: %w", err)
			return
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- fmt.Errorf("scale: pinning %s to CPUs %s: %w", cmd.Path, formatCPUs(set), err)
			return
		}
		errc <- cmd.Start()
		if unix.SchedSetaffinity(0, &before) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-errc
}

// pinProcess sets the affinity of every thread of this process to set
// (threads made later inherit it from their maker) and returns a function
// that sets every thread back to what the calling thread had.
func pinProcess(set unix.CPUSet) (restore func(), err error) {
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		return nil, fmt.Errorf("scale: reading this process's CPUs: %w", err)
	}
	if err := setThreads(set); err != nil {
		_ = setThreads(before)
		return nil, err
	}
	return func() { _ = setThreads(before) }, nil
}

// setThreads sets the affinity of each thread in /proc/self/task; a thread
// that has exited meanwhile is skipped.
func setThreads(set unix.CPUSet) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("scale: listing this process's threads: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("scale: pinning thread %d to CPUs %s: %w", tid, formatCPUs(set), err)
		}
	}
	return nil
}

package scale

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCPUList(t *testing.T) {
	var allowed unix.CPUSet // as a cpuset of CPUs 2, 3 and 5 would give
	for _, c := range []int{2, 3, 5} {
		allowed.Set(c)
	}
	for _, tc := range []struct{ in, want string }{
		{"2", "2"},
		{"2-3", "2,3"},
		{"5,2", "2,5"},
		{" 3 ", "3"},
	} {
		set, err := cpuList(tc.in, allowed)
		if err != nil || formatCPUs(set) != tc.want {
			t.Errorf("cpuList(%q) = %q, %v; want %q", tc.in, formatCPUs(set), err, tc.want)
		}
	}
	for _, tc := range []struct{ in, why string }{
		{"", "want a list"},
		{"x", "want a list"},
		{"-1", "want a list"},
		{"3-2", "want a list"},
		{"1024", "want a list"},
		{"0", "CPU 0 is not one this process may use (2,3,5)"},
		{"2-5", "CPU 4 is not one"},
	} {
		if _, err := cpuList(tc.in, allowed); err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("cpuList(%q): want an error saying %q, got %v", tc.in, tc.why, err)
		}
	}
	var three unix.CPUSet
	three.Set(3)
	if got := formatCPUs(without(allowed, three)); got != "2,5" {
		t.Errorf("without: %q, want 2,5", got)
	}
}

// allowed reads the CPUs a process (or thread, under /proc/self/task) may
// run on, as the kernel lists them.
func allowed(t *testing.T, status string) string {
	t.Helper()
	b, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("%s has no Cpus_allowed_list", status)
	return ""
}

// The masters' CPUs are the child's from its first instruction (it
// inherits them from the forking thread), and the harness's own threads go
// to the other CPUs and back.
func TestStartOnAndPinProcess(t *testing.T) {
	mine, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	last := -1 // the highest CPU this process may use
	for c := range maxCPUs {
		if mine.IsSet(c) {
			last = c
		}
	}
	var one unix.CPUSet
	one.Set(last)

	cmd := exec.Command("cat") // waits on its stdin until closed
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := startOn(cmd, one); err != nil {
		t.Fatal(err)
	}
	got := allowed(t, "/proc/"+strconv.Itoa(cmd.Process.Pid)+"/status")
	_ = stdin.Close()
	_ = cmd.Wait()
	if got != strconv.Itoa(last) {
		t.Errorf("child started on CPU %d runs on %q", last, got)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if got := allowed(t, "/proc/self/task/"+task.Name()+"/status"); got == strconv.Itoa(last) && mine.Count() > 1 {
			t.Errorf("startOn left thread %s of this process on CPU %d", task.Name(), last)
		}
	}

	runtime.LockOSThread() // pinProcess restores what this thread has
	defer runtime.UnlockOSThread()
	var was unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		t.Fatal(err)
	}
	restore, err := pinProcess(one)
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ = os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if got := allowed(t, "/proc/self/task/"+task.Name()+"/status"); got != strconv.Itoa(last) {
			t.Errorf("thread %s after pinProcess: %q, want %d", task.Name(), got, last)
		}
	}
	restore()
	tasks, _ = os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		var got unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &got); err == nil && got != was {
			t.Errorf("thread %d after restore: CPUs %s, want %s as before", tid, formatCPUs(got), formatCPUs(was))
		}
	}
}

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
	last := runtime.NumCPU() - 1
	ends := "0," + strconv.Itoa(last) // the first and last CPUs
	if last == 0 {
		ends = "0"
	}
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"0", "0"},
		{"0-" + strconv.Itoa(last), formatCPUs(allCPUs())},
		{strconv.Itoa(last) + ",0", ends},
	} {
		set, err := cpuList(tc.in)
		if err != nil || formatCPUs(set) != tc.want {
			t.Errorf("cpuList(%q) = %q, %v; want %q", tc.in, formatCPUs(set), err, tc.want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1-0", strconv.Itoa(last + 1), "0-" + strconv.Itoa(last+1)} {
		if _, err := cpuList(bad); err == nil || !strings.Contains(err.Error(), "want CPUs") {
			t.Errorf("cpuList(%q): want an error that names the CPUs to use, got %v", bad, err)
		}
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
	last := runtime.NumCPU() - 1
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
		if got := allowed(t, "/proc/self/task/"+task.Name()+"/status"); got == strconv.Itoa(last) && last > 0 {
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

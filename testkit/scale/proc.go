package scale

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// usage is what /proc says of a process at one moment.
type usage struct {
	cpu          time.Duration // user + system
	rss          uint64        // bytes
	rchar, wchar uint64        // bytes through read and write syscalls (sockets included)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

func sample(pid int) (usage, error) {
	var u usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, fmt.Errorf("scale: master's CPU time: %w", err)
	}
	// Fields after the command name (in parentheses, which may hold
	// spaces): state is field 3, utime 14, stime 15.
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return u, fmt.Errorf("scale: /proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	u.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	if err := scanKV(fmt.Sprintf("/proc/%d/status", pid), func(k, v string) {
		if k == "VmRSS" {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(v, " kB"), 10, 64)
			u.rss = kb << 10
		}
	}); err != nil {
		return u, err
	}
	err = scanKV(fmt.Sprintf("/proc/%d/io", pid), func(k, v string) {
		n, _ := strconv.ParseUint(v, 10, 64)
		switch k {
		case "rchar":
			u.rchar = n
		case "wchar":
			u.wchar = n
		}
	})
	return u, err
}

func scanKV(path string, f func(k, v string)) error {
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	defer file.Close()
	in := bufio.NewScanner(file)
	for in.Scan() {
		if k, v, ok := strings.Cut(in.Text(), ":"); ok {
			f(k, strings.TrimSpace(v))
		}
	}
	return in.Err()
}

// hostTicks is the machine's CPU time so far, from /proc/stat's first
// line (USER_HZ ticks over every CPU): all of it, and the part the
// hypervisor gave to another guest while this one had work (steal). On a
// virtual machine whose host is busy, every figure of a run reads slower
// with no change in Agora: the report says how much was stolen in each
// phase so that runs are compared knowingly.
type hostTicks struct{ total, steal uint64 }

func readHostTicks() (hostTicks, error) {
	var t hostTicks
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return t, fmt.Errorf("scale: the machine's CPU time: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return t, fmt.Errorf("scale: /proc/stat: unexpected first line %q", line)
	}
	// user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already counted in user, so the first eight are the
	// whole.
	for i, s := range f[1:9] {
		n, _ := strconv.ParseUint(s, 10, 64)
		t.total += n
		if i == 7 {
			t.steal = n
		}
	}
	return t, nil
}

// stealShare is the share of the machine's CPU time stolen between a and
// b (0 when no time passed or /proc/stat could not be read).
func stealShare(a, b hostTicks) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.steal-a.steal) / float64(b.total-a.total)
}

// calibrationRounds is the size of the machine's speed check.
const calibrationRounds = 200_000

// calibrate times calibrationRounds protobuf round trips (marshal and
// unmarshal) of the echo's status update on one goroutine: the kind of
// work every process of the run does most. Runs on one VM an hour apart
// read up to twice as slow with no steal in /proc/stat (a busy host's
// shared caches and memory): this says how fast the machine was at the
// start of each run.
func calibrate() time.Duration {
	// From a collected heap: before the echo the harness holds what its
	// pollers read, and the collector's work would count as the machine's.
	runtime.GC()
	msg := echoMessage(1)
	var out messages.StatusUpdate
	start := time.Now()
	for range calibrationRounds {
		b, err := proto.Marshal(msg)
		if err == nil {
			err = proto.Unmarshal(b, &out)
		}
		if err != nil {
			panic(err) // a fixed message always round-trips
		}
	}
	return time.Since(start)
}

package scale

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
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

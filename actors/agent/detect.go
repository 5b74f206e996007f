package agent

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/agora-sched/agora/messages"
	"golang.org/x/sys/unix"
)

// DefaultPorts is the port range an agent offers when none is given.
var DefaultPorts = &messages.Range{Begin: 31000, End: 32000}

// DetectResources measures the machine: cpus, memory (total less what the
// OS and agent keep: 1 GiB, or half on machines under 2 GiB, as in Mesos),
// disk of workDir (likewise less 5 GiB or half) and ports 31000-32000.
// Resources named in override replace the detected ones of the same name.
func DetectResources(workDir string, override []*messages.Resource) ([]*messages.Resource, error) {
	memMiB, err := memTotalMiB()
	if err != nil {
		return nil, err
	}
	diskMiB := 0.0
	dir := workDir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil {
			diskMiB = float64(st.Bavail) * float64(st.Bsize) / (1 << 20)
		}
	}
	detected := []*messages.Resource{
		{Name: messages.CPUs, Scalar: float64(runtime.NumCPU())},
		{Name: messages.Mem, Scalar: withoutReserve(memMiB, 1024)},
		{Name: messages.Disk, Scalar: withoutReserve(diskMiB, 5*1024)},
		{Name: messages.Ports, Ranges: []*messages.Range{DefaultPorts}},
	}
	given := map[string]bool{}
	for _, r := range override {
		given[r.Name] = true
	}
	out := append([]*messages.Resource(nil), override...)
	for _, r := range detected {
		if !given[r.Name] {
			out = append(out, r)
		}
	}
	return out, nil
}

func withoutReserve(total, reserve float64) float64 {
	if total < 2*reserve {
		return float64(int64(total / 2))
	}
	return float64(int64(total - reserve))
}

func memTotalMiB() (float64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("detect memory: %w (give it with --resources mem:N)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				break
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("detect memory: no MemTotal in /proc/meminfo (give it with --resources mem:N)")
}

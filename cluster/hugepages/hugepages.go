// Package hugepages asks Linux to back a node's Go heap with transparent
// huge pages where the host leaves them to each process (THP "madvise", the
// default of most distributions).
//
// Why: Go's runtime stopped advising its heap for huge pages in Go 1.21.1,
// so under "madvise" every 4 KiB of new heap costs the node a page fault.
// A master that grows its heap quickly (taking 50,000 tasks in a few
// seconds, or rebuilding its books after a failover) spent a fifth of its
// CPU faulting pages in on a virtual machine, where a fault is dear: in the
// scale harness at 10,000 agents, 100,000-150,000 faults a run, 58-62 us of
// master CPU per task against 33-45 us with huge pages (docs/benchmarks.md,
// session 15). Go's GC guide recommends huge pages for the heap too.
//
// The runtime gives no hook where it maps a new arena, so Advisor watches
// the memory the runtime has mapped (runtime/metrics) and, when it grew,
// advises every private anonymous read-write mapping of 2 MiB or more; a
// region advised before its pages are touched is faulted in 2 MiB at a
// time. Advising a mapping twice is harmless, and the runtime's scavenger
// still returns what the heap no longer needs (the kernel splits a huge
// page to free part of it).
package hugepages

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Host THP modes, as /sys/kernel/mm/transparent_hugepage/enabled names
// them.
const (
	Always  = "always"
	Madvise = "madvise"
	Never   = "never"
)

// hugePage is the x86-64 and arm64 (4 KiB base pages) PMD size: smaller
// mappings cannot hold a huge page.
const hugePage = 2 << 20

// HostMode reads the host's THP mode: Always, Madvise or Never.
func HostMode() (string, error) {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return "", fmt.Errorf("reading the host's transparent huge page mode: %w", err)
	}
	return parseMode(string(b))
}

// parseMode picks the bracketed mode from "always [madvise] never".
func parseMode(s string) (string, error) {
	for _, f := range strings.Fields(s) {
		if len(f) > 2 && f[0] == '[' && f[len(f)-1] == ']' {
			return f[1 : len(f)-1], nil
		}
	}
	return "", fmt.Errorf("transparent huge page mode %q names no current mode in brackets", strings.TrimSpace(s))
}

// Region is an address range of the process.
type Region struct{ Start, End uintptr }

// anonymousRegions lists the private anonymous read-write mappings of at
// least 2 MiB in a /proc/<pid>/maps text: where the Go heap lives.
func anonymousRegions(maps []byte) []Region {
	var out []Region
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// 7f2c3c000000-7f2c40000000 rw-p 00000000 00:00 0 [pathname]
		f := strings.Fields(sc.Text())
		if len(f) != 5 || f[1] != "rw-p" || f[4] != "0" {
			continue // a file, a named region such as [stack], or not writable
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end-start < hugePage {
			continue
		}
		out = append(out, Region{uintptr(start), uintptr(end)})
	}
	return out
}

// Advisor advises the process's heap for huge pages as the runtime maps
// more of it. Not safe for concurrent use: one goroutine runs it.
type Advisor struct {
	mapped []metrics.Sample
	last   uint64
}

// NewAdvisor is an Advisor that has advised nothing yet.
func NewAdvisor() *Advisor {
	return &Advisor{mapped: []metrics.Sample{{Name: "/memory/classes/total:bytes"}}}
}

// Check advises the process's anonymous mappings if the runtime mapped
// more memory since the last check, and reports the bytes it advised (0
// when nothing grew).
func (a *Advisor) Check() (uintptr, error) {
	metrics.Read(a.mapped)
	total := a.mapped[0].Value.Uint64()
	if total <= a.last {
		return 0, nil
	}
	a.last = total
	return Advise()
}

// Advise advises every private anonymous read-write mapping of 2 MiB or
// more for huge pages now, and reports the bytes advised.
func Advise() (uintptr, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("reading the process's mappings: %w", err)
	}
	var advised uintptr
	for _, r := range anonymousRegions(maps) {
		// A mapping can be gone since the read (the runtime unmaps little,
		// but a thread's stack may go): skip what the kernel refuses.
		// The raw call: the range is only named to the kernel, never
		// read or written as a Go slice.
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, r.Start, r.End-r.Start, unix.MADV_HUGEPAGE); e == 0 {
			advised += r.End - r.Start
		}
	}
	return advised, nil
}

// Start advises the heap as it grows, checking every interval until ctx
// ends, where the host's mode is Madvise and the operator has not turned
// huge pages off for the heap (GODEBUG=disablethp=1). It reports the host's
// mode and whether it started.
func Start(ctx context.Context, reserve int, every time.Duration) (mode string, started bool, err error) {
	mode, err = HostMode()
	if err != nil || mode != Madvise || strings.Contains(os.Getenv("GODEBUG"), "disablethp=1") {
		return mode, false, err
	}
	// Map the first part of the heap ahead and advise it before anything
	// touches it: the runtime maps fresh memory for a large allocation
	// without writing it, and reuses the range once it is freed, lowest
	// addresses first, without mapping it again (a new mapping would lose
	// the advice). What the heap maps later is advised when the poll sees
	// it, too late for the pages touched meanwhile.
	ahead := make([]byte, reserve)
	a := NewAdvisor()
	if _, err := a.Check(); err != nil {
		return mode, false, err
	}
	runtime.KeepAlive(ahead)
	ahead = nil
	runtime.GC()
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_, _ = a.Check() // the maps file was readable at the start
			}
		}
	}()
	return mode, true, nil
}

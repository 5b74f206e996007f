// Package hugepages asks Linux to back a node's Go heap with transparent
// huge pages where the host leaves them to each process (THP "madvise", the
// default of most distributions).
//
// Why: Go's runtime stopped advising its heap for huge pages in Go 1.21.1,
// so under "madvise" every 4 KiB of new heap costs the node a page fault.
// A master that grows its heap quickly (taking 50,000 tasks in a few
// seconds, or rebuilding its books after a failover) spent a fifth of its
// CPU faulting pages in on a virtual machine, where a fault is dear
// (docs/benchmarks.md, session 15).
//
// The runtime gives no hook where it maps a new arena, and advising a
// mapping after the runtime has touched it is too late (measured: a poll
// of the runtime's mapped memory every 10 ms changed nothing). So Start
// maps the first part of the heap ahead and advises it before anything
// touches it; what the heap grows beyond that is left to the host.
package hugepages

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

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

// region is an address range of the process.
type region struct{ start, end uintptr }

// anonymousRegions lists the private anonymous read-write mappings of at
// least 2 MiB in a /proc/<pid>/maps text: where the Go heap lives.
func anonymousRegions(maps []byte) []region {
	var out []region
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
		out = append(out, region{uintptr(start), uintptr(end)})
	}
	return out
}

// advise advises every private anonymous read-write mapping of 2 MiB or
// more for huge pages.
func advise() error {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("reading the process's mappings: %w", err)
	}
	for _, r := range anonymousRegions(maps) {
		// The raw call: the range is only named to the kernel, never read
		// or written as a Go slice. A mapping gone since the read is
		// refused by the kernel and skipped.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, unix.MADV_HUGEPAGE)
	}
	return nil
}

// Reserve is how much of a node's heap Start advises ahead: a master of
// 10,000 agents and 50,000 tasks peaks below it.
const Reserve = 1 << 30

// Start advises the first reserve bytes of the heap for huge pages, where
// the host's mode is Madvise and the operator has not turned huge pages
// off for the heap (GODEBUG=disablethp=1). It reports the host's mode and
// whether it advised.
func Start(reserve int) (mode string, started bool, err error) {
	mode, err = HostMode()
	if err != nil || mode != Madvise || strings.Contains(os.Getenv("GODEBUG"), "disablethp=1") {
		return mode, false, err
	}
	// The runtime maps fresh memory for a large allocation without
	// writing it (so this costs address space, not memory), and reuses
	// the range once it is freed, lowest addresses first, without mapping
	// it again: a new mapping would lose the advice.
	ahead := make([]byte, reserve)
	if err := advise(); err != nil {
		return mode, false, err
	}
	runtime.KeepAlive(ahead)
	ahead = nil
	runtime.GC()
	return mode, true, nil
}

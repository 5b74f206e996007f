package hugepages

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestParseMode(t *testing.T) {
	for in, want := range map[string]string{
		"always [madvise] never\n": Madvise,
		"[always] madvise never":   Always,
		"always madvise [never]":   Never,
	} {
		if got, err := parseMode(in); err != nil || got != want {
			t.Errorf("parseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseMode("always madvise never"); err == nil {
		t.Error("a mode line without brackets was accepted")
	}
}

func TestAnonymousRegionsAreTheLargePrivateWritableOnes(t *testing.T) {
	maps := `00400000-00c00000 r-xp 00000000 fd:01 123 /usr/bin/agora
c000000000-c004000000 rw-p 00000000 00:00 0 
c004000000-c008000000 ---p 00000000 00:00 0 
7f0000000000-7f0000100000 rw-p 00000000 00:00 0 
7f0000200000-7f0000600000 rw-s 00000000 00:01 7 /dev/zero (deleted)
7ffc00000000-7ffc00400000 rw-p 00000000 00:00 0                          [stack]
7f1000000000-7f1000400000 rw-p 00000000 00:00 0
`
	got := anonymousRegions([]byte(maps))
	want := []region{{0xc000000000, 0xc004000000}, {0x7f1000000000, 0x7f1000400000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("regions %x, want %x (the heap's arena and the 4 MiB anonymous mapping only)", got, want)
	}
}

// hugeBytes reads the process's AnonHugePages: its anonymous memory held
// in huge pages.
func hugeBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "AnonHugePages:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("smaps_rollup has no AnonHugePages line")
	return 0
}

// firstGrowth is what the process's first Start and heap growth did,
// measured once per process: a later run of the test (-count) would find
// the heap already grown and touched, or the scavenger returning what the
// first one freed.
var firstGrowth struct {
	once         sync.Once
	host, mode   string
	hostErr, err error
	started      bool
	grew         int64
}

// The mechanism under test is the reserve: the heap a node grows into after
// Start is advised before anything touches it. Without the reserve (0), the
// 64 MiB below is a fresh mapping that nothing advises, and this fails on
// a host in madvise mode.
func TestStartAdvisesTheHeapAhead(t *testing.T) {
	g := &firstGrowth
	g.once.Do(func() {
		g.host, g.hostErr = HostMode()
		g.mode, g.started, g.err = Start(256 << 20)
		before := hugeBytes(t)
		b := make([]byte, 64<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		g.grew = hugeBytes(t) - before
	})
	if g.err != nil || g.hostErr != nil {
		t.Fatalf("Start: %v (host: %v)", g.err, g.hostErr)
	}
	if g.mode != g.host {
		t.Fatalf("Start read mode %q, the host says %q", g.mode, g.host)
	}
	if g.started != (g.host == Madvise) {
		t.Fatalf("host mode %q: started = %v; Start must advise under madvise only", g.host, g.started)
	}
	switch g.host {
	case Madvise, Always:
		// The kernel may fail to find a free 2 MiB page now and then
		// (fragmentation); half of them is the bar.
		if g.grew < 32<<20 {
			t.Errorf("host mode %s: touching 64 MiB of heap after Start made %d MiB of huge pages; want at least 32", g.host, g.grew>>20)
		}
	case Never:
		if g.grew != 0 {
			t.Errorf("host mode never, yet %d MiB of huge pages", g.grew>>20)
		}
	}
}

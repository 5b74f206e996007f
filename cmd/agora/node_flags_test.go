package main

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// GET_FLAGS names every flag of `agora node` as its command line does:
// the names are checked against kong's own.
func TestNodeFlagsAreKongsNames(t *testing.T) {
	var c cli
	parser, err := kong.New(&c, kong.Name("agora"), kong.DefaultEnvars("AGORA"), vars(), kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse([]string{"node", "--insecure", "--max-agents", "7"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range parser.Model.Children {
		if n.Name != "node" {
			continue
		}
		for _, f := range n.Flags {
			want[f.Name] = true
		}
	}
	got := c.Node.flags()
	for name := range got {
		if !want[name] {
			t.Errorf("GET_FLAGS names %q, which is no flag of agora node", name)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("flag --%s is missing from GET_FLAGS", name)
		}
	}
	if got["max-agents"] != "7" || got["insecure"] != "true" || got["executor-registration-timeout"] != "1m0s" {
		t.Errorf("values: max-agents %q, insecure %q, executor-registration-timeout %q; want 7, true, 1m0s", got["max-agents"], got["insecure"], got["executor-registration-timeout"])
	}
}

// --standby-warm-heap takes a size up to the machine's memory, and says
// what it wants otherwise.
func TestStandbyWarmHeapFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  string
	}{
		{in: "", want: 0},
		{in: "0", want: 0},
		{in: "800MB", want: 800 << 20},
		{in: "lots", err: `--standby-warm-heap "lots": want a size such as 800MB, or 0 for none`},
		{in: "64PB", err: "--standby-warm-heap 64PB is more than this machine's"},
	} {
		got, err := warmHeap(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, %v; want the error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %v, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	// Under a Go memory limit, the warm heap must leave the standby room.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 30))
	if _, err := warmHeap("800MB"); err == nil || !strings.Contains(err.Error(), "half or more of the Go memory limit (GOMEMLIMIT) of 1GiB") {
		t.Errorf("800MB under a 1 GiB limit: %v", err)
	}
	if got, err := warmHeap("256MB"); err != nil || got != 256<<20 {
		t.Errorf("256MB under a 1 GiB limit: %v, %v", got, err)
	}
}

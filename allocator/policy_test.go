package allocator

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// The registry builds both policies behind the same interface; random is
// reproducible with a seed and spreads agents over frameworks regardless
// of their shares.
func TestPoliciesThroughRegistry(t *testing.T) {
	if got := Names(); !reflect.DeepEqual(got, []string{"drf", "random"}) {
		t.Fatalf("policies = %v", got)
	}
	run := func(policy string, seed int64) map[string]int {
		a, err := New(policy, Options{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			if err := a.AddAgent(Agent{ID: fmt.Sprintf("a%03d", i), Total: MustParse("cpus:1;mem:1024")}); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []string{"f1", "f2", "f3", "f4"} {
			if err := a.AddFramework(Framework{ID: f, Roles: []string{"r-" + f}}); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]int{}
		for _, g := range a.Allocate(time.Unix(0, 0)) {
			got[g.FrameworkID+"@"+g.AgentID] = 1
			got[g.FrameworkID]++
		}
		if err := checkInvariants(a.(*Hierarchical)); err != nil {
			t.Fatal(err)
		}
		return got
	}
	drf := run("drf", 1)
	for _, f := range []string{"f1", "f2", "f3", "f4"} {
		if drf[f] != 25 {
			t.Fatalf("drf splits 100 agents evenly: %v", drf)
		}
	}
	r1, r1again, r2 := run("random", 1), run("random", 1), run("random", 2)
	if !reflect.DeepEqual(r1, r1again) {
		t.Fatal("random policy is not reproducible with the same seed")
	}
	if reflect.DeepEqual(r1, r2) {
		t.Fatal("random policy ignores its seed")
	}
	even := true
	for _, f := range []string{"f1", "f2", "f3", "f4"} {
		if r1[f] == 0 {
			t.Fatalf("random should give every framework something: %v", r1)
		}
		even = even && r1[f] == 25
	}
	if even {
		t.Fatalf("random reproduced DRF's exact split: %v", r1)
	}
}

package allocator

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestWholeAgentGoesToOneFramework(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("a1", "cpus:4;mem:4096;ports:[31000-31010]", nil)
	e.framework(Framework{ID: "f1", Roles: []string{"r"}})
	e.framework(Framework{ID: "f2", Roles: []string{"r"}})
	gs := e.cycle(time.Second)
	if len(gs) != 1 {
		t.Fatalf("grants = %v, want one (one framework per agent per cycle)", gs)
	}
	if g := gs[0]; g.FrameworkID != "f1" || g.Resources.String() != "cpus:4;mem:4096;ports:[31000-31010]" {
		t.Fatalf("grant = %+v; want all of a1 to f1 (tie broken by name)", g)
	}
	if gs := e.cycle(time.Second); len(gs) != 0 {
		t.Fatalf("allocated resources were granted again: %v", gs)
	}
	e.recover(gs[0])
	if gs := e.cycle(time.Second); len(gs) != 1 || gs[0].FrameworkID != "f2" {
		t.Fatalf("recovered agent should go to f2 (fewer allocations): %v", gs)
	}
}

// The DRF paper's example (Ghodsi et al., NSDI'11, section 4): 9 CPUs and
// 18 GB; A's tasks need <1 CPU, 4 GB>, B's <3 CPUs, 1 GB>. Frameworks take
// one task per offer and return the rest; DRF gives A 3 tasks and B 2, both
// with dominant share 2/3.
func TestDRFPaperExample(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("a1", "cpus:9;mem:18432", nil)
	e.framework(Framework{ID: "A", Roles: []string{"a"}})
	e.framework(Framework{ID: "B", Roles: []string{"b"}})
	tasks := map[string]Scalars{"A": MustParse("cpus:1;mem:4096").Scalars, "B": MustParse("cpus:3;mem:1024").Scalars}
	counts := runProgressiveFilling(e, tasks, 50)
	if counts["A"] != 3 || counts["B"] != 2 {
		t.Fatalf("tasks = %v, want A:3 B:2", counts)
	}
	for _, id := range []string{"A", "B"} {
		c := e.h.frameworks[id].clients[map[string]string{"A": "a", "B": "b"}[id]]
		if share := c.leaf.share; share < 0.666 || share > 0.667 {
			t.Errorf("%s dominant share = %v, want 2/3", id, share)
		}
	}
}

// runProgressiveFilling drives frameworks that launch one task of their
// shape per offer and return the rest unfiltered, until a cycle grants
// nothing that fits. It returns tasks launched per framework.
func runProgressiveFilling(e *env, tasks map[string]Scalars, maxCycles int) map[string]int {
	counts := map[string]int{}
	for i := 0; i < maxCycles; i++ {
		progress := false
		for _, g := range e.cycle(time.Second) {
			task := tasks[g.FrameworkID]
			if !g.Resources.Scalars.Contains(task) {
				e.recover(g) // nothing fits; the framework keeps waiting
				continue
			}
			counts[g.FrameworkID]++
			progress = true
			e.recover(Grant{FrameworkID: g.FrameworkID, Role: g.Role, AgentID: g.AgentID,
				Resources: Resources{Scalars: g.Resources.Scalars.Sub(task), Ports: g.Resources.Ports}})
		}
		if !progress {
			break
		}
	}
	return counts
}

// Weighted DRF: a role of weight 2 gets twice the agents of a role of
// weight 1 when both take everything.
func TestWeightsSplitAgents(t *testing.T) {
	e := newEnv(t, Options{})
	for i := 0; i < 30; i++ {
		e.agent(fmt.Sprintf("a%02d", i), "cpus:4;mem:4096", nil)
	}
	if err := e.h.SetWeight("heavy", 2); err != nil {
		t.Fatal(err)
	}
	e.framework(Framework{ID: "light", Roles: []string{"light"}})
	e.framework(Framework{ID: "heavy", Roles: []string{"heavy"}})
	got := byFramework(e.cycle(time.Second))
	if got["light"] != 10 || got["heavy"] != 20 {
		t.Fatalf("agents per framework = %v, want light:10 heavy:20", got)
	}
}

// Hierarchical DRF: siblings share their parent's part. eng and ops split
// the cluster; eng/ml and eng/web split eng's half.
func TestHierarchicalRoles(t *testing.T) {
	e := newEnv(t, Options{})
	for i := 0; i < 40; i++ {
		e.agent(fmt.Sprintf("a%02d", i), "cpus:1;mem:1024", nil)
	}
	e.framework(Framework{ID: "ml", Roles: []string{"eng/ml"}})
	e.framework(Framework{ID: "web", Roles: []string{"eng/web"}})
	e.framework(Framework{ID: "ops", Roles: []string{"ops"}})
	got := byFramework(e.cycle(time.Second))
	if got["ops"] != 20 || got["ml"] != 10 || got["web"] != 10 {
		t.Fatalf("agents = %v, want ops:20 ml:10 web:10", got)
	}
}

func TestDeclineFilters(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("a1", "cpus:4;mem:4096", nil)
	e.framework(Framework{ID: "f1", Roles: []string{"r"}})
	gs := e.cycle(time.Second)
	e.decline(gs[0], 10*time.Second)
	for i := 0; i < 9; i++ {
		if gs := e.cycle(time.Second); len(gs) != 0 {
			t.Fatalf("after %d s: declined agent offered again within refuse time: %v", i+1, gs)
		}
	}
	// Refuse time over and no one else to rotate to: offered again.
	gs = e.cycle(2 * time.Second)
	if len(gs) != 1 {
		t.Fatalf("filter should have expired: %v", gs)
	}
	// A negative refuse means the default, 5 s.
	e.decline(gs[0], -1)
	for i := 0; i < 4; i++ {
		if gs := e.cycle(time.Second); len(gs) != 0 {
			t.Fatalf("default filter (5 s) broken after %d s: %v", i+1, gs)
		}
	}
	if gs := e.cycle(2 * time.Second); len(gs) != 1 {
		t.Fatalf("default filter should expire after 5 s: %v", gs)
	}
}

// A filter shorter than the batch interval still applies to the next batch
// (Mesos), so a framework that declines with refuse 0 is not re-offered the
// same agent straight away.
func TestShortFilterAppliesToNextBatch(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("a1", "cpus:4;mem:4096", nil)
	e.framework(Framework{ID: "f1", Roles: []string{"r"}})
	e.decline(e.cycle(time.Second)[0], 0)
	if gs := e.cycle(time.Second); len(gs) != 0 {
		t.Fatalf("refuse 0 must still cover the next batch: %v", gs)
	}
	if gs := e.cycle(time.Second); len(gs) != 1 {
		t.Fatalf("the batch after that re-offers: %v", gs)
	}
}

// The filter of what an accept left unused holds only while the agent has
// nothing more to offer (Mesos' RefusedOfferFilter): once a task of the
// framework ends there, the framework may be offered the agent at once. A
// decline's filter holds the whole agent. Unused parts once filtered the
// whole agent too, to the next batch, which kept each framework that had
// just launched off its agent: on one shared agent, what freed up meanwhile
// went past the role of lowest share, or stayed idle (a fifth of the agent
// in TestMesosAndNativeFrameworksShareByDRF).
func TestUnusedFilterHoldsOnlyWhatWasLeft(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("a1", "cpus:4;mem:4096", nil)
	e.framework(Framework{ID: "f1", Roles: []string{"r"}})
	g := e.cycle(time.Second)[0]
	task := MustParse("cpus:1;mem:1024")
	if err := e.h.ReturnUnused(g.FrameworkID, g.Role, g.AgentID, g.Resources.Sub(task), Resources{}, 0, e.now); err != nil {
		t.Fatal(err)
	}
	if gs := e.h.AllocateAgent("a1", e.now); len(gs) != 0 {
		t.Fatalf("the part left unused offered back at once: %v", gs)
	}
	// The task ends: the agent has more free than was left.
	if err := e.h.Recover("f1", "r", "a1", task, Resources{}); err != nil {
		t.Fatal(err)
	}
	gs := e.h.AllocateAgent("a1", e.now)
	if len(gs) != 1 || gs[0].FrameworkID != "f1" || gs[0].Resources.String() != "cpus:4;mem:4096" {
		t.Fatalf("after a task ended: offered %v, want the whole agent to f1", gs)
	}
	e.check()
	// A decline's filter holds the agent whatever is freed.
	e.h.Decline("f1", "r", "a1", gs[0].Resources.Sub(task), Resources{}, time.Minute, e.now)
	if err := e.h.Recover("f1", "r", "a1", task, Resources{}); err != nil {
		t.Fatal(err)
	}
	if gs := e.h.AllocateAgent("a1", e.now); len(gs) != 0 {
		t.Fatalf("a declined agent offered again within its refuse time: %v", gs)
	}
	e.check()
}

func TestReviveClearsFiltersAndSuppressStopsOffers(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("a1", "cpus:4;mem:4096", nil)
	e.framework(Framework{ID: "f1", Roles: []string{"r1", "r2"}})
	gs := e.cycle(time.Second)
	e.decline(gs[0], time.Hour)
	role := gs[0].Role
	other := map[string]string{"r1": "r2", "r2": "r1"}[role]
	gs = e.cycle(time.Second)
	if len(gs) != 1 || gs[0].Role != other {
		t.Fatalf("the filter is per role: want an offer for %s, got %v", other, gs)
	}
	e.decline(gs[0], time.Hour)
	if err := e.h.Suppress("f1"); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Revive("f1", role); err != nil {
		t.Fatal(err)
	}
	gs = e.cycle(time.Second)
	if len(gs) != 1 || gs[0].Role != role {
		t.Fatalf("revive(%s) clears its filter and unsuppresses it only: %v", role, gs)
	}
	e.recover(gs[0])
	if err := e.h.Suppress("f1", role); err != nil {
		t.Fatal(err)
	}
	if gs := e.cycle(time.Second); len(gs) != 0 {
		t.Fatalf("suppressed role offered: %v", gs)
	}
	if err := e.h.Suppress("nobody"); !errors.Is(err, ErrUnknownFramework) {
		t.Fatalf("suppress unknown: %v", err)
	}
	if err := e.h.Revive("f1", "r9"); !errors.Is(err, ErrUnknownRole) {
		t.Fatalf("revive unknown role: %v", err)
	}
}

func TestMinAllocatable(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("tiny", "cpus:0.005;mem:16", nil)
	e.agent("memonly", "cpus:0;mem:64", nil)
	e.framework(Framework{ID: "f1", Roles: []string{"r"}})
	gs := e.cycle(time.Second)
	if len(gs) != 1 || gs[0].AgentID != "memonly" {
		t.Fatalf("default cpus:0.01|mem:32: want only memonly, got %v", gs)
	}
	e.framework(Framework{ID: "greedy", Roles: []string{"r"}, MinAllocatable: []Scalars{{}}})
	gs = e.cycle(time.Second)
	if len(gs) != 1 || gs[0].AgentID != "tiny" || gs[0].FrameworkID != "greedy" {
		t.Fatalf("a framework override of 0 takes anything: %v", gs)
	}
}

// Mesos' OfferFilters.MinAllocatableResources: unset means the master's
// default; set with no quantities means "offer me anything, however small"
// (not "nothing is ever allocatable"); and an offer of nothing is never
// made, whatever the minimums.
func TestEmptyMinAllocatableMeansAnything(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      Options
		framework []Scalars
		want      string // agent granted
	}{
		{"default", Options{}, nil, ""},
		{"framework sets none", Options{}, []Scalars{}, "tiny"},
		{"master sets none", Options{MinAllocatable: []Scalars{}}, nil, "tiny"},
		{"master none, framework its own", Options{MinAllocatable: []Scalars{}}, []Scalars{{CPUs: ToMilli(1)}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			e.agent("tiny", "cpus:0.005;mem:16", nil)
			e.framework(Framework{ID: "f", Roles: []string{"r"}, MinAllocatable: tc.framework})
			gs := e.cycle(time.Second)
			got := ""
			if len(gs) == 1 {
				got = gs[0].AgentID
			}
			if len(gs) > 1 || got != tc.want {
				t.Fatalf("grants %v, want the agent %q granted", gs, tc.want)
			}
		})
	}
	// At its quota limit a role is granted nothing, not an empty offer,
	// even with a minimum of zero.
	e := newEnv(t, Options{MinAllocatable: []Scalars{{}}})
	e.agent("a1", "cpus:4;mem:4096", nil)
	if err := e.h.SetQuota("r", Quota{Limit: Scalars{}}); err != nil {
		t.Fatal(err)
	}
	e.framework(Framework{ID: "f", Roles: []string{"r"}})
	if gs := e.cycle(time.Second); len(gs) != 0 {
		t.Fatalf("a role with a zero limit was offered %v", gs)
	}
}

func TestExcludedResourcesDoNotCountInShares(t *testing.T) {
	for _, exclude := range []bool{false, true} {
		opts := Options{}
		if exclude {
			opts.ExcludedFromShare = []Kind{GPUs}
		}
		e := newEnv(t, opts)
		e.agent("gpu", "cpus:1;mem:1024;gpus:1", nil)
		e.framework(Framework{ID: "g", Roles: []string{"g"}})
		if gs := e.cycle(time.Second); len(gs) != 1 {
			t.Fatalf("g should get the gpu agent: %v", gs)
		}
		e.agent("c1", "cpus:1;mem:1024", nil)
		e.agent("c2", "cpus:1;mem:1024", nil)
		e.framework(Framework{ID: "h", Roles: []string{"h"}})
		got := byFramework(e.cycle(time.Second))
		// Counted, g holds all gpus (share 1) and h gets both CPU agents.
		// Excluded, g's share is 1/3 (cpus), like h's after one agent; the
		// tie on allocations goes to g by name.
		if exclude && (got["h"] != 1 || got["g"] != 1) {
			t.Errorf("excluded: want g:1 h:1, got %v", got)
		}
		if !exclude && got["h"] != 2 {
			t.Errorf("counted: want h:2, got %v", got)
		}
	}
}

func TestRevocableOnlyToCapableFrameworks(t *testing.T) {
	e := newEnv(t, Options{})
	if err := e.h.AddAgent(Agent{ID: "a1", Total: MustParse("cpus:2;mem:1024"), Revocable: MustParse("cpus:8;mem:8192")}); err != nil {
		t.Fatal(err)
	}
	e.framework(Framework{ID: "plain", Roles: []string{"r"}})
	gs := e.cycle(time.Second)
	if len(gs) != 1 || !gs[0].Revocable.IsEmpty() {
		t.Fatalf("a framework without the capability got revocable resources: %v", gs)
	}
	e.framework(Framework{ID: "opportunist", Roles: []string{"r"}, Revocable: true})
	gs = e.cycle(time.Second)
	if len(gs) != 1 || gs[0].FrameworkID != "opportunist" || gs[0].Revocable.String() != "cpus:8;mem:8192" || !gs[0].Resources.IsEmpty() {
		t.Fatalf("revocable resources should go to the capable framework: %+v", gs)
	}
}

func TestOfferPreferences(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("r1a", "cpus:4;mem:4096", map[string]string{"rack": "r1"})
	e.agent("r2a", "cpus:4;mem:4096", map[string]string{"rack": "r2"})
	e.agent("big", "cpus:16;mem:4096;gpus:2", map[string]string{"rack": "r3"})
	e.framework(Framework{ID: "rack1", Roles: []string{"a"}, Constraints: []Constraint{{Name: "rack", Values: []string{"r1"}}}})
	e.framework(Framework{ID: "gpu", Roles: []string{"b"}, MinResources: MustParse("cpus:8;gpus:1").Scalars})
	e.framework(Framework{ID: "any", Roles: []string{"c"}})
	got := map[string]string{}
	for _, g := range e.cycle(time.Second) {
		got[g.AgentID] = g.FrameworkID
	}
	if got["r1a"] != "rack1" || got["big"] != "gpu" || got["r2a"] != "any" {
		t.Fatalf("placements = %v", got)
	}
}

// Agents a framework's preferences exclude do not count against it: being
// skipped does not move it back in line, so it gets the first agent it can
// use even after others took many it could not.
func TestSkippedFrameworkKeepsItsPlace(t *testing.T) {
	e := newEnv(t, Options{})
	for i := 0; i < 5; i++ {
		e.agent(fmt.Sprintf("r2-%d", i), "cpus:4;mem:4096", map[string]string{"rack": "r2"})
	}
	e.framework(Framework{ID: "any", Roles: []string{"b"}})
	e.framework(Framework{ID: "rack1", Roles: []string{"a"}, Constraints: []Constraint{{Name: "rack", Values: []string{"r1"}}}})
	if got := byFramework(e.cycle(time.Second)); got["any"] != 5 || got["rack1"] != 0 {
		t.Fatalf("only any can use rack r2: %v", got)
	}
	e.agent("r1-0", "cpus:4;mem:4096", map[string]string{"rack": "r1"})
	gs := e.h.AllocateAgent("r1-0", e.now)
	if len(gs) != 1 || gs[0].FrameworkID != "rack1" {
		t.Fatalf("rack1 should get the first r1 agent: %v", gs)
	}
}

func TestRecoverRejectsWhatIsNotAllocated(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("a1", "cpus:4;mem:4096", nil)
	e.framework(Framework{ID: "f1", Roles: []string{"r"}})
	g := e.cycle(time.Second)[0]
	for name, err := range map[string]error{
		"unknown agent":     e.h.Recover("f1", "r", "nope", g.Resources, Resources{}),
		"unknown framework": e.h.Recover("nope", "r", "a1", g.Resources, Resources{}),
		"unknown role":      e.h.Recover("f1", "x", "a1", g.Resources, Resources{}),
		"too much":          e.h.Recover("f1", "r", "a1", MustParse("cpus:5"), Resources{}),
		"negative":          e.h.Recover("f1", "r", "a1", Resources{Scalars: Scalars{CPUs: -1}}, Resources{}),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	e.check() // nothing changed
	if err := e.h.Recover("f1", "r", "a1", MustParse("cpus:1"), Resources{}); err != nil {
		t.Fatal(err)
	}
	e.check()
}

func TestBadInputIsRejected(t *testing.T) {
	h := NewHierarchical(Options{}, PlaceShuffled)
	for name, err := range map[string]error{
		"agent without id":   h.AddAgent(Agent{}),
		"negative agent":     h.AddAgent(Agent{ID: "a", Total: Resources{Scalars: Scalars{Mem: -1}}}),
		"framework no roles": h.AddFramework(Framework{ID: "f"}),
		"bad role":           h.AddFramework(Framework{ID: "f", Roles: []string{"a//b"}}),
		"zero weight":        h.SetWeight("r", 0),
		"guarantee > limit":  h.SetQuota("r", Quota{Guarantee: Scalars{CPUs: 2}, Limit: Scalars{CPUs: 1}}),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := New("nope", Options{}); !errors.Is(err, ErrUnknownPolicy) {
		t.Errorf("unknown policy: %v", err)
	}
	if err := checkInvariants(h); err != nil {
		t.Fatal(err)
	}
}

func TestAddAgentWithAllocations(t *testing.T) {
	e := newEnv(t, Options{})
	e.framework(Framework{ID: "f1", Roles: []string{"r"}})
	used := Grant{FrameworkID: "f1", Role: "r", Resources: MustParse("cpus:3;mem:1024;ports:[31000-31000]")}
	if err := e.h.AddAgent(Agent{ID: "a1", Total: MustParse("cpus:4;mem:4096;ports:[31000-31009]"), Allocated: []Grant{used}}); err != nil {
		t.Fatal(err)
	}
	e.check()
	gs := e.cycle(time.Second)
	if len(gs) != 1 || gs[0].Resources.String() != "cpus:1;mem:3072;ports:[31001-31009]" {
		t.Fatalf("only what is not in use is offered: %v", gs)
	}
	for name, a := range map[string]Agent{
		"unknown framework": {ID: "a2", Total: MustParse("cpus:4"), Allocated: []Grant{{FrameworkID: "nope", Role: "r"}}},
		"more than total":   {ID: "a3", Total: MustParse("cpus:1"), Allocated: []Grant{{FrameworkID: "f1", Role: "r", Resources: MustParse("cpus:2")}}},
	} {
		if err := e.h.AddAgent(a); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	e.check()
}

// TestRecycledGrantsAllocateTheSame: an allocator given back its grants
// (Recycle) fills the same slice next time, and grants exactly what one
// that makes a new slice every run grants.
func TestRecycledGrantsAllocateTheSame(t *testing.T) {
	recycling, fresh := newEnv(t, Options{Seed: 7}), newEnv(t, Options{Seed: 7})
	for _, e := range []*env{recycling, fresh} {
		for i := range 20 {
			e.agent(fmt.Sprintf("a%02d", i), "cpus:4;mem:4096;ports:[31000-31010]", nil)
		}
		for i := range 3 {
			e.framework(Framework{ID: fmt.Sprintf("f%d", i), Roles: []string{fmt.Sprintf("r%d", i%2)}})
		}
	}
	var reused *Grant
	for round := range 5 {
		got, want := recycling.cycle(time.Second), fresh.cycle(time.Second)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: the recycling allocator granted\n%v\nthe other\n%v", round, got, want)
		}
		if len(got) == 0 {
			t.Fatalf("round %d: nothing granted", round)
		}
		if reused != nil && &got[0] != reused {
			t.Fatalf("round %d: the recycled grants were not filled again", round)
		}
		for i := range got {
			recycling.recover(got[i])
			fresh.recover(want[i])
		}
		reused = &got[0]
		recycling.h.Recycle(got)
	}
}

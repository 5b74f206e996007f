package allocator

import (
	"fmt"
	"testing"
	"time"
)

// A role below its guarantee is served before fair sharing, even when DRF
// would favour another role.
func TestQuotaGuaranteeServedFirst(t *testing.T) {
	e := newEnv(t, Options{})
	for i := 0; i < 10; i++ {
		e.agent(fmt.Sprintf("a%d", i), "cpus:2;mem:2048", nil)
	}
	// prod is far above its fair share weight-wise (weight 1 vs batch 10),
	// but is guaranteed 8 cpus.
	if err := e.h.SetWeight("batch", 10); err != nil {
		t.Fatal(err)
	}
	if err := e.h.SetQuota("prod", NoLimit(MustParse("cpus:8").Scalars)); err != nil {
		t.Fatal(err)
	}
	e.framework(Framework{ID: "batch", Roles: []string{"batch"}})
	e.framework(Framework{ID: "prod", Roles: []string{"prod"}})
	got := byFramework(e.cycle(time.Second))
	if got["prod"] < 4 {
		t.Fatalf("prod should reach its 8-cpu guarantee (4 agents), got %v", got)
	}
}

// Headroom: resources needed for an unmet guarantee are not handed to other
// roles, even when the guaranteed role cannot use this agent right now.
func TestHeadroomHeldForUnmetGuarantees(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("a1", "cpus:4;mem:4096", map[string]string{"zone": "a"})
	e.agent("a2", "cpus:4;mem:4096", map[string]string{"zone": "b"})
	if err := e.h.SetQuota("prod", NoLimit(MustParse("cpus:4").Scalars)); err != nil {
		t.Fatal(err)
	}
	// prod only runs in zone a, where a1 is (not yet free: batch holds it).
	e.framework(Framework{ID: "other", Roles: []string{"other"}})
	gs := e.cycle(time.Second) // before prod exists: no demand, no headroom
	if len(gs) != 2 {
		t.Fatalf("without demand for prod, other takes both: %v", gs)
	}
	e.framework(Framework{ID: "prod", Roles: []string{"prod"}, Constraints: []Constraint{{Name: "zone", Values: []string{"a"}}}})
	for _, g := range gs {
		e.recover(g)
	}
	got := map[string]string{}
	for _, g := range e.cycle(time.Second) {
		got[g.AgentID] = g.FrameworkID
	}
	if got["a1"] != "prod" {
		t.Fatalf("prod should get a1 for its guarantee: %v", got)
	}
	if got["a2"] != "other" {
		t.Fatalf("once prod's guarantee is met, other gets a2: %v", got)
	}
	// Release both while prod's need is unmet again and prod has filtered
	// a1: other may take one agent, but must leave 4 cpus free for prod's
	// guarantee (headroom is counted cluster-wide, as in Mesos).
	e.recover(Grant{FrameworkID: "other", Role: "other", AgentID: "a2", Resources: MustParse("cpus:4;mem:4096")})
	e.decline(Grant{FrameworkID: "prod", Role: "prod", AgentID: "a1", Resources: MustParse("cpus:4;mem:4096")}, time.Hour)
	if gs := e.cycle(time.Second); len(gs) != 1 || gs[0].FrameworkID != "other" {
		t.Fatalf("other may take one agent and must leave prod's headroom: %v", gs)
	}
	// A suppressed role has no demand: its headroom is released.
	if err := e.h.Suppress("prod"); err != nil {
		t.Fatal(err)
	}
	if gs := e.cycle(time.Second); len(gs) != 1 || gs[0].FrameworkID != "other" {
		t.Fatalf("without demand for prod, other takes the rest: %v", gs)
	}
}

func TestQuotaLimitCapsGrants(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("a1", "cpus:8;mem:8192", nil)
	e.agent("a2", "cpus:8;mem:8192", nil)
	q := NoLimit(Scalars{})
	q.Limit[CPUs] = MustParse("cpus:10").Scalars[CPUs]
	if err := e.h.SetQuota("capped", q); err != nil {
		t.Fatal(err)
	}
	e.framework(Framework{ID: "f", Roles: []string{"capped"}})
	gs := e.cycle(time.Second)
	var cpus int64
	for _, g := range gs {
		cpus += g.Resources.Scalars[CPUs]
	}
	if cpus != 10*Milli || len(gs) != 2 {
		t.Fatalf("limit 10 cpus: got %d milli-cpus in %v", cpus, gs)
	}
	if gs := e.cycle(time.Second); len(gs) != 0 {
		t.Fatalf("at the limit nothing more is granted: %v", gs)
	}
	e.recover(Grant{FrameworkID: "f", Role: "capped", AgentID: gs[0].AgentID, Resources: MustParse("cpus:1")})
	if gs := e.cycle(time.Second); len(gs) != 1 || gs[0].Resources.Scalars[CPUs] != Milli {
		t.Fatalf("room under the limit is granted again: %v", gs)
	}
}

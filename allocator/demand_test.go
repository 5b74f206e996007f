package allocator

import (
	"errors"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// A framework that says what it waits for (Revive.demand) is offered about
// that much per batch interval, not every free agent it is first in line
// for; what it is not offered goes to the frameworks behind it.
func TestDemandBoundsOffersPerInterval(t *testing.T) {
	e := newEnv(t, Options{})
	for _, id := range []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"} {
		e.agent(id, "cpus:4;mem:4096", nil)
	}
	e.framework(Framework{ID: "f1", Roles: []string{"a"}})
	if err := e.h.SetDemand("f1", MustParse("cpus:6;mem:1024").Scalars); err != nil {
		t.Fatal(err)
	}
	gs := e.cycle(time.Second)
	if n := byFramework(gs)["f1"]; n != 2 {
		t.Fatalf("f1 waits for 6 cpus: want two 4-cpu agents in an interval, got %d: %v", n, gs)
	}
	// Within the same interval, event-driven runs offer it nothing more.
	for _, ag := range []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"} {
		if gs := e.h.AllocateAgent(ag, e.now); len(gs) != 0 {
			t.Fatalf("f1 was granted its demand in this interval, yet offered %v", gs)
		}
	}
	// The next interval: as much again (it still waits, having used none).
	if n := len(e.cycle(time.Second)); n != 2 {
		t.Fatalf("next interval: want two more agents, got %d", n)
	}
	// What it is not offered goes to a framework behind it in DRF order.
	e.framework(Framework{ID: "f2", Roles: []string{"b"}})
	gs = e.cycle(time.Second)
	if got := byFramework(gs); got["f1"] > 2 || got["f1"]+got["f2"] != 6 {
		t.Fatalf("want f1 at most two agents (its demand) and f2 the rest of the six free, got %v", got)
	}
	// A zero demand removes the bound: alone in line, f1 takes every
	// agent that comes free.
	if err := e.h.SetDemand("f1", Scalars{}); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Suppress("f2"); err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		e.recover(g)
	}
	if got := byFramework(e.cycle(time.Second)); got["f1"] != 6 {
		t.Fatalf("without a demand f1 should be offered all six free agents, got %v", got)
	}
}

// Restating the demand starts the interval's count afresh: a framework
// whose demand grew (a job arrived) is offered for it at once.
func TestSetDemandRestartsTheCount(t *testing.T) {
	e := newEnv(t, Options{})
	for _, id := range []string{"a0", "a1", "a2", "a3"} {
		e.agent(id, "cpus:4;mem:4096", nil)
	}
	e.framework(Framework{ID: "f1", Roles: []string{"a"}})
	if err := e.h.SetDemand("f1", MustParse("cpus:1").Scalars); err != nil {
		t.Fatal(err)
	}
	if n := len(e.cycle(time.Second)); n != 1 {
		t.Fatalf("want one agent for one cpu, got %d", n)
	}
	if err := e.h.SetDemand("f1", MustParse("cpus:1").Scalars); err != nil {
		t.Fatal(err)
	}
	if gs := e.h.AllocateAgent("a3", e.now); len(gs) == 0 && len(e.h.AllocateAgent("a2", e.now)) == 0 && len(e.h.AllocateAgent("a1", e.now)) == 0 && len(e.h.AllocateAgent("a0", e.now)) == 0 {
		t.Fatal("a restated demand is offered within the interval it was stated in")
	}
}

func TestSetDemandRejectsBadInput(t *testing.T) {
	e := newEnv(t, Options{})
	e.framework(Framework{ID: "f1", Roles: []string{"a"}})
	if err := e.h.SetDemand("nobody", Scalars{}); !errors.Is(err, ErrUnknownFramework) {
		t.Fatalf("unknown framework: %v", err)
	}
	if err := e.h.SetDemand("f1", Scalars{}, "r9"); !errors.Is(err, ErrUnknownRole) {
		t.Fatalf("unknown role: %v", err)
	}
	if err := e.h.SetDemand("f1", Scalars{CPUs: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative demand: %v", err)
	}
}

// The master's AllocatorRevive carries the demand; each revive restates
// it, and one without a demand removes the bound.
func TestApplyReviveSetsDemand(t *testing.T) {
	e := newEnv(t, Options{})
	for _, id := range []string{"a0", "a1", "a2", "a3"} {
		e.agent(id, "cpus:4;mem:4096", nil)
	}
	e.framework(Framework{ID: "f1", Roles: []string{"a"}})
	revive := &messages.AllocatorRevive{FrameworkId: "f1", Demand: ToQuantities(MustParse("cpus:2"))}
	if _, err := Apply(e.h, revive, e.now); err != nil {
		t.Fatal(err)
	}
	gs := e.cycle(time.Second)
	if len(gs) != 1 {
		t.Fatalf("revived waiting for 2 cpus: want one agent, got %v", gs)
	}
	if _, err := Apply(e.h, &messages.AllocatorRevive{FrameworkId: "f1"}, e.now); err != nil {
		t.Fatal(err)
	}
	if n := len(e.cycle(time.Second)); n != 3 {
		t.Fatalf("revived without a demand: want the three other agents, got %d", n)
	}
}

// With one minimum offer size (its task), grants count towards the demand
// in whole minimums, as a first-fit framework can use them: three 4-cpu
// tasks need three agents with 6 cpus free, not the two whose sum (12)
// would seem to hold them.
func TestDemandCountsWholeMinimums(t *testing.T) {
	e := newEnv(t, Options{})
	for _, id := range []string{"a0", "a1", "a2", "a3", "a4"} {
		e.agent(id, "cpus:6;mem:6144", nil)
	}
	task := MustParse("cpus:4;mem:1024").Scalars
	e.framework(Framework{ID: "f1", Roles: []string{"a"}, MinAllocatable: []Scalars{task}})
	if err := e.h.SetDemand("f1", MustParse("cpus:12;mem:3072").Scalars); err != nil {
		t.Fatal(err)
	}
	if n := len(e.cycle(time.Second)); n != 3 {
		t.Fatalf("three 4-cpu tasks on 6-cpu agents: want three agents, got %d", n)
	}
}

package allocator

import (
	"errors"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// An inactive agent is offered to nobody (Mesos' deactivateSlave), in a
// batch cycle and event-driven alike, while what is allocated on it stays
// allocated and counted in its role's dominant share; activating it makes
// its free resources offerable again.
func TestDeactivatedAgentIsOfferedToNobody(t *testing.T) {
	for name, p := range placements {
		t.Run(name, func(t *testing.T) {
			h := NewHierarchical(Options{Seed: 1}, p)
			now := time.Unix(0, 0)
			for _, id := range []string{"a1", "a2"} {
				if err := h.AddAgent(Agent{ID: id, Total: MustParse("cpus:4;mem:4096")}); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.AddFramework(Framework{ID: "f1", Roles: []string{"r1"}}); err != nil {
				t.Fatal(err)
			}
			// Binpack opens one empty agent per cycle at first.
			first := append(h.Allocate(now), h.Allocate(now)...)
			if got := map[string]bool{}; true {
				for _, g := range first {
					got[g.AgentID] = true
				}
				if len(got) != 2 {
					t.Fatalf("before the drain both agents are offered: %v", agentsOf(first))
				}
			}
			h.resort()
			before := h.dominantShare(h.roles["r1"])

			if _, err := Apply(h, &messages.AllocatorDeactivateAgent{AgentId: "a1"}, now); err != nil {
				t.Fatal(err)
			}
			h.resort()
			if got := h.dominantShare(h.roles["r1"]); got != before {
				t.Fatalf("share of r1 moved from %v to %v on deactivation: used resources stay counted", before, got)
			}
			// What was granted comes back (offers rescinded, tasks ended).
			for _, g := range first {
				if err := h.Recover("f1", "r1", g.AgentID, g.Resources, g.Revocable); err != nil {
					t.Fatal(err)
				}
			}
			if gs := h.AllocateAgent("a1", now); len(gs) != 0 {
				t.Fatalf("inactive a1 was offered event-driven: %v", gs)
			}
			gs := h.Allocate(now.Add(time.Second))
			for _, g := range gs {
				if g.AgentID != "a2" {
					t.Fatalf("batch offered %v; want only a2", agentsOf(gs))
				}
			}
			if len(gs) == 0 {
				t.Fatal("a2, active, was not offered")
			}
			if err := checkInvariants(h); err != nil {
				t.Fatal(err)
			}

			d, err := Apply(h, &messages.AllocatorActivateAgent{AgentId: "a1"}, now)
			if err != nil || d.Agent != "a1" {
				t.Fatalf("activate: dirty %+v, %v; want a1 dirty", d, err)
			}
			if gs := h.AllocateAgent("a1", now); len(gs) == 0 || gs[0].AgentID != "a1" {
				t.Fatalf("reactivated a1 is offered again: got %v", gs)
			}
			if err := checkInvariants(h); err != nil {
				t.Fatal(err)
			}
			if err := h.DeactivateAgent("nope"); !errors.Is(err, ErrUnknownAgent) {
				t.Fatalf("unknown agent: %v, want ErrUnknownAgent", err)
			}
		})
	}
}

package allocator

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// The Mesos allocator benchmark grid (hierarchical_allocator_tests.cpp):
// agents of cpus:24;mem:4096, frameworks spread over roles of 10. Each
// benchmark op is one full batch allocation cycle over every agent. Every
// policy runs on the same grid (policy= is the last part of the name, so
// `benchstat -col /policy` puts them side by side).
var grid = []struct{ agents, frameworks int }{
	{1000, 100}, {10_000, 1000}, {20_000, 2000}, {50_000, 6000},
}

var benchPolicies = []struct {
	name string
	p    Placement
}{{"drf", PlaceShuffled}, {"binpack", PlaceBinpack}, {"spread", PlaceSpread}}

func benchCluster(b *testing.B, p Placement, agents, frameworks int) *Hierarchical {
	h := NewHierarchical(Options{Seed: 1}, p)
	total := MustParse("cpus:24;mem:4096;ports:[31000-32000]")
	for i := 0; i < agents; i++ {
		if err := h.AddAgent(Agent{ID: fmt.Sprintf("agent-%06d", i), Total: total}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < frameworks; i++ {
		f := Framework{ID: fmt.Sprintf("fw-%05d", i), Roles: []string{fmt.Sprintf("role-%04d", i/10)}}
		if err := h.AddFramework(f); err != nil {
			b.Fatal(err)
		}
	}
	return h
}

func recoverAll(b *testing.B, h *Hierarchical, gs []Grant) {
	for _, g := range gs {
		if err := h.Recover(g.FrameworkID, g.Role, g.AgentID, g.Resources, g.Revocable); err != nil {
			b.Fatal(err)
		}
	}
}

// settle runs cycles, everything given back between them, until one grants
// as much as a cycle can: binpack opens agents to each framework over a few
// cycles (its budget doubles while it uses all it is given), and buffers and
// shares warm up.
func settle(b *testing.B, h *Hierarchical, now time.Time, want int) time.Time {
	for i := 0; i < 32; i++ {
		now = now.Add(time.Second)
		gs := h.Allocate(now)
		recoverAll(b, h, gs)
		if len(gs) == want {
			return now
		}
	}
	b.Fatalf("no cycle granted %d", want)
	return now
}

// BenchmarkAllocate: a full cycle granting every agent, from a cluster with
// everything free (allocations recovered between ops, untimed).
func BenchmarkAllocate(b *testing.B) {
	for _, g := range grid {
		for _, p := range benchPolicies {
			b.Run(fmt.Sprintf("agents=%d/frameworks=%d/policy=%s", g.agents, g.frameworks, p.name), func(b *testing.B) {
				h := benchCluster(b, p.p, g.agents, g.frameworks)
				want := g.agents // one grant per agent (a slice of it under spread)
				now := settle(b, h, time.Unix(0, 0), want)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					now = now.Add(time.Second)
					gs := h.Allocate(now)
					b.StopTimer()
					if len(gs) != want {
						b.Fatalf("granted %d, want %d", len(gs), want)
					}
					recoverAll(b, h, gs)
					b.StartTimer()
					h.Recycle(gs) // as the allocator actor does once it has sent them
				}
			})
		}
	}
}

// BenchmarkAllocateDeclined: every framework declines every offer with a
// long filter (Mesos' DeclineOffers). Filters accumulate op after op; each
// op is one cycle, the declines between cycles are untimed. Binpack opens
// one empty agent per framework per cycle to frameworks that decline empty
// agents, so its cycles grant far less (grants/op).
func BenchmarkAllocateDeclined(b *testing.B) {
	for _, g := range grid {
		for _, p := range benchPolicies {
			b.Run(fmt.Sprintf("agents=%d/frameworks=%d/policy=%s", g.agents, g.frameworks, p.name), func(b *testing.B) {
				h := benchCluster(b, p.p, g.agents, g.frameworks)
				now := time.Unix(0, 0)
				granted := 0
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					now = now.Add(time.Second)
					gs := h.Allocate(now)
					b.StopTimer()
					granted += len(gs)
					for _, gr := range gs {
						if err := h.Decline(gr.FrameworkID, gr.Role, gr.AgentID, gr.Resources, gr.Revocable, 100*24*time.Hour, now); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(granted)/float64(b.N), "grants/op")
			})
		}
	}
}

// BenchmarkAllocateQuota: 3,000 agents, 3,000 roles each guaranteed one
// agent's worth, one framework per role (Mesos' quota benchmark).
func BenchmarkAllocateQuota(b *testing.B) {
	const n = 3000
	for _, p := range benchPolicies {
		b.Run("policy="+p.name, func(b *testing.B) {
			h := NewHierarchical(Options{Seed: 1}, p.p)
			total := MustParse("cpus:24;mem:4096")
			for i := 0; i < n; i++ {
				if err := h.AddAgent(Agent{ID: fmt.Sprintf("agent-%05d", i), Total: total}); err != nil {
					b.Fatal(err)
				}
				role := fmt.Sprintf("role-%05d", i)
				if err := h.SetQuota(role, NoLimit(total.Scalars)); err != nil {
					b.Fatal(err)
				}
				if err := h.AddFramework(Framework{ID: fmt.Sprintf("fw-%05d", i), Roles: []string{role}}); err != nil {
					b.Fatal(err)
				}
			}
			want := n
			now := settle(b, h, time.Unix(0, 0), want)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				now = now.Add(time.Second)
				gs := h.Allocate(now)
				b.StopTimer()
				if len(gs) != want {
					b.Fatalf("granted %d, want %d", len(gs), want)
				}
				recoverAll(b, h, gs)
				b.StartTimer()
				h.Recycle(gs)
			}
		})
	}
}

// BenchmarkAllocateAgent: one event-driven allocation (resources recovered
// on one agent of a full 10,000-agent, 1,000-framework cluster).
func BenchmarkAllocateAgent(b *testing.B) {
	for _, p := range benchPolicies {
		b.Run("policy="+p.name, func(b *testing.B) {
			h := benchCluster(b, p.p, 10_000, 1000)
			now := settle(b, h, time.Unix(0, 0), 10_000)
			gs := h.Allocate(now)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				g := gs[i%len(gs)]
				if err := h.Recover(g.FrameworkID, g.Role, g.AgentID, g.Resources, g.Revocable); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				out := h.AllocateAgent(g.AgentID, now)
				b.StopTimer()
				if len(out) != 1 {
					b.Fatalf("grants = %v", out)
				}
				gs[i%len(gs)] = out[0]
				b.StartTimer()
			}
		})
	}
}

// BenchmarkMemory reports the allocator's memory per agent and per
// framework (heap in use after adding 50,000 of each, allocated once).
func BenchmarkMemory(b *testing.B) {
	const n = 50_000
	heapInUse := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		h := NewHierarchical(Options{}, PlaceShuffled)
		total := MustParse("cpus:24;mem:4096;ports:[31000-32000]")
		for j := 0; j < n; j++ {
			_ = h.AddAgent(Agent{ID: fmt.Sprintf("agent-%06d", j), Total: total, Attributes: map[string]string{"rack": "r1"}})
		}
		mid := heapInUse()
		for j := 0; j < n; j++ {
			_ = h.AddFramework(Framework{ID: fmt.Sprintf("fw-%06d", j), Roles: []string{fmt.Sprintf("role-%05d", j/10)}})
		}
		after := heapInUse()
		b.ReportMetric(float64(mid-before)/n, "B/agent")
		b.ReportMetric(float64(after-mid)/n, "B/framework")
		runtime.KeepAlive(h)
	}
}

// BenchmarkAllocateReserved: BenchmarkAllocate's drf cycle with 10 % of
// the cluster reserved, as issue 17 asks, in two shapes: 10 % of every
// agent (cpus:2.4;mem:409.6 for one role, round robin: each agent then
// makes two grants per cycle, its reservation to a framework of that role
// and the rest by DRF), or every tenth agent reserved whole (one grant per
// agent, as unreserved).
func BenchmarkAllocateReserved(b *testing.B) {
	for _, g := range grid {
		for _, shape := range []string{"every-agent", "whole-agents"} {
			b.Run(fmt.Sprintf("agents=%d/frameworks=%d/reserved=%s/policy=drf", g.agents, g.frameworks, shape), func(b *testing.B) {
				benchReserved(b, g.agents, g.frameworks, shape == "whole-agents")
			})
		}
	}
}

func benchReserved(b *testing.B, agents, frameworks int, whole bool) {
	h := NewHierarchical(Options{Seed: 1}, PlaceShuffled)
	roles := frameworks / 10
	want := 0
	for i := 0; i < agents; i++ {
		role := fmt.Sprintf("role-%04d", i%roles)
		a := Agent{ID: fmt.Sprintf("agent-%06d", i), Total: MustParse("cpus:21.6;mem:3686.4;ports:[31000-32000]"),
			Reserved: map[string]Resources{role: MustParse("cpus:2.4;mem:409.6")}}
		want += 2
		if whole {
			a.Total, a.Reserved, want = MustParse("cpus:24;mem:4096;ports:[31000-32000]"), nil, want-1
			if i%10 == 0 {
				a.Total, a.Reserved = Resources{}, map[string]Resources{role: MustParse("cpus:24;mem:4096;ports:[31000-32000]")}
			}
		}
		if err := h.AddAgent(a); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < frameworks; i++ {
		if err := h.AddFramework(Framework{ID: fmt.Sprintf("fw-%05d", i), Roles: []string{fmt.Sprintf("role-%04d", i/10)}}); err != nil {
			b.Fatal(err)
		}
	}
	giveBack := func(gs []Grant) {
		for _, gr := range gs {
			var err error
			if gr.Reservation != "" {
				err = h.ReturnReserved(gr.FrameworkID, gr.Role, gr.AgentID, gr.Reservation, gr.Resources, ReturnRecover, 0, time.Time{})
			} else {
				err = h.Recover(gr.FrameworkID, gr.Role, gr.AgentID, gr.Resources, gr.Revocable)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	now := time.Unix(0, 0)
	for i := 0; i < 4; i++ {
		now = now.Add(time.Second)
		giveBack(h.Allocate(now))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Second)
		gs := h.Allocate(now)
		b.StopTimer()
		if len(gs) != want {
			b.Fatalf("granted %d, want %d", len(gs), want)
		}
		giveBack(gs)
		b.StartTimer()
		h.Recycle(gs)
	}
}

// BenchmarkDeclineChurn: the churn after a burst of launches at 10,000
// agents, when 50 frameworks with nothing left to run decline every offer
// for an hour (the TCP harness's steady state: each agent is offered to
// each framework once). Each op is one framework's decline of one agent
// and the event-driven allocation of that agent to the next framework that
// has not declined it; the filters pile up to 50 per agent, 10,000 per
// framework.
func BenchmarkDeclineChurn(b *testing.B) {
	const agents, frameworks = 10_000, 50
	h := NewHierarchical(Options{Seed: 1}, PlaceShuffled)
	total := MustParse("cpus:24;mem:4096")
	for i := 0; i < agents; i++ {
		if err := h.AddAgent(Agent{ID: fmt.Sprintf("agent-%06d", i), Total: total}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < frameworks; i++ {
		if err := h.AddFramework(Framework{ID: fmt.Sprintf("fw-%03d", i), Roles: []string{fmt.Sprintf("role-%03d", i)}}); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Unix(0, 0)
	held := map[string]Grant{}
	for _, g := range h.Allocate(now) {
		held[g.AgentID] = g
	}
	if len(held) != agents {
		b.Fatalf("first cycle granted %d agents, want %d", len(held), agents)
	}
	ids := make([]string, 0, agents)
	for i := 0; i < agents; i++ {
		ids = append(ids, fmt.Sprintf("agent-%06d", i))
	}
	declines, regranted := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := ids[i%agents]
		g, ok := held[id]
		if !ok {
			continue // every framework has declined it
		}
		delete(held, id)
		if err := h.Decline(g.FrameworkID, g.Role, g.AgentID, g.Resources, g.Revocable, time.Hour, now); err != nil {
			b.Fatal(err)
		}
		declines++
		for _, next := range h.AllocateAgent(id, now) {
			held[id] = next
			regranted++
		}
	}
	b.StopTimer()
	if b.N >= agents && regranted == 0 {
		b.Fatal("no agent was offered to another framework after a decline")
	}
	b.ReportMetric(float64(declines)/float64(b.N), "declines/op")
}

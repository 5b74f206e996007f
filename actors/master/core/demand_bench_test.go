package core

import (
	"fmt"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// BenchmarkDemandFit: what checking a stated demand costs the master with
// 10,000 agents. "revive" is a Revive with 4 new units, one of which fits
// no agent: every agent is walked once (the agents' totals are cached);
// "revive-same" restates them, which walks none. "gone"
// is an agent that holds a unit leaving, which walks them all again;
// "gone-unrelated" is one that could hold none and has the most of no
// resource, which walks none.
func BenchmarkDemandFit(b *testing.B) {
	const agents = 10_000
	c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}})
	c.Start(t0)
	for i := range agents {
		res := []*messages.Resource{{Name: "cpus", Scalar: 4}, {Name: "mem", Scalar: 8192}}
		if i == 0 {
			res = []*messages.Resource{{Name: "cpus", Scalar: 16}, {Name: "mem", Scalar: 65536}}
		}
		c.RegisterAgent(Peer{Endpoint: Endpoint{fmt.Sprintf("a%d", i), "agent"}}, &messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: fmt.Sprintf("node-%05d", i), Resources: res}}, t0)
	}
	sched := Peer{Endpoint: Endpoint{"s", "sched"}}
	r := c.Subscribe(sched, &messages.SubscribeFramework{Info: &messages.FrameworkInfo{Name: "f", Roles: []string{"r"}}}, t0)
	var id *messages.FrameworkID
	for _, e := range r.Effects {
		if s, ok := e.(Send); ok {
			if m, ok := s.Msg.(*messages.FrameworkSubscribed); ok {
				id = m.FrameworkId
			}
		}
	}
	unit := func(cpus, mem float64) *messages.ResourceQuantities {
		return &messages.ResourceQuantities{Resources: []*messages.Resource{{Name: "cpus", Scalar: cpus}, {Name: "mem", Scalar: mem}}}
	}
	units := []*messages.ResourceQuantities{unit(1, 128), unit(2, 1024), unit(8, 32768), unit(64, 1024)}
	b.Run("revive", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			c.pendingFramework(id).demand = nil // a new demand each time: told each time
			c.Revive(sched, &messages.Revive{FrameworkId: id, DemandUnits: units}, t0)
		}
	})
	b.Run("revive-same", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			c.Revive(sched, &messages.Revive{FrameworkId: id, DemandUnits: units}, t0)
		}
	})
	big, small := c.agentOf("node-00000"), c.agentOf("node-00001")
	b.Run("gone", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			c.demandAgentGone(big)
		}
	})
	b.Run("gone-unrelated", func(b *testing.B) {
		units := []*messages.ResourceQuantities{unit(8, 32768), unit(64, 1024)}
		c.Revive(sched, &messages.Revive{FrameworkId: id, DemandUnits: units}, t0)
		b.ResetTimer()
		b.ReportAllocs()
		for range b.N {
			c.demandAgentGone(small)
		}
	})
}

func (c *Core) pendingFramework(id *messages.FrameworkID) *pendingRecord {
	return &c.books.frameworks[id.GetValue()].pending
}

func (c *Core) agentOf(host string) *agentRecord {
	for _, a := range c.books.agents {
		if a.info.GetHostname() == host {
			return a
		}
	}
	return nil
}

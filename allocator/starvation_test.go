package allocator

import (
	"fmt"
	"testing"
	"time"
)

// Mesos' offer starvation (MESOS-3202): frameworks ahead in DRF order that
// decline everything quickly get the agent every cycle, and a framework
// behind them never does. With rotation, each decliner is filtered on the
// agent until the others have been offered it, so the waiting framework is
// offered within K = (number of eligible frameworks) cycles.
func TestDeclinersCannotStarveOthers(t *testing.T) {
	for _, decliners := range []int{1, 3, 10} {
		t.Run(fmt.Sprint(decliners), func(t *testing.T) {
			e := newEnv(t, Options{})
			e.agent("free", "cpus:4;mem:4096", nil)
			e.agent("held", "cpus:4;mem:4096", nil)
			e.framework(Framework{ID: "waiter", Roles: []string{"w"}})
			// The waiter holds "held", so its share is above the decliners'.
			gs := e.cycle(time.Second)
			if len(gs) != 2 {
				t.Fatalf("setup: %v", gs)
			}
			for _, g := range gs {
				if g.AgentID == "free" {
					e.recover(g)
				}
			}
			for i := 0; i < decliners; i++ {
				e.framework(Framework{ID: fmt.Sprintf("d%02d", i), Roles: []string{fmt.Sprintf("d%02d", i)}})
			}
			k := decliners + 1
			for cycle := 1; cycle <= k; cycle++ {
				for _, g := range e.cycle(time.Second) {
					if g.FrameworkID == "waiter" {
						return // offered within the bound
					}
					e.decline(g, 0) // the fastest decline there is
				}
			}
			t.Fatalf("waiter not offered the free agent within K=%d cycles", k)
		})
	}
}

// A decliner is filtered on an agent only until its refuse time has passed
// (and one more batch has run, as in Mesos) and every other eligible
// framework has been offered the agent since. A framework that keeps taking
// the agent and giving it back (short tasks ending, offers rescinded) has
// been offered it: it must not keep the decliner out for ever.
func TestTakerCannotShutOutADecliner(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("shared", "cpus:4;mem:4096", nil)
	e.agent("busy", "cpus:4;mem:4096", nil)
	e.framework(Framework{ID: "taker", Roles: []string{"t"}})
	// The taker keeps "busy", so the decliner is ahead of it in DRF order.
	gs := e.cycle(time.Second)
	for _, g := range gs {
		if g.AgentID == "shared" {
			e.recover(g)
		}
	}
	e.framework(Framework{ID: "decliner", Roles: []string{"d"}})
	gs = e.cycle(time.Second)
	if len(gs) != 1 || gs[0].FrameworkID != "decliner" {
		t.Fatalf("setup: the decliner is first in DRF order: %v", gs)
	}
	e.decline(gs[0], 0)
	// Mesos: a filter shorter than the batch interval holds for the next
	// batch. The taker has the agent then, and gives it back.
	gs = e.cycle(time.Second)
	if len(gs) != 1 || gs[0].FrameworkID != "taker" {
		t.Fatalf("the batch after the decline offers the agent to the taker: %v", gs)
	}
	e.recover(gs[0])
	// Now the refuse time has passed and the only other eligible framework
	// has been offered the agent: the decliner is back in line, first.
	for cycle := 1; cycle <= 5; cycle++ {
		gs = e.cycle(time.Second)
		for _, g := range gs {
			if g.FrameworkID == "decliner" {
				if cycle != 1 {
					t.Fatalf("decliner offered the agent %d cycles after its turn came", cycle-1)
				}
				return
			}
			e.recover(g) // a short task: taken and given back
		}
	}
	t.Fatal("decliner shut out of the agent while the taker keeps taking and returning it")
}

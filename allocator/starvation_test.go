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

package master_test

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/jonboulle/clockwork"
)

// progressive is a framework with an endless queue of one task shape: it
// launches one task per offer that fits (returning the rest unfiltered, so
// DRF decides who gets it next) and declines for good an offer that fits
// none.
type progressive struct {
	name     string
	task     []*messages.Resource
	mu       sync.Mutex
	launched int
	full     map[string]bool // agents declined because nothing fits
	done     chan struct{}   // closed when every agent is full for it
	agents   int
}

func (p *progressive) Receive(d *scheduler.Driver, ev any) {
	offers, ok := ev.(*messages.Offers)
	if !ok {
		return
	}
	zero := 0.0
	for _, o := range offers.Offers {
		if !scheduler.Fits(o.Resources, p.task) {
			p.mu.Lock()
			p.full[o.AgentId.Value] = true
			if len(p.full) == p.agents {
				close(p.done)
			}
			p.mu.Unlock()
			d.Decline([]*messages.OfferID{o.Id}, 3600)
			continue
		}
		p.mu.Lock()
		p.launched++
		id := fmt.Sprintf("%s-%d", p.name, p.launched)
		p.mu.Unlock()
		d.LaunchWithFilters([]*messages.Offer{o}, &messages.Filters{RefuseSeconds: &zero}, scheduler.Command(id, "true", p.task))
	}
}

func (p *progressive) state() (launched, full int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.launched, len(p.full)
}

// Two frameworks with different roles on 3 agents: both get offers, and
// their dominant shares converge to within 5 % of the DRF fair shares.
func TestDominantSharesConvergeToDRF(t *testing.T) {
	c := testkit.Start(t, testkit.Options{
		Clock: clockwork.NewRealClock(), AllocationInterval: 5 * time.Millisecond,
		AgentResources: "cpus:64;mem:262144", OfferTimeout: -1,
	})
	for i := 0; i < 3; i++ {
		c.AddAgent(testkit.AgentSpec{Containerizer: testkit.SimContainerizer{Clock: c.Clock}})
	}
	// Cluster: 192 cpus, 768 GiB. A's tasks are memory-heavy, B's
	// cpu-heavy. Agents are large next to tasks: what is left on an agent
	// when B's task no longer fits (< 0.5 cpu) goes to A, and that must
	// stay small next to the 5 % tolerance (here at most 2.7 %).
	a := &progressive{name: "A", task: scheduler.Resources("cpus:0.2;mem:2048"), full: map[string]bool{}, done: make(chan struct{}), agents: 3}
	b := &progressive{name: "B", task: scheduler.Resources("cpus:0.5;mem:512"), full: map[string]bool{}, done: make(chan struct{}), agents: 3}
	c.StartScheduler(frameworkInfo("A", "analytics"), a)
	c.StartScheduler(frameworkInfo("B", "batch"), b)
	// Done when each framework has found every agent too full for its
	// next task: nothing more can change.
	for _, p := range []*progressive{a, b} {
		select {
		case <-p.done:
		case <-time.After(testkit.WaitTimeout):
			n, full := p.state()
			t.Fatalf("%s never filled the cluster: %d tasks, %d agents full", p.name, n, full)
		}
	}
	na, _ := a.state()
	nb, _ := b.state()
	shareA := math.Max(0.2*float64(na)/192, 2048*float64(na)/786432)
	shareB := math.Max(0.5*float64(nb)/192, 512*float64(nb)/786432)
	// DRF with divisible tasks: equal shares s with 384s tasks each; cpus
	// bind first: (0.2+0.5)*384s = 192, so s = 192/268.8 = 0.714.
	const fair = 192 / 268.8
	t.Logf("A: %d tasks, dominant share %.3f; B: %d tasks, dominant share %.3f; DRF fair share %.3f", na, shareA, nb, shareB, fair)
	for name, s := range map[string]float64{"A": shareA, "B": shareB} {
		if math.Abs(s-fair)/fair > 0.05 {
			t.Errorf("%s's dominant share %.3f is more than 5%% from the fair share %.3f", name, s, fair)
		}
	}
}

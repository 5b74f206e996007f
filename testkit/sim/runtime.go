package sim

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
)

// agentRuntime is one simulated agent's containerizer: testkit's simulated
// tasks, counted as they start and end so that utilization and shares are
// what agents actually run (a framework's own view lags: it hears of an
// end only when it is connected).
type agentRuntime struct {
	r   *run
	sim testkit.SimContainerizer

	mu   sync.Mutex
	live map[string]containerizer.Container
}

var (
	_ containerizer.Containerizer = (*agentRuntime)(nil)
	_ containerizer.Instant       = (*agentRuntime)(nil)
)

// LaunchesInstantly implements containerizer.Instant.
func (*agentRuntime) LaunchesInstantly() {}

// Launch implements containerizer.Containerizer.
func (a *agentRuntime) Launch(ctx context.Context, spec containerizer.LaunchSpec) (containerizer.Container, error) {
	c, err := a.sim.Launch(ctx, spec)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.live[spec.ID] = c
	a.mu.Unlock()
	a.r.use(spec.ID, 1)
	return &countedContainer{Container: c, id: spec.ID, a: a}, nil
}

// killAll ends every task of the agent at once (its node rebooted).
func (a *agentRuntime) killAll() {
	a.mu.Lock()
	var live []containerizer.Container
	for _, id := range slices.Sorted(maps.Keys(a.live)) {
		live = append(live, a.live[id])
	}
	a.mu.Unlock()
	for _, c := range live {
		c.Kill(0)
	}
}

// ended is called once per container when it exits.
func (a *agentRuntime) ended(id string) {
	a.mu.Lock()
	_, ok := a.live[id]
	delete(a.live, id)
	a.mu.Unlock()
	if ok {
		a.r.use(id, -1)
	}
}

// countedContainer notes the end of a simulated task. Each simulated
// container reports its exit by callback exactly once: to the agent's
// callback if it set one, else to ours (an agent stopped meanwhile).
type countedContainer struct {
	containerizer.Container
	id string
	a  *agentRuntime
}

func (c *countedContainer) NotifyExit(f func(containerizer.Exit)) {
	c.Container.(containerizer.ExitNotifier).NotifyExit(func(e containerizer.Exit) {
		c.a.ended(c.id)
		f(e)
	})
}

// use adds (sign 1) or removes (-1) a task's resources to its framework's
// count of what its tasks hold on agents. id is the container ID,
// "FRAMEWORK.TASK".
func (r *run) use(id string, sign float64) {
	fw, _, _ := strings.Cut(id, ".")
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.byID[fw]
	if f == nil {
		return
	}
	for name, v := range f.scalars {
		f.used[name] += sign * v
	}
}

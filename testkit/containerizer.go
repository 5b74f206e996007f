package testkit

import (
	"context"
	"sync"
	"time"

	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/jonboulle/clockwork"
)

// SimContainerizer runs no process: a task "runs" for Duration(spec) of
// clock time and exits 0 (or runs until killed when that is 0). It lets a
// test or simulation put thousands of tasks on thousands of agents.
type SimContainerizer struct {
	Clock    clockwork.Clock
	Duration func(containerizer.LaunchSpec) time.Duration
	// UseGrace: a killed task takes its whole grace period to stop, as a
	// task that checkpoints on SIGTERM would. Otherwise it stops at once.
	UseGrace bool
}

// LaunchesInstantly implements containerizer.Instant.
func (SimContainerizer) LaunchesInstantly() {}

// Launch implements containerizer.Containerizer.
func (s SimContainerizer) Launch(_ context.Context, spec containerizer.LaunchSpec) (containerizer.Container, error) {
	c := &simContainer{done: make(chan struct{}), clock: s.Clock, useGrace: s.UseGrace}
	if s.Duration != nil {
		if d := s.Duration(spec); d > 0 {
			s.Clock.AfterFunc(d, func() { c.finish(containerizer.Exit{}) })
		}
	}
	return c, nil
}

type simContainer struct {
	mu       sync.Mutex
	ended    bool
	done     chan struct{}
	exit     containerizer.Exit
	notify   func(containerizer.Exit)
	clock    clockwork.Clock
	useGrace bool
}

func (c *simContainer) finish(e containerizer.Exit) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended, c.exit = true, e
	close(c.done)
	notify := c.notify
	c.mu.Unlock()
	if notify != nil {
		notify(e)
	}
}

// NotifyExit implements containerizer.ExitNotifier: no goroutine per task.
func (c *simContainer) NotifyExit(f func(containerizer.Exit)) {
	c.mu.Lock()
	if c.ended {
		e := c.exit
		c.mu.Unlock()
		f(e)
		return
	}
	c.notify = f
	c.mu.Unlock()
}

func (c *simContainer) Wait(ctx context.Context) (containerizer.Exit, error) {
	select {
	case <-c.done:
		return c.exit, nil
	case <-ctx.Done():
		return containerizer.Exit{}, ctx.Err()
	}
}

func (c *simContainer) Kill(grace time.Duration) {
	killed := containerizer.Exit{Code: 128 + 15, Signal: "terminated", Killed: true} // as SIGTERM reports
	if c.useGrace && grace > 0 {
		c.clock.AfterFunc(grace, func() { c.finish(killed) })
		return
	}
	c.finish(killed)
}

// reaper wraps the real containerizer of testkit agents and kills whatever
// is still running when the cluster stops, so a test leaves no processes
// behind (an agent, like Mesos', leaves its tasks running when it stops).
type reaper struct {
	inner containerizer.Containerizer
	mu    sync.Mutex
	live  map[containerizer.Container]bool
}

func newReaper(inner containerizer.Containerizer) *reaper {
	return &reaper{inner: inner, live: map[containerizer.Container]bool{}}
}

func (r *reaper) Launch(ctx context.Context, spec containerizer.LaunchSpec) (containerizer.Container, error) {
	c, err := r.inner.Launch(ctx, spec)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.live[c] = true
	r.mu.Unlock()
	go func() {
		_, _ = c.Wait(context.Background())
		r.mu.Lock()
		delete(r.live, c)
		r.mu.Unlock()
	}()
	return c, nil
}

// Destroy implements containerizer.Destroyer with the real containerizer's,
// so that a restarted testkit agent ends what its lost tasks left.
func (r *reaper) Destroy(ctx context.Context, id, sandbox string) error {
	if d, ok := r.inner.(containerizer.Destroyer); ok {
		return d.Destroy(ctx, id, sandbox)
	}
	return nil
}

// waitEnded waits, up to timeout, until every container running when it
// was called has ended, and reports whether they did.
func (r *reaper) waitEnded(timeout time.Duration) bool {
	r.mu.Lock()
	var live []containerizer.Container
	for c := range r.live {
		live = append(live, c)
	}
	r.mu.Unlock()
	ended := make(chan struct{})
	go func() {
		for _, c := range live {
			_, _ = c.Wait(context.Background())
		}
		close(ended)
	}()
	select {
	case <-ended:
		return true
	case <-time.After(timeout):
		return false
	}
}

// reap kills every container still running and waits for each to end.
func (r *reaper) reap() {
	r.mu.Lock()
	var live []containerizer.Container
	for c := range r.live {
		live = append(live, c)
	}
	r.mu.Unlock()
	for _, c := range live {
		c.Kill(0)
	}
	for _, c := range live {
		_, _ = c.Wait(context.Background())
	}
}

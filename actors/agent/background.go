package agent

import (
	"context"
	"sync"
)

// background owns the goroutines the agent starts: launches, waits for
// tasks and executors, sandbox and cgroup removals, the disk writer. Each
// gets a context that ends when the agent stops, and the agent waits for
// all of them before it is stopped, so none outlives it (a stopped agent's
// tasks go on; it only stops watching them). Only the actor's goroutine
// calls run and stop.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

// run starts f on a goroutine; f must return soon after ctx is done.
func (b *background) run(f func(ctx context.Context)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f(b.ctx)
	}()
}

// stop ends every goroutine's context and waits for them.
func (b *background) stop() {
	b.cancel()
	b.wg.Wait()
}

package testkit

import (
	"sync"
	"time"

	"github.com/agora-sched/agora/runtime"
	"github.com/jonboulle/clockwork"
)

// SimContainerizer runs no process: a task "runs" for Duration(spec) of
// clock time and exits 0 (or runs until killed when that is 0). It lets a
// test or simulation put thousands of tasks on thousands of agents.
type SimContainerizer struct {
	Clock    clockwork.Clock
	Duration func(runtime.LaunchSpec) time.Duration
}

// Launch implements runtime.Containerizer.
func (s SimContainerizer) Launch(spec runtime.LaunchSpec) (runtime.Container, error) {
	c := &simContainer{done: make(chan struct{})}
	if s.Duration != nil {
		if d := s.Duration(spec); d > 0 {
			s.Clock.AfterFunc(d, func() { c.finish(runtime.Exit{}) })
		}
	}
	return c, nil
}

type simContainer struct {
	once sync.Once
	done chan struct{}
	exit runtime.Exit
}

func (c *simContainer) finish(e runtime.Exit) {
	c.once.Do(func() { c.exit = e; close(c.done) })
}

func (c *simContainer) Wait() runtime.Exit { <-c.done; return c.exit }

func (c *simContainer) Kill(time.Duration) {
	c.finish(runtime.Exit{Code: -1, Signal: "terminated", Killed: true})
}

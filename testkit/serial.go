package testkit

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// Serial is a proto.actor dispatcher that runs actors one at a time, in
// the order they became runnable, on the goroutine that calls Run. With
// every actor of a cluster on it and a FakeClock advanced only between
// runs, a simulation is a pure function of its inputs: the same seed gives
// the same run, message for message (Options.Serial).
type Serial struct {
	mu    sync.Mutex
	queue []func()
}

var _ actor.Dispatcher = (*Serial)(nil)

// Schedule implements actor.Dispatcher: fn runs during a later Run.
func (s *Serial) Schedule(fn func()) {
	s.mu.Lock()
	s.queue = append(s.queue, fn)
	s.mu.Unlock()
}

// Throughput implements actor.Dispatcher.
func (*Serial) Throughput() int { return 300 }

// Run runs scheduled actors, and whatever they schedule in turn, until
// nothing is runnable; it returns how many mailbox runs that took.
func (s *Serial) Run() int {
	n := 0
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.queue = nil // let a burst's backing array go
			s.mu.Unlock()
			return n
		}
		batch := s.queue
		s.queue = make([]func(), 0, 16)
		s.mu.Unlock()
		for _, fn := range batch {
			fn()
			n++
		}
	}
}

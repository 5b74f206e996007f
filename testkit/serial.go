package testkit

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Serial is a proto.actor dispatcher that runs actors one at a time, in
// the order they became runnable, on the goroutine that calls Run. With
// every actor of a cluster on it and a FakeClock advanced only between
// runs, a simulation is a pure function of its inputs: the same seed gives
// the same run, message for message. Clusters on a FakeClock use one
// unless Options.Concurrent.
type Serial struct {
	running sync.Mutex // one Run at a time: actors never run side by side

	mu    sync.Mutex
	queue []func()
	ready chan struct{} // holds a token once work was scheduled on an empty queue
}

var _ actor.Dispatcher = (*Serial)(nil)

// Schedule implements actor.Dispatcher: fn runs during a later Run.
func (s *Serial) Schedule(fn func()) {
	s.mu.Lock()
	if len(s.queue) == 0 {
		s.signal()
	}
	s.queue = append(s.queue, fn)
	s.mu.Unlock()
}

// signal leaves a token in ready for a waiter; s.mu is held.
func (s *Serial) signal() {
	if s.ready == nil {
		s.ready = make(chan struct{}, 1)
	}
	select {
	case s.ready <- struct{}{}:
	default: // a token is already waiting
	}
}

// Ready returns a channel that receives once something is scheduled
// after the queue was empty: a goroutine outside the dispatcher (a real
// process ending, Docker answering, a test's Send) gave an actor work. A
// token may be stale (the work already ran): Run and check again.
func (s *Serial) Ready() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready == nil {
		s.ready = make(chan struct{}, 1)
	}
	return s.ready
}

// Throughput implements actor.Dispatcher.
func (*Serial) Throughput() int { return 300 }

// Run runs scheduled actors, and whatever they schedule in turn, until
// nothing is runnable; it returns how many mailbox runs that took. Calls
// from several goroutines take turns.
func (s *Serial) Run() int {
	s.running.Lock()
	defer s.running.Unlock()
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

// RunUntil runs actors until done reports true after a Run, and reports
// whether that happened within timeout. When no actor is runnable and done
// is still false, it blocks until work is scheduled from outside (see
// Ready) or wake receives, never for a length of time: it moves no clock,
// so what it waits for must come from outside the dispatcher. timeout is
// real time and only a bound, for a test that waits for what never comes.
func (s *Serial) RunUntil(done func() bool, wake <-chan struct{}, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	ready := s.Ready()
	for {
		s.Run()
		if done() {
			return true
		}
		select {
		case <-ready:
		case <-wake:
		case <-timer.C:
			return false
		}
	}
}

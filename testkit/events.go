package testkit

import (
	"sync"
	"time"
)

// WaitTimeout bounds every wait so a broken test fails instead of hanging.
var WaitTimeout = 30 * time.Second

// Events records everything published on a cluster's event stream, in order.
type Events struct {
	mu     sync.Mutex
	cond   *sync.Cond
	events []any
}

func newEvents() *Events {
	e := &Events{}
	e.cond = sync.NewCond(&e.mu)
	return e
}

func (e *Events) record(ev any) {
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
	e.cond.Broadcast()
}

// Mark is a position in the record: WaitForSince looks only after it.
func (e *Events) Mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.events)
}

// WaitFor blocks until an event recorded at any time satisfies match, and
// returns it. It fails the test after WaitTimeout. match runs with the
// record locked: it must not call Events' methods, and it may see an event
// more than once (keep counting predicates idempotent).
func (e *Events) WaitFor(t TB, match func(any) bool) any {
	t.Helper()
	return e.WaitForSince(t, 0, match)
}

// WaitForSince is WaitFor over the events recorded after mark.
func (e *Events) WaitForSince(t TB, mark int, match func(any) bool) any {
	t.Helper()
	ev, ok := e.waitN(mark, 1, match, WaitTimeout)
	if !ok {
		t.Fatalf("testkit: no matching event within %v", WaitTimeout)
	}
	return ev[0]
}

// WaitForCount blocks until n events after mark satisfy match.
func (e *Events) WaitForCount(t TB, mark, n int, match func(any) bool) []any {
	t.Helper()
	evs, ok := e.waitN(mark, n, match, WaitTimeout)
	if !ok {
		t.Fatalf("testkit: %d of %d matching events within %v", len(evs), n, WaitTimeout)
	}
	return evs
}

func (e *Events) waitN(mark, n int, match func(any) bool, timeout time.Duration) ([]any, bool) {
	deadline := time.Now().Add(timeout)
	// Wake the waiter at the deadline: sync.Cond has no timed wait.
	timer := time.AfterFunc(timeout, e.cond.Broadcast)
	defer timer.Stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	var found []any
	next := mark
	for {
		for ; next < len(e.events); next++ {
			if match(e.events[next]) {
				found = append(found, e.events[next])
				if len(found) == n {
					return found, true
				}
			}
		}
		if !time.Now().Before(deadline) {
			return found, false
		}
		e.cond.Wait()
	}
}

// Count returns how many events recorded after mark satisfy match, now.
func (e *Events) Count(mark int, match func(any) bool) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.events[mark:] {
		if match(ev) {
			n++
		}
	}
	return n
}

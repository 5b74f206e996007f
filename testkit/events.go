package testkit

import (
	"sync"
	"time"
)

// WaitTimeout bounds every wait so a broken test fails instead of hanging.
var WaitTimeout = 30 * time.Second

// Events records everything published on a cluster's event stream, in order.
//
// On a Serial cluster its waits run the cluster's actors (nothing else
// does) until the event is recorded; they never move the clock, so what
// they wait for must follow from what the test did, or come from outside
// the actors (a real process, Docker). To wait on what only the passing of
// time brings, use Cluster.AdvanceUntil.
type Events struct {
	mu       sync.Mutex
	cond     *sync.Cond
	events   []any
	serial   *Serial       // the cluster's dispatcher; nil when actors run on their own
	recorded chan struct{} // holds a token once an event was recorded
}

func newEvents(serial *Serial) *Events {
	e := &Events{serial: serial, recorded: make(chan struct{}, 1)}
	e.cond = sync.NewCond(&e.mu)
	return e
}

func (e *Events) record(ev any) {
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
	e.cond.Broadcast()
	select {
	case e.recorded <- struct{}{}:
	default:
	}
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
	var found []any
	if e.serial != nil {
		next := mark
		ok := e.serial.RunUntil(func() bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			found, next = e.scan(found, next, n, match)
			return len(found) == n
		}, e.recorded, timeout)
		return found, ok
	}
	deadline := time.Now().Add(timeout)
	// Wake the waiter at the deadline: sync.Cond has no timed wait.
	timer := time.AfterFunc(timeout, e.cond.Broadcast)
	defer timer.Stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	next := mark
	for {
		if found, next = e.scan(found, next, n, match); len(found) == n {
			return found, true
		}
		if !time.Now().Before(deadline) {
			return found, false
		}
		e.cond.Wait()
	}
}

// scan looks at the events from next on, adding those that match to found
// until it holds n, and returns found and where to look next time. e.mu
// is held.
func (e *Events) scan(found []any, next, n int, match func(any) bool) ([]any, int) {
	for ; next < len(e.events) && len(found) < n; next++ {
		if match(e.events[next]) {
			found = append(found, e.events[next])
		}
	}
	return found, next
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

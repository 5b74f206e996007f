package testkit

import (
	"container/heap"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// FakeClock is a clockwork.Clock that moves only when told. Unlike
// clockwork's own fake, which re-sorts every timer on each new one, it keeps
// timers in a heap, so a simulation with tens of thousands of agents (each
// with a few timers) stays cheap.
//
// Timers fire in time order (ties in creation order) during Advance, and
// AfterFunc callbacks run on the advancing goroutine: keep them short and
// non-blocking (Agora's only send a message).
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers timerHeap
	armed  chan struct{} // closed when a timer is armed; nil if nobody waits
}

var _ clockwork.Clock = (*FakeClock)(nil)

// NewFakeClock returns a fake clock set to a fixed, arbitrary instant.
func NewFakeClock() *FakeClock { return NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) }

// NewFakeClockAt returns a fake clock set to t.
func NewFakeClockAt(t time.Time) *FakeClock { return &FakeClock{now: t} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Since is Now().Sub(t).
func (c *FakeClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Until is t.Sub(Now()).
func (c *FakeClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// Pending is the number of armed timers.
func (c *FakeClock) Pending() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.timers) }

// WaitPending blocks until at least n timers are armed, or timeout passes
// (real time), and reports whether they were. Actors on their own
// goroutines (not on a Serial dispatcher) arm timers when they get to it;
// a test waits here before it advances the clock past them.
func (c *FakeClock) WaitPending(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		if len(c.timers) >= n {
			c.mu.Unlock()
			return true
		}
		if c.armed == nil {
			c.armed = make(chan struct{})
		}
		ch := c.armed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return false
		}
	}
}

// Advance moves the clock forward by d, firing every timer due by then.
// Nothing runs between two of them: on a Serial cluster, Cluster.Advance
// lets actors react to each timer (and arm the next) before the next fires.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	c.advanceTo(end)
}

// NextTimer returns when the earliest armed timer fires, if any is armed.
func (c *FakeClock) NextTimer() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	return c.timers[0].t.at, true
}

// AdvanceToNext moves the clock to the earliest armed timer and fires the
// timers due then; it reports false if none is armed.
func (c *FakeClock) AdvanceToNext() bool {
	c.mu.Lock()
	if len(c.timers) == 0 {
		c.mu.Unlock()
		return false
	}
	at := c.timers[0].t.at
	c.mu.Unlock()
	c.advanceTo(at)
	return true
}

func (c *FakeClock) advanceTo(end time.Time) {
	for {
		c.mu.Lock()
		if len(c.timers) == 0 || c.timers[0].t.at.After(end) {
			if end.After(c.now) {
				c.now = end
			}
			c.mu.Unlock()
			return
		}
		t := heap.Pop(&c.timers).(*fakeTimer)
		if t.at.After(c.now) {
			c.now = t.at
		}
		now := c.now
		if t.period > 0 {
			t.at = now.Add(t.period)
			c.seq++
			t.seq = c.seq
			heap.Push(&c.timers, t)
		}
		c.mu.Unlock()
		t.fire(now)
	}
}

func (c *FakeClock) arm(t *fakeTimer, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.index >= 0 {
		heap.Remove(&c.timers, t.index)
	}
	c.seq++
	t.at, t.seq = c.now.Add(max(d, 0)), c.seq
	heap.Push(&c.timers, t)
	if c.armed != nil {
		close(c.armed)
		c.armed = nil
	}
}

func (c *FakeClock) disarm(t *fakeTimer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&c.timers, t.index)
	return true
}

// AfterFunc calls f during the Advance that passes d from now.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) clockwork.Timer {
	t := &fakeTimer{clock: c, f: f, index: -1}
	c.arm(t, d)
	return t
}

// NewTimer returns a timer whose channel receives the time after d.
func (c *FakeClock) NewTimer(d time.Duration) clockwork.Timer {
	t := &fakeTimer{clock: c, ch: make(chan time.Time, 1), index: -1}
	c.arm(t, d)
	return t
}

// After is NewTimer(d).Chan().
func (c *FakeClock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).Chan() }

// Sleep blocks until another goroutine advances the clock past d.
func (c *FakeClock) Sleep(d time.Duration) { <-c.After(d) }

// NewTicker returns a ticker firing every d of fake time.
func (c *FakeClock) NewTicker(d time.Duration) clockwork.Ticker {
	t := &fakeTimer{clock: c, ch: make(chan time.Time, 1), index: -1, period: d}
	c.arm(t, d)
	return fakeTicker{t}
}

type fakeTimer struct {
	clock  *FakeClock
	at     time.Time
	seq    uint64
	index  int // in the heap; -1 when not armed
	period time.Duration
	f      func()
	ch     chan time.Time
}

func (t *fakeTimer) fire(now time.Time) {
	if t.f != nil {
		t.f()
		return
	}
	select { // like time.Timer: drop a tick nobody read
	case t.ch <- now:
	default:
	}
}

func (t *fakeTimer) Chan() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(d time.Duration) bool {
	active := t.clock.disarm(t)
	t.clock.arm(t, d)
	return active
}

func (t *fakeTimer) Stop() bool { return t.clock.disarm(t) }

type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) Chan() <-chan time.Time { return k.t.ch }
func (k fakeTicker) Reset(d time.Duration)  { k.t.period = d; k.t.Reset(d) }
func (k fakeTicker) Stop()                  { k.t.Stop() }

// timerHeap holds each timer's key beside it, so that comparisons do not
// follow a pointer per timer: a 10,000-agent simulation keeps a few
// hundred thousand timers armed, and Less was a tenth of its CPU time.
type timerHeap []timerEntry

type timerEntry struct {
	at  int64 // t.at in Unix nanoseconds
	seq uint64
	t   *fakeTimer
}

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].t.index = i; h[j].t.index = j }
func (h *timerHeap) Push(x any) {
	t := x.(*fakeTimer)
	t.index = len(*h)
	*h = append(*h, timerEntry{at: t.at.UnixNano(), seq: t.seq, t: t})
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1].t
	old[len(old)-1] = timerEntry{}
	t.index = -1
	*h = old[:len(old)-1]
	return t
}

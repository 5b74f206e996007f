package testkit

import (
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// FakeClock is a clockwork.Clock that moves only when told. Unlike
// clockwork's own fake, which re-sorts every timer on each new one, it keeps
// timers in a heap, so a simulation with tens of thousands of agents (each
// with a few timers) stays cheap, and a fixed delay's timers in a queue of
// their own (DelayLine).
//
// Timers fire in time order (ties in creation order) during Advance, and
// AfterFunc callbacks run on the advancing goroutine: keep them short and
// non-blocking (Agora's only send a message).
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers timerHeap
	live   int // armed timers in timers; the rest of its entries are stale
	lines  []*DelayLine
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
func (c *FakeClock) Pending() int { c.mu.Lock(); defer c.mu.Unlock(); return c.pending() }

func (c *FakeClock) pending() int {
	n := c.live
	for _, l := range c.lines {
		n += l.n
	}
	return n
}

// WaitPending blocks until at least n timers are armed, or timeout passes
// (real time), and reports whether they were. Actors on their own
// goroutines (not on a Serial dispatcher) arm timers when they get to it;
// a test waits here before it advances the clock past them.
func (c *FakeClock) WaitPending(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		if c.pending() >= n {
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
	return c.next()
}

// AdvanceToNext moves the clock to the earliest armed timer and fires the
// timers due then; it reports false if none is armed.
func (c *FakeClock) AdvanceToNext() bool {
	c.mu.Lock()
	at, ok := c.next()
	c.mu.Unlock()
	if ok {
		c.advanceTo(at)
	}
	return ok
}

// next is when the earliest armed timer fires; c.mu is held.
func (c *FakeClock) next() (time.Time, bool) {
	at, line, ok := c.earliest()
	if !ok {
		return time.Time{}, false
	}
	if line == nil {
		return c.timers[0].t.at, true
	}
	return c.now.Add(time.Duration(at - c.now.UnixNano())), true
}

// earliest returns when the first timer is due, and where it is: the heap's
// top (line nil) or the head of a delay line's queue; stale entries are
// dropped off the heap's top first. The order is (time, seq) across all of
// them, as if every timer were in one heap. ok is false if no timer is
// armed. c.mu is held.
func (c *FakeClock) earliest() (at int64, line *DelayLine, ok bool) {
	for len(c.timers) > 0 && !c.timers[0].live() {
		c.timers.pop()
	}
	var seq uint64
	if len(c.timers) > 0 {
		at, seq, ok = c.timers[0].at, c.timers[0].seq, true
	}
	for _, l := range c.lines {
		if l.n == 0 {
			continue
		}
		if e := &l.ring[l.head]; !ok || e.at < at || e.at == at && e.seq < seq {
			at, seq, line, ok = e.at, e.seq, l, true
		}
	}
	return at, line, ok
}

func (c *FakeClock) advanceTo(end time.Time) {
	endNs := end.UnixNano()
	for {
		c.mu.Lock()
		at, line, ok := c.earliest()
		if !ok || at > endNs {
			if end.After(c.now) {
				c.now = end
			}
			c.mu.Unlock()
			return
		}
		if line != nil {
			if d := time.Duration(at - c.now.UnixNano()); d > 0 {
				c.now = c.now.Add(d)
			}
			f := line.pop()
			c.mu.Unlock()
			f()
			continue
		}
		t := c.timers.pop()
		if t.at.After(c.now) {
			c.now = t.at
		}
		now := c.now
		t.armed = false
		c.live--
		if t.period > 0 {
			c.push(t, now.Add(t.period))
		}
		c.mu.Unlock()
		t.fire(now)
	}
}

// push arms t for at; c.mu is held.
func (c *FakeClock) push(t *fakeTimer, at time.Time) {
	c.seq++
	t.at, t.seq, t.armed = at, c.seq, true
	c.live++
	c.timers.push(timerEntry{at: at.UnixNano(), seq: t.seq, t: t})
	if c.armed != nil {
		close(c.armed)
		c.armed = nil
	}
}

func (c *FakeClock) arm(t *fakeTimer, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unarm(t)
	c.push(t, c.now.Add(max(d, 0)))
}

func (c *FakeClock) disarm(t *fakeTimer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unarm(t)
}

// unarm disarms t, leaving its entry in the heap to be dropped when it
// reaches the top (or when stale entries outnumber live ones): removing it
// at once would need each timer's place in the heap kept up to date on
// every swap, a pointer written per level of every push and pop. c.mu is
// held.
func (c *FakeClock) unarm(t *fakeTimer) bool {
	if !t.armed {
		return false
	}
	t.armed = false
	c.live--
	if stale := len(c.timers) - c.live; stale > 1024 && stale > c.live {
		c.timers.compact()
	}
	return true
}

// AfterFunc calls f during the Advance that passes d from now.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) clockwork.Timer {
	t := &fakeTimer{clock: c, f: f}
	c.arm(t, d)
	return t
}

// NewTimer returns a timer whose channel receives the time after d.
func (c *FakeClock) NewTimer(d time.Duration) clockwork.Timer {
	t := &fakeTimer{clock: c, ch: make(chan time.Time, 1)}
	c.arm(t, d)
	return t
}

// After is NewTimer(d).Chan().
func (c *FakeClock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).Chan() }

// Sleep blocks until another goroutine advances the clock past d.
func (c *FakeClock) Sleep(d time.Duration) { <-c.After(d) }

// NewTicker returns a ticker firing every d of fake time.
func (c *FakeClock) NewTicker(d time.Duration) clockwork.Ticker {
	t := &fakeTimer{clock: c, ch: make(chan time.Time, 1), period: d}
	c.arm(t, d)
	return fakeTicker{t}
}

// DelayLine returns the clock's delay line for d (the same one for every
// call with the same d).
func (c *FakeClock) DelayLine(d time.Duration) *DelayLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if l.d == d {
			return l
		}
	}
	l := &DelayLine{c: c, d: max(d, 0)}
	c.lines = append(c.lines, l)
	return l
}

// DelayLine calls functions a fixed delay after they are handed to it,
// for one-way delays such as a simulated network's latency. The clock's
// time only grows, so calls with one delay are due in the order they were
// made: a queue holds them, in order of (time, seq) with the heap's
// timers, where a timer each would cost a heap push and pop (a 10,000-agent
// simulation delays every message it sends: most of its timers).
type DelayLine struct {
	c *FakeClock
	d time.Duration
	// A ring of n entries from head: a queue that slid along a slice
	// (append at the end, reslice at the front) was reallocated every
	// few thousand calls.
	ring    []lineEntry
	head, n int
}

// pop removes the first entry and returns its function; c.mu is held.
func (l *DelayLine) pop() func() {
	f := l.ring[l.head].f
	l.ring[l.head] = lineEntry{}
	l.head = (l.head + 1) % len(l.ring)
	l.n--
	return f
}

type lineEntry struct {
	at  int64 // Unix nanoseconds
	seq uint64
	f   func()
}

// AfterFunc calls f during the Advance that passes the line's delay from
// now. It cannot be stopped.
func (l *DelayLine) AfterFunc(f func()) {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	if l.n == len(l.ring) {
		ring := make([]lineEntry, max(64, 2*l.n))
		k := copy(ring, l.ring[l.head:])
		copy(ring[k:], l.ring[:l.head])
		l.ring, l.head = ring, 0
	}
	l.ring[(l.head+l.n)%len(l.ring)] = lineEntry{at: c.now.UnixNano() + int64(l.d), seq: c.seq, f: f}
	l.n++
	if c.armed != nil {
		close(c.armed)
		c.armed = nil
	}
}

type fakeTimer struct {
	clock  *FakeClock
	at     time.Time
	seq    uint64 // of its live entry in the heap, when armed
	armed  bool
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
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	active := c.unarm(t)
	c.push(t, c.now.Add(max(d, 0)))
	return active
}

func (t *fakeTimer) Stop() bool { return t.clock.disarm(t) }

type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) Chan() <-chan time.Time { return k.t.ch }
func (k fakeTicker) Reset(d time.Duration) {
	k.t.clock.mu.Lock()
	k.t.period = d
	k.t.clock.mu.Unlock()
	k.t.Reset(d)
}
func (k fakeTicker) Stop() { k.t.Stop() }

// timerEntry is a timer's key (its time in Unix nanoseconds, and its seq
// for ties) beside it, so that comparisons do not follow a pointer per
// timer: a 10,000-agent simulation keeps a few hundred thousand timers
// armed, and comparing them was a tenth of its CPU time.
type timerEntry struct {
	at  int64
	seq uint64
	t   *fakeTimer
}

func (e *timerEntry) before(o *timerEntry) bool {
	return e.at < o.at || e.at == o.at && e.seq < o.seq
}

// live reports whether a heap entry is its timer's current arming (not
// stopped, reset or fired since).
func (e *timerEntry) live() bool { return e.t.armed && e.t.seq == e.seq }

// timerHeap is a 4-ary min-heap of entries by (at, seq): half the levels
// of a binary one, and a node's children side by side in memory.
type timerHeap []timerEntry

func (h *timerHeap) push(e timerEntry) {
	*h = append(*h, e)
	h.up(len(*h) - 1)
}

// pop removes the top entry and returns its timer.
func (h *timerHeap) pop() *fakeTimer {
	old := *h
	t := old[0].t
	n := len(old) - 1
	old[0] = old[n]
	old[n] = timerEntry{}
	*h = old[:n]
	if n > 0 {
		h.down(0)
	}
	return t
}

func (h timerHeap) up(i int) {
	e := h[i]
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

func (h timerHeap) down(i int) {
	n := len(h)
	e := h[i]
	for {
		first := 4*i + 1
		if first >= n {
			break
		}
		m := first
		for k := first + 1; k < first+4 && k < n; k++ {
			if h[k].before(&h[m]) {
				m = k
			}
		}
		if !h[m].before(&e) {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = e
}

// compact drops stale entries and restores the heap order.
func (h *timerHeap) compact() {
	kept := (*h)[:0]
	for _, e := range *h {
		if e.live() {
			kept = append(kept, e)
		}
	}
	clear((*h)[len(kept):])
	*h = kept
	for i := (len(kept) - 2) / 4; i >= 0; i-- {
		kept.down(i)
	}
}

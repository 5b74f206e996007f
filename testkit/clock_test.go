package testkit

import (
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
)

func TestFakeClockFiresInTimeOrder(t *testing.T) {
	c := NewFakeClock()
	start := c.Now()
	var fired []int
	c.AfterFunc(3*time.Second, func() { fired = append(fired, 3) })
	c.AfterFunc(time.Second, func() {
		fired = append(fired, 1)
		// A timer armed from a callback, due within the same Advance.
		c.AfterFunc(time.Second, func() { fired = append(fired, 2) })
	})
	stopped := c.AfterFunc(2*time.Second, func() { fired = append(fired, -1) })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop should report an armed timer once")
	}
	c.Advance(2500 * time.Millisecond)
	if len(fired) != 2 || fired[0] != 1 || fired[1] != 2 {
		t.Fatalf("fired %v, want [1 2]", fired)
	}
	if got := c.Since(start); got != 2500*time.Millisecond {
		t.Fatalf("now advanced by %v", got)
	}
	if !c.AdvanceToNext() || len(fired) != 3 || c.Since(start) != 3*time.Second {
		t.Fatalf("AdvanceToNext: fired %v at %v", fired, c.Since(start))
	}
	if c.AdvanceToNext() {
		t.Fatal("no timer should be left")
	}
}

func TestFakeClockTimersAndTickers(t *testing.T) {
	c := NewFakeClock()
	tk := c.NewTicker(time.Second)
	tm := c.NewTimer(time.Second)
	c.Advance(time.Second)
	<-tk.Chan()
	<-tm.Chan()
	c.Advance(time.Second)
	<-tk.Chan()
	select {
	case <-tm.Chan():
		t.Fatal("a timer fires once")
	default:
	}
	tk.Stop()
	if c.Pending() != 0 {
		t.Fatalf("pending = %d", c.Pending())
	}
}

// A cluster stopped while a real task runs leaves no process behind.
func TestStopReapsRealTasks(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := c.reaper.Launch(t.Context(), containerizer.LaunchSpec{ID: "t", Sandbox: t.TempDir(), Command: &messages.CommandInfo{Value: "sleep 600", Shell: true}})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop()
	if ex, _ := ctr.Wait(t.Context()); !ex.Killed {
		t.Fatalf("task still ran after Stop: %+v", ex)
	}
}

// A delay line's calls interleave with timers in (time, creation) order,
// exactly as if each were a timer of its own.
func TestFakeClockDelayLineKeepsTheOrder(t *testing.T) {
	c := NewFakeClock()
	line := c.DelayLine(time.Millisecond)
	if c.DelayLine(time.Millisecond) != line {
		t.Fatal("one line per delay")
	}
	var fired []string
	note := func(s string) func() { return func() { fired = append(fired, s) } }
	line.AfterFunc(note("line1"))
	c.AfterFunc(time.Millisecond, note("timer2"))
	line.AfterFunc(note("line3"))
	c.AfterFunc(500*time.Microsecond, func() {
		fired = append(fired, "timer0")
		line.AfterFunc(note("line5")) // due at 1.5 ms
		c.AfterFunc(time.Millisecond, note("timer6"))
	})
	c.AfterFunc(2*time.Millisecond, note("timer7"))
	if c.Pending() != 5 {
		t.Fatalf("pending = %d, want 5", c.Pending())
	}
	if next, _ := c.NextTimer(); next != c.Now().Add(500*time.Microsecond) {
		t.Fatalf("next timer at %v", next)
	}
	c.Advance(time.Millisecond)
	c.Advance(time.Millisecond)
	want := []string{"timer0", "line1", "timer2", "line3", "line5", "timer6", "timer7"}
	if !slices.Equal(fired, want) {
		t.Fatalf("fired %v, want %v", fired, want)
	}
	if c.Pending() != 0 || c.AdvanceToNext() {
		t.Fatalf("pending = %d after everything fired", c.Pending())
	}
}

// Stopped and reset timers leave stale entries behind, which never fire
// and are dropped in bulk once they outnumber the live ones.
func TestFakeClockStopAndResetMany(t *testing.T) {
	c := NewFakeClock()
	var fired []int
	var timers []clockwork.Timer
	for i := range 5000 {
		timers = append(timers, c.AfterFunc(time.Duration(i+1)*time.Millisecond, func() { fired = append(fired, i) }))
	}
	for i, tm := range timers {
		switch i % 3 {
		case 0:
			if !tm.Stop() {
				t.Fatalf("timer %d was armed", i)
			}
		case 1: // moved to the end, in the order reset
			if !tm.Reset(time.Hour) {
				t.Fatalf("timer %d was armed", i)
			}
		}
	}
	if len(c.timers) > 2*c.Pending() {
		t.Fatalf("%d entries for %d timers: stale ones were not dropped", len(c.timers), c.Pending())
	}
	c.Advance(2 * time.Hour)
	var want []int
	for i := 2; i < 5000; i += 3 {
		want = append(want, i)
	}
	for i := 1; i < 5000; i += 3 {
		want = append(want, i)
	}
	if !slices.Equal(fired, want) {
		t.Fatalf("fired %d timers in another order than expected (first %v)", len(fired), fired[:min(10, len(fired))])
	}
	if timers[0].Stop() || timers[1].Stop() {
		t.Fatal("Stop of a stopped or fired timer reports true")
	}
}

// A delay line's queue wraps around and grows without losing its order.
func TestFakeClockDelayLineWrapsAround(t *testing.T) {
	c := NewFakeClock()
	line := c.DelayLine(time.Second)
	var fired []int
	n := 0
	for round := range 4 {
		// 100 queued in the first rounds (the ring wraps), up to 1,000 in
		// the last ones (it grows while wrapped).
		step := []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, time.Millisecond, time.Millisecond}[round]
		for range 300 {
			k := n
			line.AfterFunc(func() { fired = append(fired, k) })
			n++
			c.Advance(step)
		}
	}
	c.Advance(time.Second)
	if len(fired) != n {
		t.Fatalf("fired %d of %d", len(fired), n)
	}
	for i, k := range fired {
		if k != i {
			t.Fatalf("call %d fired in place %d", k, i)
		}
	}
}

package testkit

import (
	"testing"
	"time"

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

package testkit

import (
	"fmt"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// How a test moves a cluster. On the default Serial dispatcher no actor
// runs unless a helper here (or an Events wait) runs it: they run every
// actor until none has work, check what the test waits for, and only then
// move the fake clock, to the next timer, so each timer fires into a
// cluster that has finished reacting to the last one. Nothing waits for a
// length of real time; real time only bounds a wait (WaitTimeout).
//
// Work that comes from outside the actors (a real process ending, Docker
// answering) arrives when it arrives: the Events waits, WaitState and
// Request block until it is scheduled, without moving the clock.
// Advance, AdvanceUntil and StateWhere do not wait for it: a test with
// real processes waits for their events before it moves the clock.

// maxFiringsPerInstant bounds the timers fired without the clock moving:
// an actor that keeps arming a timer due at once would otherwise hold
// the clock forever.
const maxFiringsPerInstant = 100_000

// Drain runs actors on the Serial dispatcher until none is runnable and
// returns how many mailbox runs that took; on a concurrent cluster actors
// run on their own and it returns 0.
func (c *Cluster) Drain() int {
	if c.serial == nil {
		return 0
	}
	return c.serial.Run()
}

// Serial reports whether the cluster's actors run on its Serial dispatcher
// (the default on a FakeClock).
func (c *Cluster) Serial() bool { return c.serial != nil }

// Fake returns the cluster's clock as a fake clock, or fails the test.
func (c *Cluster) Fake(t TB) *FakeClock {
	t.Helper()
	f, ok := c.Clock.(*FakeClock)
	if !ok {
		t.Fatal("testkit: this cluster runs on a real clock")
	}
	return f
}

// Spawn starts an actor from props on the cluster's dispatcher (a test's
// own actors, such as an executor, then run in turn with the cluster's).
func (c *Cluster) Spawn(props *actor.Props) *actor.PID {
	return c.System.Root.Spawn(props.Configure(c.actorOpts...))
}

// Advance moves the fake clock forward by d. On a Serial cluster it runs
// the actors before each timer fires, as if they were fast next to the
// clock: a heartbeat every second is sent d/1s times, each answered before
// the next. On a concurrent cluster it moves the clock at once, and the
// actors react when they get to it.
func (c *Cluster) Advance(t TB, d time.Duration) {
	t.Helper()
	clock := c.Fake(t)
	if c.serial == nil {
		clock.Advance(d)
		return
	}
	if _, err := c.advanceTo(clock.Now().Add(d), nil); err != nil {
		t.Fatal(err)
	}
}

// AdvanceUntil drives the cluster and its fake clock until an event
// recorded after mark matches, and returns it; it fails the test once
// the clock has moved by within. The clock stops at the timer after which
// the event was recorded. It needs a Serial cluster.
func (c *Cluster) AdvanceUntil(t TB, mark int, within time.Duration, match func(any) bool) any {
	t.Helper()
	clock := c.serialFake(t, "AdvanceUntil")
	var found []any
	next := mark
	ok, err := c.advanceTo(clock.Now().Add(within), func() bool {
		c.Events.mu.Lock()
		defer c.Events.mu.Unlock()
		found, next = c.Events.scan(found, next, 1, match)
		return len(found) == 1
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatalf("testkit: no matching event within %v of fake time", within)
		return nil
	}
	return found[0]
}

// StateWhere drives the cluster and its fake clock (snapshots are
// published on it) until the latest state snapshot satisfies ok, within
// 30 s of fake time, and returns it. It needs a Serial cluster.
func (c *Cluster) StateWhere(t TB, ok func(*messages.MasterState) bool) *messages.MasterState {
	t.Helper()
	const within = 30 * time.Second
	clock := c.serialFake(t, "StateWhere")
	var st *messages.MasterState
	found, err := c.advanceTo(clock.Now().Add(within), func() bool {
		st = c.matchingState(ok)
		return st != nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("testkit: no matching state snapshot within %v of fake time", within)
	}
	return st
}

// WaitState waits until the master publishes a snapshot that satisfies ok
// and returns it. It does not move the clock: snapshots follow changes
// within the master's publish interval on the cluster's clock, so on a
// fake clock use StateWhere (or Advance first).
func (c *Cluster) WaitState(t TB, ok func(*messages.MasterState) bool) *messages.MasterState {
	t.Helper()
	if c.serial != nil {
		var st *messages.MasterState
		if !c.serial.RunUntil(func() bool { st = c.matchingState(ok); return st != nil }, nil, WaitTimeout) {
			t.Fatalf("testkit: no matching state snapshot within %v", WaitTimeout)
		}
		return st
	}
	timeout := time.After(WaitTimeout)
	for {
		changed := c.Publisher.Changed()
		if st := c.matchingState(ok); st != nil {
			return st
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("testkit: no matching state snapshot within %v", WaitTimeout)
			return nil
		}
	}
}

func (c *Cluster) matchingState(ok func(*messages.MasterState) bool) *messages.MasterState {
	if s := c.Publisher.Latest(); s != nil && ok(s.State) {
		return s.State
	}
	return nil
}

// Request sends msg to pid with a reply address and returns the reply,
// running the cluster until it comes; it fails the test on no reply within
// WaitTimeout. (On a Serial cluster a bare RequestFuture(...).Result()
// would wait for ever: nothing runs the actor while the test blocks.)
func (c *Cluster) Request(t TB, pid *actor.PID, msg any) any {
	t.Helper()
	f := c.System.Root.RequestFuture(pid, msg, WaitTimeout)
	var res any
	var err error
	if c.serial == nil {
		res, err = f.Result()
	} else {
		answered := make(chan struct{})
		go func() { res, err = f.Result(); close(answered) }()
		// The future times out by itself after WaitTimeout; this bound
		// only keeps a broken future from hanging the test.
		if !c.serial.RunUntil(func() bool { return isClosed(answered) }, answered, 2*WaitTimeout) {
			t.Fatalf("testkit: the future of a %T request never completed", msg)
		}
	}
	if err != nil {
		t.Fatalf("testkit: %T request to %s: %v", msg, pid.Id, err)
	}
	return res
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// WaitProcessesEnded waits until every real process that testkit agents
// launched (on the default containerizer) and that still ran has ended:
// after a test made its tasks end behind the agents' backs (its agent
// stopped), it tells the test they are gone. It moves no clock.
func (c *Cluster) WaitProcessesEnded(t TB) {
	t.Helper()
	if !c.reaper.waitEnded(WaitTimeout) {
		t.Fatalf("testkit: real task processes still ran after %v", WaitTimeout)
	}
}

// serialFake returns the fake clock of a Serial cluster, or fails the test
// naming the helper that needs one.
func (c *Cluster) serialFake(t TB, helper string) *FakeClock {
	t.Helper()
	clock := c.Fake(t)
	if c.serial == nil {
		t.Fatalf("testkit: %s drives a Serial cluster; this one runs its actors concurrently (Options.Concurrent): wait on events instead", helper)
	}
	return clock
}

// advanceTo runs the Serial cluster and moves its fake clock towards end
// one timer at a time: every actor runs until none has work, stop (if
// any) is checked, and only then do the timers due next fire. It reports
// whether stop held, leaving the clock where it did; otherwise the clock
// ends at end.
func (c *Cluster) advanceTo(end time.Time, stop func() bool) (bool, error) {
	clock := c.Clock.(*FakeClock)
	for same := 0; ; {
		c.serial.Run()
		if stop != nil && stop() {
			return true, nil
		}
		at, ok := clock.NextTimer()
		if !ok || at.After(end) {
			break
		}
		if at.After(clock.Now()) {
			same = 0
		} else if same++; same > maxFiringsPerInstant {
			return false, fmt.Errorf("testkit: %d timers fired at %v without the clock moving: an actor keeps arming a timer due at once", same, at)
		}
		clock.AdvanceToNext()
	}
	clock.advanceTo(end) // no timer is due by then: this only moves the time
	c.serial.Run()
	return stop != nil && stop(), nil
}

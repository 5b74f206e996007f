package testkit

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/asynkron/protoactor-go/actor"
)

// A Serial cluster's run is a function of what the test does: the same
// steps give the same events at the same fake times, message for message.
// The scenario has tasks that end, one agent partitioned until it is
// unreachable and back, and a master failover.
func TestSerialClusterRepeats(t *testing.T) {
	first := serialScenario(t)
	if len(first) < 200 {
		t.Fatalf("the scenario recorded only %d events: it no longer exercises the cluster", len(first))
	}
	second := serialScenario(t)
	if i := firstDifference(first, second); i >= 0 {
		t.Fatalf("two runs differ at event %d of %d/%d:\n  %s\n  %s", i, len(first), len(second), at(first, i), at(second, i))
	}
}

func serialScenario(t *testing.T) []string {
	clock := NewFakeClock()
	start := clock.Now()
	var trace []string
	sim := SimContainerizer{Clock: clock, Duration: func(containerizer.LaunchSpec) time.Duration { return 7 * time.Second }}
	c := Start(t, Options{Clock: clock, AgentResources: "cpus:4;mem:8192", Containerizer: sim,
		AgentReregisterTimeout: 30 * time.Second,
		Record: func(ev any) bool {
			trace = append(trace, fmt.Sprintf("%v %s", clock.Since(start), describe(ev)))
			return true
		}})
	if !c.Serial() {
		t.Fatal("a cluster on a FakeClock runs its actors concurrently by default")
	}
	cut := &Partition{}
	for i := 0; i < 2; i++ {
		c.AddAgent(AgentSpec{})
	}
	far := c.AddAgent(AgentSpec{Hostname: "far", Partition: cut})
	fw := &Elastic{Target: 10, Shape: "cpus:1;mem:1024"}
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, fw)
	c.AdvanceUntil(t, 0, time.Minute, func(any) bool { return fw.Ended(messages.TaskState_TASK_FINISHED) >= 20 })

	cut.Cut()
	c.AdvanceUntil(t, c.Events.Mark(), 2*time.Minute, func(ev any) bool { _, ok := ev.(master.AgentMarkedUnreachable); return ok })
	cut.Heal()
	c.AnnounceLeaderTo(far)
	c.Advance(t, 30*time.Second)

	c.FailoverMaster(t)
	c.Advance(t, time.Minute)
	if fw.Ended(messages.TaskState_TASK_FINISHED) < 40 {
		t.Fatalf("only %d tasks finished: the cluster did not come back after the failover", fw.Ended(messages.TaskState_TASK_FINISHED))
	}
	return trace
}

// describe renders an event without what differs by design between runs
// (status update UUIDs, PIDs).
func describe(ev any) string {
	if se, ok := ev.(SchedulerEvent); ok {
		switch e := se.Event.(type) {
		case *messages.Offers:
			var b strings.Builder
			for _, o := range e.Offers {
				fmt.Fprintf(&b, " %s@%s:%s", o.Id.GetValue(), o.AgentId.GetValue(), messages.FormatResources(o.Resources))
			}
			return se.Framework + " offers" + b.String()
		case *messages.StatusUpdate:
			return fmt.Sprintf("%s status %s %s %s", se.Framework, e.Status.TaskId.GetValue(), e.Status.State, e.Status.Reason)
		default:
			return fmt.Sprintf("%s %T", se.Framework, e)
		}
	}
	if reflect.TypeOf(ev).Kind() == reflect.Struct {
		return fmt.Sprintf("%T%+v", ev, ev)
	}
	return fmt.Sprintf("%T", ev)
}

func firstDifference(a, b []string) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(end)"
}

// Advance runs the actors before each timer fires: the agent's next
// heartbeat is armed only when the last was handled, and it is sent every
// interval. FakeClock.Advance alone fires it once, and the master, seeing
// one heartbeat in ten intervals, takes the agent for dead: its handler's
// liveness check fired in the same jump, before the one heartbeat came.
func TestAdvanceLetsActorsReactToEachTimer(t *testing.T) {
	c := Start(t, Options{Liveness: &master.LivenessPolicy{Interval: time.Second, MaxMisses: 3}})
	c.AddAgent(AgentSpec{})
	c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(agent.Registered); return ok })
	acked := func(ev any) bool { _, ok := ev.(agent.HeartbeatAcked); return ok }
	unreachable := func(ev any) bool { _, ok := ev.(master.AgentMarkedUnreachable); return ok }

	mark := c.Events.Mark()
	c.Advance(t, 10*time.Second)
	// Heartbeats come every second less up to 20 % jitter.
	if n := c.Events.Count(mark, acked); n < 10 || n > 13 {
		t.Fatalf("%d heartbeats acknowledged in 10 s, want one every 0.8-1 s", n)
	}
	if n := c.Events.Count(0, unreachable); n != 0 {
		t.Fatalf("a heartbeating agent was marked unreachable %d times", n)
	}

	mark = c.Events.Mark()
	c.Fake(t).Advance(10 * time.Second)
	c.Drain()
	if n, dead := c.Events.Count(mark, acked), c.Events.Count(mark, unreachable); n != 0 || dead != 1 {
		t.Fatalf("the bare clock: %d heartbeats acknowledged and %d agents marked unreachable in one jump, want none and one", n, dead)
	}
}

// AdvanceUntil stops the clock at the timer after which the event came.
func TestAdvanceUntilStopsAtTheEvent(t *testing.T) {
	c := Start(t, Options{Agents: 1, OfferTimeout: 10 * time.Second})
	c.StartScheduler(&messages.FrameworkInfo{Name: "idle", Roles: []string{"r"}}, nil)
	c.Events.WaitFor(t, func(ev any) bool {
		se, ok := ev.(SchedulerEvent)
		_, offers := se.Event.(*messages.Offers)
		return ok && offers
	})
	offered := c.Clock.Now()
	c.AdvanceUntil(t, c.Events.Mark(), time.Hour, func(ev any) bool {
		se, ok := ev.(SchedulerEvent)
		_, rescind := se.Event.(*messages.RescindOffer)
		return ok && rescind
	})
	if held := c.Clock.Since(offered); held != 10*time.Second {
		t.Fatalf("the clock stopped %v after the offer, want at the 10 s offer timeout", held)
	}
}

// On a Serial cluster, work scheduled from a goroutine outside the
// dispatcher (as a real process's exit is: the actor starts it and it
// reports back as a message) wakes a wait, which runs it without moving
// the clock.
func TestWaitRunsWorkFromOutside(t *testing.T) {
	c := Start(t, Options{})
	type done struct{}
	type finished struct{}
	c.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			sys, self := ctx.ActorSystem(), ctx.Self()
			go func() { sys.Root.Send(self, done{}) }()
		case done:
			ctx.ActorSystem().EventStream.Publish(finished{})
		}
	}))
	before := c.Clock.Now()
	c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(finished); return ok })
	if !c.Clock.Now().Equal(before) {
		t.Fatal("a wait moved the clock")
	}
}

// Request answers on a Serial cluster, where RequestFuture alone would
// wait for ever: nothing runs the master while the test blocks.
func TestRequestRunsTheCluster(t *testing.T) {
	c := Start(t, Options{})
	res := c.Request(t, c.Master, &messages.AgentHeartbeat{AgentId: &messages.AgentID{Value: "nobody"}})
	if e, ok := res.(*messages.Error); !ok || e.Code != messages.Error_UNKNOWN_AGENT {
		t.Fatalf("reply %v, want UNKNOWN_AGENT", res)
	}
}

// Actors of a Concurrent cluster run on their own: a wait needs no driver.
func TestConcurrentClusterRunsOnItsOwn(t *testing.T) {
	c := Start(t, Options{Agents: 2, Concurrent: true})
	if c.Serial() || c.Drain() != 0 {
		t.Fatal("a Concurrent cluster has a Serial dispatcher")
	}
	c.Events.WaitForCount(t, 0, 2, func(ev any) bool { _, ok := ev.(master.AgentAdmitted); return ok })
}

package master_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
)

func frameworkInfo(name string, roles ...string) *messages.FrameworkInfo {
	return &messages.FrameworkInfo{Name: name, Roles: roles}
}

// offersOf matches offers received by a testkit framework.
func offersOf(framework string) func(any) bool {
	return func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		if !ok || se.Framework != framework {
			return false
		}
		_, ok = se.Event.(*messages.Offers)
		return ok
	}
}

func errorOf(framework string, code messages.Error_Code) func(any) bool {
	return func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		if !ok || se.Framework != framework {
			return false
		}
		e, ok := se.Event.(*messages.Error)
		return ok && e.Code == code
	}
}

// holder keeps the offers a handler received, for the test to act on.
type holder struct {
	mu     sync.Mutex
	offers []*messages.Offer
}

func (h *holder) handler(d *scheduler.Driver, ev any) {
	if o, ok := ev.(*messages.Offers); ok {
		h.mu.Lock()
		h.offers = append(h.offers, o.Offers...)
		h.mu.Unlock()
	}
}

// firstOffer subscribes a framework with an acting handler and returns its
// scheduler and the first offer it gets.
func firstOffer(t *testing.T, c *testkit.Cluster, name, role string) (*actor.PID, *messages.Offer, *holder) {
	t.Helper()
	h := &holder{}
	pid := c.StartScheduler(frameworkInfo(name, role), actingHandler(h))
	c.Events.WaitFor(t, offersOf(name))
	h.mu.Lock()
	defer h.mu.Unlock()
	return pid, h.offers[0], h
}

// offerOf matches an offer to framework of exactly resources.
func offerOf(framework, resources string) func(any) bool {
	return func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		o, isOffers := se.Event.(*messages.Offers)
		return ok && se.Framework == framework && isOffers && messages.FormatResources(o.Offers[0].Resources) == resources
	}
}

// act runs f on the scheduler actor (Driver calls must come from it).
type act func(d *scheduler.Driver)

func actingHandler(h *holder) scheduler.HandlerFunc {
	return acting(scheduler.HandlerFunc(h.handler))
}

// A real process (the default containerizer): its start and exit come
// back from goroutines, and the waits block on them with the clock still;
// only once it ended does the test move the clock.
func TestCommandTaskRunsAndFrees(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Agents: 1, AgentResources: "cpus:1;mem:256"})
	pid, offer, _ := firstOffer(t, c, "fw", "r")
	if got := messages.FormatResources(offer.Resources); got != "cpus:1;mem:256" {
		t.Fatalf("offer %s", got)
	}
	mark := c.Events.Mark()
	c.System.Root.Send(pid, act(func(d *scheduler.Driver) {
		d.Launch([]*messages.Offer{offer}, scheduler.Command("t1", "echo hi; exit 0", scheduler.Resources("cpus:0.5;mem:128")))
	}))
	c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_STARTING))
	c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_RUNNING))
	fin := c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_FINISHED)).(testkit.SchedulerEvent)
	if st := fin.Event.(*messages.StatusUpdate).Status; st.GetExitCode() != 0 || len(st.Uuid) == 0 {
		t.Fatalf("finished status: %v", st)
	}
	// The unused half came back at once (filtered for fw for 5 s); after
	// the task ended the whole agent is offered again.
	c.AdvanceUntil(t, mark, 20*time.Second, offerOf("fw", "cpus:1;mem:256"))
}

// An accept asking for more than offered ends as TASK_ERROR with the reason,
// and the whole offer is offered again.
func TestOvercommitIsTaskError(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Agents: 1, AgentResources: "cpus:1;mem:256"})
	pid, offer, _ := firstOffer(t, c, "fw", "r")
	mark := c.Events.Mark()
	c.System.Root.Send(pid, act(func(d *scheduler.Driver) {
		d.Launch([]*messages.Offer{offer},
			scheduler.Command("big", "true", scheduler.Resources("cpus:2;mem:64")),
			scheduler.Command("", "true", scheduler.Resources("cpus:0.1")),
			scheduler.Command("zero", "true", nil),
			&messages.TaskInfo{TaskId: &messages.TaskID{Value: "nocmd"}, Resources: scheduler.Resources("cpus:0.1")},
		)
	}))
	ev := c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "big", messages.TaskState_TASK_ERROR)).(testkit.SchedulerEvent)
	st := ev.Event.(*messages.StatusUpdate).Status
	if st.Reason != messages.TaskStatusReason_REASON_TASK_INVALID || !strings.Contains(st.Message, "only cpus:1;mem:256 is left") {
		t.Fatalf("status: %v", st)
	}
	for _, id := range []string{"", "zero", "nocmd"} {
		c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", id, messages.TaskState_TASK_ERROR))
	}
	// Nothing launched, so no filter: the whole offer comes right back.
	c.Events.WaitForSince(t, mark, offerOf("fw", "cpus:1;mem:256"))
}

// Stale, foreign and unknown offers get an error; nothing leaks. Task y
// is a real process that runs until killed: the test waits on its events
// (it moves the clock only to have offers again, which y does not touch).
func TestBadOffersAreRejected(t *testing.T) {
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	ha, hb := &holder{}, &holder{}
	pa := c.StartScheduler(frameworkInfo("a", "ra"), actingHandler(ha))
	pb := c.StartScheduler(frameworkInfo("b", "rb"), actingHandler(hb))
	// Both subscribe before the agents come, so DRF gives each one agent.
	c.Events.WaitForCount(t, 0, 2, testkit.IsSubscribed)
	c.AddAgent(testkit.AgentSpec{})
	c.AddAgent(testkit.AgentSpec{})
	c.Events.WaitFor(t, offersOf("a"))
	c.Events.WaitFor(t, offersOf("b"))
	ha.mu.Lock()
	aOffer := ha.offers[0]
	ha.mu.Unlock()
	mark := c.Events.Mark()
	// b uses a's offer.
	c.System.Root.Send(pb, act(func(d *scheduler.Driver) {
		d.Launch([]*messages.Offer{aOffer}, scheduler.Command("x", "true", scheduler.Resources("cpus:0.1")))
	}))
	e := c.Events.WaitForSince(t, mark, errorOf("b", messages.Error_UNKNOWN_OFFER)).(testkit.SchedulerEvent)
	if !strings.Contains(e.Event.(*messages.Error).Message, "belongs to another framework") {
		t.Fatalf("error: %v", e.Event)
	}
	c.Events.WaitForSince(t, mark, testkit.IsStatus("b", "x", messages.TaskState_TASK_ERROR))
	// a's offer is still good for a; using it twice fails the second time.
	c.System.Root.Send(pa, act(func(d *scheduler.Driver) {
		d.Launch([]*messages.Offer{aOffer}, scheduler.Command("y", "sleep 600", scheduler.Resources("cpus:0.1")))
		d.Launch([]*messages.Offer{aOffer}, scheduler.Command("z", "true", scheduler.Resources("cpus:0.1")))
	}))
	c.Events.WaitForSince(t, mark, testkit.IsStatus("a", "y", messages.TaskState_TASK_RUNNING))
	c.Events.WaitForSince(t, mark, testkit.IsStatus("a", "z", messages.TaskState_TASK_ERROR))
	c.Events.WaitForSince(t, mark, errorOf("a", messages.Error_UNKNOWN_OFFER))
	// b leaves (its idle offer would otherwise take what a returns).
	c.System.Root.Send(pb, act(func(d *scheduler.Driver) { d.Teardown() }))
	// A duplicate live task ID is refused.
	mark2 := c.Events.Mark()
	c.AdvanceUntil(t, mark2, 20*time.Second, offersOf("a"))
	ha.mu.Lock()
	next := ha.offers[len(ha.offers)-1]
	ha.mu.Unlock()
	c.System.Root.Send(pa, act(func(d *scheduler.Driver) {
		d.Launch([]*messages.Offer{next}, scheduler.Command("y", "true", scheduler.Resources("cpus:0.1")))
	}))
	ev := c.Events.WaitForSince(t, mark2, testkit.IsStatus("a", "y", messages.TaskState_TASK_ERROR)).(testkit.SchedulerEvent)
	if !strings.Contains(ev.Event.(*messages.StatusUpdate).Status.Message, "already used by a live task") {
		t.Fatalf("duplicate: %v", ev.Event)
	}
	// Kill it so nothing is left running.
	c.System.Root.Send(pa, act(func(d *scheduler.Driver) { d.Kill("y", next.AgentId.Value) }))
	c.Events.WaitForSince(t, mark2, testkit.IsStatus("a", "y", messages.TaskState_TASK_KILLED))
}

// The first delivery of a status update is dropped on the way from the
// agent: the agent resends it, and the scheduler gets and acknowledges it
// once.
func TestDroppedStatusUpdateIsRetried(t *testing.T) {
	c := testkit.Start(t, testkit.Options{})
	drop := testkit.DropFirst(1, func(m any) bool {
		u, ok := m.(*messages.StatusUpdate)
		return ok && u.Status.State == messages.TaskState_TASK_RUNNING
	})
	c.AddAgent(testkit.AgentSpec{SenderMiddleware: []actor.SenderMiddleware{drop.Middleware()}, Containerizer: testkit.SimContainerizer{Clock: c.Clock}})
	pid, offer, _ := firstOffer(t, c, "fw", "r")
	c.System.Root.Send(pid, act(func(d *scheduler.Driver) {
		d.Launch([]*messages.Offer{offer}, scheduler.Command("t", "true", scheduler.Resources("cpus:1")))
	}))
	running := testkit.IsStatus("fw", "t", messages.TaskState_TASK_RUNNING)
	c.AdvanceUntil(t, 0, 30*time.Second, running)
	if drop.Dropped() != 1 {
		t.Fatalf("dropped %d updates, want 1", drop.Dropped())
	}
	c.Events.WaitFor(t, func(ev any) bool {
		u, ok := ev.(agent.UpdateAcknowledged)
		return ok && u.TaskID == "t" && u.State == messages.TaskState_TASK_RUNNING
	})
	// Acknowledged: later retry windows bring no duplicate.
	c.Advance(t, 2*time.Minute)
	if n := c.Events.Count(0, running); n != 1 {
		t.Fatalf("the scheduler saw RUNNING %d times, want once (acknowledged)", n)
	}
}

// Calls from a scheduler that was replaced (failover) or never subscribed
// are refused with an error; the current scheduler's calls work.
func TestCallsFromFailedOverSchedulerAreRefused(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Agents: 1})
	first := c.StartScheduler(frameworkInfo("fw", "r"), actingHandler(&holder{}))
	sub := c.Events.WaitFor(t, testkit.IsSubscribed).(master.FrameworkSubscribed)
	info := frameworkInfo("fw", "r")
	info.Id = &messages.FrameworkID{Value: sub.FrameworkID}
	mark := c.Events.Mark()
	second := c.StartScheduler(info, actingHandler(&holder{}))
	c.Events.WaitForSince(t, mark, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		_, failed := se.Event.(*messages.FrameworkFailedOver)
		return ok && failed
	})
	c.System.Root.Send(first, act(func(d *scheduler.Driver) { d.Revive() }))
	e := c.Events.WaitForSince(t, mark, errorOf("fw", messages.Error_UNKNOWN_FRAMEWORK)).(testkit.SchedulerEvent)
	if !strings.Contains(e.Event.(*messages.Error).Message, "another scheduler") {
		t.Fatalf("error: %v", e.Event)
	}
	// A call naming a framework nobody subscribed.
	res := c.Request(t, c.Master, &messages.Revive{FrameworkId: &messages.FrameworkID{Value: "nobody"}})
	if e, ok := res.(*messages.Error); !ok || e.Code != messages.Error_UNKNOWN_FRAMEWORK {
		t.Fatalf("unknown framework: %v", res)
	}
	// The new scheduler is the framework now.
	c.System.Root.Send(second, act(func(d *scheduler.Driver) { d.Teardown() }))
	c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(master.FrameworkRemoved); return ok })
}

// A scheduler's subscription retry that crossed the master's answer (the
// master was slow to reach) is answered again, and its offers stand: it
// may already be launching on them. (The task is a real process; the
// test waits on its events and never moves the clock.)
func TestRetriedSubscriptionKeepsOffers(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Agents: 1})
	pid, offer, _ := firstOffer(t, c, "fw", "r")
	mark := c.Events.Mark()
	info := frameworkInfo("fw", "r")
	info.Id = offer.FrameworkId
	c.System.Root.Send(c.Master, &messages.SubscribeFramework{Info: info, Pid: pid})
	c.Events.WaitForSince(t, mark, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		_, subscribed := se.Event.(*messages.FrameworkSubscribed)
		return ok && subscribed
	})
	c.System.Root.Send(pid, act(func(d *scheduler.Driver) {
		d.Launch([]*messages.Offer{offer}, scheduler.Command("t", "true", scheduler.Resources("cpus:1;mem:64")))
	}))
	c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "t", messages.TaskState_TASK_FINISHED))
	if n := c.Events.Count(mark, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		_, rescinded := se.Event.(*messages.RescindOffer)
		return ok && rescinded
	}); n > 0 {
		t.Fatalf("%d offers rescinded after a retried subscription", n)
	}
}

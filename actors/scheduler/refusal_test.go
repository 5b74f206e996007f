package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
)

// A master that refuses a subscription for good (an invalid role here) is
// not asked again: the handler gets the master's error, and no retry timer
// sends another subscription.
func TestRefusedSubscriptionIsNotRetried(t *testing.T) {
	sys := actor.NewActorSystem()
	subs := make(chan *messages.SubscribeFramework, 8)
	master := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*messages.SubscribeFramework); ok {
			subs <- m
			ctx.Send(m.Pid, &messages.Error{Code: messages.Error_INVALID_ARGUMENT, Message: `role "x/../y": a role name has no "." or ".." segment`,
				Request: string((&messages.SubscribeFramework{}).ProtoReflect().Descriptor().FullName())})
		}
	}))
	clock := clockwork.NewFakeClock()
	evs := start(t, master, sys, clock)
	nextSub(t, subs)
	if e := next[*messages.Error](t, evs); e.Code != messages.Error_INVALID_ARGUMENT {
		t.Fatalf("error: %v", e)
	}
	// Any retry timer armed fires now. The fake clock runs it on a
	// goroutine of its own, so a retry would arrive shortly: this waits a
	// bounded moment for something that must not happen (it cannot fail
	// a correct scheduler, only miss a wrong one on a very slow machine).
	clock.Advance(time.Hour)
	select {
	case s := <-subs:
		t.Fatalf("subscribed again after a refusal: %v", s)
	case <-time.After(200 * time.Millisecond):
	}
}

// A master that never answers: each retry tells the handler how many
// subscriptions went unanswered and for how long.
func TestUnansweredSubscriptionsAreReported(t *testing.T) {
	sys := actor.NewActorSystem()
	subs := make(chan *messages.SubscribeFramework, 8)
	master := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*messages.SubscribeFramework); ok {
			subs <- m // and no answer
		}
	}))
	clock := clockwork.NewFakeClock()
	evs := start(t, master, sys, clock)
	nextSub(t, subs)
	blockUntil(t, clock, 1)
	clock.Advance(2 * time.Second)
	u := next[scheduler.Unanswered](t, evs)
	if u.Attempts != 1 || u.Waited != 2*time.Second || u.Master != master.Address {
		t.Fatalf("first report: %+v", u)
	}
	nextSub(t, subs)
	blockUntil(t, clock, 1)
	clock.Advance(4 * time.Second)
	if u := next[scheduler.Unanswered](t, evs); u.Attempts != 2 || u.Waited != 6*time.Second {
		t.Fatalf("second report: %+v", u)
	}
}

// TeardownAndWait returns once the master says the framework is gone.
func TestTeardownAndWait(t *testing.T) {
	sys := actor.NewActorSystem()
	subs := make(chan *messages.SubscribeFramework, 8)
	torn := make(chan *messages.Teardown, 1)
	master := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *messages.SubscribeFramework:
			subs <- m
			ctx.Send(m.Pid, &messages.FrameworkSubscribed{FrameworkId: &messages.FrameworkID{Value: "f1"}, Master: &messages.MasterInfo{Epoch: 1}})
		case *messages.Teardown:
			torn <- m
			ctx.Send(ctx.Sender(), &messages.Error{Code: messages.Error_UNKNOWN_FRAMEWORK, Message: "framework removed"})
		}
	}))
	evs := make(chan any, 64)
	pid := sys.Root.Spawn(scheduler.Props(scheduler.Config{Master: master, Info: &messages.FrameworkInfo{Name: "f", Roles: []string{"r"}}}, events(evs)))
	next[*messages.FrameworkSubscribed](t, evs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := scheduler.TeardownAndWait(ctx, sys.Root, pid); err != nil {
		t.Fatal(err)
	}
	if m := <-torn; m.FrameworkId.GetValue() != "f1" {
		t.Fatalf("teardown of %v", m.FrameworkId)
	}
}

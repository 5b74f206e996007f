package scheduler_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
)

// fakeMaster answers every subscription as a master with epoch would,
// naming the framework f1, and reports each subscription it received.
func fakeMaster(epoch uint64, heartbeat time.Duration, subs chan<- *messages.SubscribeFramework) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*messages.SubscribeFramework); ok {
			subs <- m
			ctx.Send(m.Pid, &messages.FrameworkSubscribed{FrameworkId: &messages.FrameworkID{Value: "f1"},
				Master: &messages.MasterInfo{Epoch: epoch}, HeartbeatIntervalNanos: int64(heartbeat)})
		}
	})
}

// events collects what the handler receives.
func events(ch chan<- any) scheduler.Handler {
	return scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) { ch <- ev })
}

func next[T any](t *testing.T, ch <-chan any) T {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-ch:
			if v, ok := ev.(T); ok {
				return v
			}
		case <-timeout:
			var zero T
			t.Fatalf("no %T within 10 s", zero)
			return zero
		}
	}
}

func nextSub(t *testing.T, subs <-chan *messages.SubscribeFramework) *messages.SubscribeFramework {
	t.Helper()
	select {
	case s := <-subs:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no subscription within 10 s")
		return nil
	}
}

func blockUntil(t *testing.T, clock *clockwork.FakeClock, timers int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, timers); err != nil {
		t.Fatalf("waiting for %d timers: %v", timers, err)
	}
}

func start(t *testing.T, master *actor.PID, sys *actor.ActorSystem, clock clockwork.Clock) chan any {
	t.Helper()
	evs := make(chan any, 64)
	sys.Root.Spawn(scheduler.Props(scheduler.Config{Master: master, Info: &messages.FrameworkInfo{Name: "f", Roles: []string{"r"}},
		Clock: clock, Rand: rand.New(rand.NewPCG(1, 2))}, events(evs)))
	return evs
}

// Mesos v1 (mesos-go: 5 heartbeat intervals): a scheduler that hears
// nothing from its master for MaxMissedHeartbeats intervals takes the
// connection as lost, tells its handler, and subscribes again with its
// FrameworkID; any message from the master, heartbeats included, counts.
func TestSchedulerResubscribesWhenHeartbeatsStop(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	clock := clockwork.NewFakeClock()
	subs := make(chan *messages.SubscribeFramework, 8)
	master := sys.Root.Spawn(fakeMaster(1, time.Second, subs))
	evs := start(t, master, sys, clock)
	sched := nextSub(t, subs).Pid
	next[*messages.FrameworkSubscribed](t, evs)
	blockUntil(t, clock, 2) // the (stale) subscription retry and the heartbeat check
	clock.Advance(3 * time.Second)
	// A heartbeat at 3 s, and an update after it: once the handler has
	// the update, the heartbeat was heard.
	sys.Root.Send(sched, &messages.FrameworkHeartbeat{MasterEpoch: 1})
	sys.Root.Send(sched, &messages.StatusUpdate{MasterEpoch: 1, Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: "t"}}})
	next[*messages.StatusUpdate](t, evs)
	clock.Advance(2 * time.Second) // 5 s after subscribing, 2 s after the heartbeat
	blockUntil(t, clock, 1)        // the check, armed again for the heartbeat's 5 s
	select {
	case ev := <-evs:
		t.Fatalf("the handler got %T while heartbeats arrived", ev)
	default:
	}
	clock.Advance(3 * time.Second) // 5 s of silence
	if d := next[scheduler.Disconnected](t, evs); d.Reason == "" {
		t.Fatal("Disconnected without a reason")
	}
	if again := nextSub(t, subs); again.Info.GetId().GetValue() != "f1" {
		t.Fatalf("subscribed again as %q, want its FrameworkID f1", again.Info.GetId().GetValue())
	}
	next[*messages.FrameworkSubscribed](t, evs)
}

// A scheduler whose connection to its master drops (the master's process
// or actor is gone: a Terminated for the watched master) tells its handler
// and subscribes again, with backoff, until a master at that address
// answers; it keeps its FrameworkID.
func TestSchedulerResubscribesWhenTheConnectionDrops(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	clock := clockwork.NewFakeClock()
	subs := make(chan *messages.SubscribeFramework, 8)
	master, err := sys.Root.SpawnNamed(fakeMaster(1, 0, subs), "master")
	if err != nil {
		t.Fatal(err)
	}
	evs := start(t, master, sys, clock)
	nextSub(t, subs)
	next[*messages.FrameworkSubscribed](t, evs)
	if err := sys.Root.StopFuture(master).Wait(); err != nil {
		t.Fatal(err)
	}
	next[scheduler.Disconnected](t, evs)
	// The first try went to no one; a master is back at that address
	// before the next.
	if _, err := sys.Root.SpawnNamed(fakeMaster(1, 0, subs), "master"); err != nil {
		t.Fatal(err)
	}
	blockUntil(t, clock, 2) // the stale retry of the first subscription, and this one's
	clock.Advance(2 * time.Second)
	if again := nextSub(t, subs); again.Info.GetId().GetValue() != "f1" {
		t.Fatalf("subscribed again as %q, want f1", again.Info.GetId().GetValue())
	}
	next[*messages.FrameworkSubscribed](t, evs)
}

// A standby answers a subscription with NOT_LEADER naming a newer
// leader: the scheduler goes there at once.
func TestSchedulerFollowsTheLeaderAStandbyNames(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	subs := make(chan *messages.SubscribeFramework, 8)
	if _, err := sys.Root.SpawnNamed(fakeMaster(2, 0, subs), scheduler.MasterName); err != nil {
		t.Fatal(err)
	}
	standby := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*messages.SubscribeFramework); ok {
			ctx.Respond(&messages.Error{Code: messages.Error_NOT_LEADER, Leader: &messages.MasterInfo{Address: sys.Address(), Epoch: 2}})
		}
	}))
	evs := start(t, standby, sys, clockwork.NewFakeClock())
	if e := next[*messages.Error](t, evs); e.Code != messages.Error_NOT_LEADER {
		t.Fatalf("got %v", e)
	}
	nextSub(t, subs)
	if s := next[*messages.FrameworkSubscribed](t, evs); s.Master.GetEpoch() != 2 {
		t.Fatalf("subscribed with %v", s.Master)
	}
}

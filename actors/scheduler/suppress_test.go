package scheduler_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
)

// With KeepSuppressed, a framework's suppression outlives a failover, as
// Mesos' v1 SUBSCRIBE carries suppressed_roles: the subscription to a new leader names the
// roles suppressed and not revived since, so that leader offers them
// nothing while every agent re-registers; a revival ends it.
func TestSubscriptionCarriesSuppressedRoles(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	subs := make(chan *messages.SubscribeFramework, 8)
	masters := []*actor.PID{sys.Root.Spawn(fakeMaster(1, 0, subs)), sys.Root.Spawn(fakeMaster(2, 0, subs)), sys.Root.Spawn(fakeMaster(3, 0, subs))}
	evs := make(chan any, 64)
	n := 0
	handler := scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		if _, ok := ev.(*messages.FrameworkSubscribed); ok {
			n++
			switch n {
			case 1:
				d.Suppress() // all of its roles
			case 2:
				d.Revive("b")
			}
		}
		evs <- ev
	})
	pid := sys.Root.Spawn(scheduler.Props(scheduler.Config{Master: masters[0], Info: &messages.FrameworkInfo{Name: "f", Roles: []string{"a", "b"}},
		Clock: clockwork.NewFakeClock(), Rand: rand.New(rand.NewPCG(1, 2)), KeepSuppressed: true}, handler))
	if s := nextSub(t, subs); len(s.SuppressedRoles) != 0 {
		t.Fatalf("the first subscription names suppressed roles %v", s.SuppressedRoles)
	}
	next[*messages.FrameworkSubscribed](t, evs)
	for i, want := range [][]string{{"a", "b"}, {"a"}} {
		sys.Root.Send(pid, scheduler.MasterDetected{Master: masters[i+1], Epoch: uint64(i + 2)})
		if s := nextSub(t, subs); !slices.Equal(s.SuppressedRoles, want) {
			t.Errorf("subscription to the leader of epoch %d names suppressed roles %v, want %v", i+2, s.SuppressedRoles, want)
		}
		next[*messages.FrameworkSubscribed](t, evs)
	}
}

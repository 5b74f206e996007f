package health_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/health"
	"github.com/asynkron/protoactor-go/actor"
)

// An actor that answers, one that is stopped, one that is stuck in
// Receive, and none: only the first passes, and the error names the actor.
func TestCheck(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	ok := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	stopped := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	if err := sys.Root.StopFuture(stopped).Wait(); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	stuck := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, probe := ctx.Message().(*actor.Touch); probe {
			<-release
		}
	}))
	if err := health.Check(t.Context(), sys.Root, health.Actor{Name: "ok", PID: ok}); err != nil {
		t.Fatalf("a live actor: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	for name, pid := range map[string]*actor.PID{"stopped": stopped, "stuck": stuck, "absent": nil} {
		err := health.Check(ctx, sys.Root, health.Actor{Name: "ok", PID: ok}, health.Actor{Name: name, PID: pid})
		if !errors.Is(err, health.ErrNotAnswering) || !strings.Contains(err.Error(), "the "+name+" actor") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// BenchmarkCheck probes two local actors, as the master's /health does.
func BenchmarkCheck(b *testing.B) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	a := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	c := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	for i := 0; i < b.N; i++ {
		if err := health.Check(b.Context(), sys.Root, health.Actor{Name: "a", PID: a}, health.Actor{Name: "c", PID: c}); err != nil {
			b.Fatal(err)
		}
	}
}

package testkit

import (
	"fmt"
	"slices"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

// Actors on a Serial dispatcher run only in Drain, one at a time, in the
// order they became runnable, cascades included: the same sends give the
// same order of handling, run after run.
func TestSerialRunsInOrder(t *testing.T) {
	for run := 0; run < 3; run++ {
		s := &Serial{}
		sys := actor.NewActorSystem()
		var log []string
		var pids []*actor.PID
		for i := 0; i < 3; i++ {
			name := fmt.Sprintf("a%d", i)
			pids = append(pids, sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
				if n, ok := ctx.Message().(int); ok {
					log = append(log, fmt.Sprintf("%s:%d", name, n))
					if n > 0 { // pass it on to the next actor, one less
						ctx.Send(pids[(slices.Index(pids, ctx.Self())+1)%len(pids)], n-1)
					}
				}
			}, actor.WithDispatcher(s))))
		}
		sys.Root.Send(pids[0], 2)
		sys.Root.Send(pids[2], 1)
		if len(log) != 0 {
			t.Fatal("an actor ran outside Drain")
		}
		if n := s.Run(); n == 0 {
			t.Fatal("Drain ran nothing")
		}
		// Spawning made each mailbox runnable (Started), in spawn order;
		// a mailbox runs whatever it holds when its turn comes.
		want := []string{"a0:2", "a1:1", "a2:1", "a2:0", "a0:0"}
		if !slices.Equal(log, want) {
			t.Fatalf("run %d handled %v, want %v", run, log, want)
		}
		if s.Run() != 0 {
			t.Fatal("work left after Drain")
		}
		sys.Shutdown()
	}
}

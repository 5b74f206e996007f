// Package health tells whether actors still take messages. A stopped actor
// (a PoisonPill, a crash, a bug) leaves its name empty and nothing else in
// its process notices: the node's HTTP API still answers. A probe is a
// Touch request, which an actor's context answers (Touched) only once the
// actor itself has taken it from its mailbox, so a stopped actor, or one
// stuck in Receive, fails it.
//
// Usage: an HTTP /health handler calls Check with the actors it stands for
// and answers 503 with the error when one does not answer:
//
//	err := health.Check(r.Context(), sys.Root, health.Actor{Name: "master", PID: master})
//
// Actors that take the probe must not mistake it for a bad request: their
// Receive handles *actor.Touch as a no-op.
package health

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Timeout bounds a probe when ctx has no sooner deadline: a local actor
// answers in microseconds, a busy one within its current message.
const Timeout = 2 * time.Second

// ErrNotAnswering: an actor did not answer a probe.
var ErrNotAnswering = errors.New("actor does not answer")

// Actor is an actor to probe, named for the error.
type Actor struct {
	Name string
	// PID is nil when the actor is not running (never started, or its
	// owner stopped it).
	PID *actor.PID
}

// Check probes each actor in turn and returns an error naming the first
// that does not answer within Timeout (or ctx's deadline).
func Check(ctx context.Context, root *actor.RootContext, actors ...Actor) error {
	timeout := Timeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Until(d), time.Millisecond)
	}
	for _, a := range actors {
		if a.PID == nil {
			return fmt.Errorf("%w: the %s actor is not running", ErrNotAnswering, a.Name)
		}
		res, err := root.RequestFuture(a.PID, &actor.Touch{}, timeout).Result()
		if err != nil {
			return fmt.Errorf("%w: the %s actor (%s) did not answer a probe within %v: it has stopped, or is stuck (%v); restart the node",
				ErrNotAnswering, a.Name, a.PID.Id, timeout, err)
		}
		if _, ok := res.(*actor.Touched); !ok {
			return fmt.Errorf("%w: the %s actor answered a probe with %T", ErrNotAnswering, a.Name, res)
		}
	}
	return nil
}

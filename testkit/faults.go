package testkit

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// Drop is a fault: it drops the first N messages an actor sends that match,
// then lets everything through. Install it with Middleware (for example in
// AgentSpec.SenderMiddleware); it counts what it dropped.
type Drop struct {
	mu        sync.Mutex
	remaining int
	match     func(msg any) bool
	dropped   int
}

// DropFirst returns a fault dropping the first n matching messages.
func DropFirst(n int, match func(msg any) bool) *Drop { return &Drop{remaining: n, match: match} }

// Dropped is how many messages were dropped so far.
func (d *Drop) Dropped() int { d.mu.Lock(); defer d.mu.Unlock(); return d.dropped }

// Middleware is the proto.actor sender middleware that applies the fault.
func (d *Drop) Middleware() actor.SenderMiddleware {
	return func(next actor.SenderFunc) actor.SenderFunc {
		return func(c actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
			d.mu.Lock()
			drop := d.remaining > 0 && d.match(env.Message)
			if drop {
				d.remaining--
				d.dropped++
			}
			d.mu.Unlock()
			if !drop {
				next(c, target, env)
			}
		}
	}
}

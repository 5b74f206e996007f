package testkit

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
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

// Partition cuts an agent off from the rest of the cluster in both
// directions while it is cut: every Agora message it sends or receives is
// dropped (its own timers and task events still reach it). Install it with
// AgentSpec.Partition; Cut and Heal switch it.
type Partition struct {
	mu      sync.Mutex
	cut     bool
	dropped int
}

// Cut starts dropping.
func (p *Partition) Cut() { p.mu.Lock(); p.cut = true; p.mu.Unlock() }

// Heal lets messages through again.
func (p *Partition) Heal() { p.mu.Lock(); p.cut = false; p.mu.Unlock() }

// Dropped is how many messages were dropped so far.
func (p *Partition) Dropped() int { p.mu.Lock(); defer p.mu.Unlock(); return p.dropped }

func (p *Partition) drop(msg any) bool {
	m, ok := msg.(proto.Message)
	if !ok || m.ProtoReflect().Descriptor().ParentFile().Package() != "agora.v1" {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		p.dropped++
	}
	return p.cut
}

func (p *Partition) sender() actor.SenderMiddleware {
	return func(next actor.SenderFunc) actor.SenderFunc {
		return func(c actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
			if !p.drop(env.Message) {
				next(c, target, env)
			}
		}
	}
}

func (p *Partition) receiver() actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			if !p.drop(env.Message) {
				next(c, env)
			}
		}
	}
}

package sim

import (
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/agora-sched/agora/actors/master"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// messageFault drops or delays a fraction of the Agora messages one kind
// of actor sends, during its window. Its source is seeded; on the virtual
// clock it is drawn in a reproducible order.
type messageFault struct {
	spec FaultSpec
	r    *run
	mu   sync.Mutex // agents draw from rng on their own goroutines (real clock)
	rng  *rand.Rand
}

// middleware returns the sender middleware for the actors named from
// ("agents", "schedulers", "master"): message faults acting on what they
// send, and the network's latency on what they send to another node. Nil
// when neither applies.
func (r *run) middleware(from string) []actor.SenderMiddleware {
	var faults []*messageFault
	for _, f := range r.msgFaults {
		if f.spec.From == from {
			faults = append(faults, f)
		}
	}
	latency := r.w.Network.Latency.D()
	if len(faults) == 0 && latency == 0 {
		return nil
	}
	return []actor.SenderMiddleware{func(next actor.SenderFunc) actor.SenderFunc {
		return func(ctx actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
			for _, f := range faults {
				if f.applies(target, env.Message) {
					if f.spec.Kind == "drop-messages" {
						r.dropped.Add(1)
						return
					}
					r.delayed.Add(1)
					r.deliverLater(ctx, target, env, f.spec.Delay.D()+latency)
					return
				}
			}
			if latency > 0 && isAgora(env.Message) {
				if to := r.kindOf(target); to != "" && to != from {
					r.deliverLater(ctx, target, env, latency)
					return
				}
			}
			next(ctx, target, env)
		}
	}}
}

// deliverLater sends env's message to target after d on the run's clock,
// from its original sender. A fixed delay keeps the order of what one
// actor sends another, as a TCP connection between their nodes does.
func (r *run) deliverLater(ctx actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope, d time.Duration) {
	sys, msg, sender := ctx.ActorSystem(), env.Message, env.Sender
	deliver := func() {
		if sender == nil {
			sys.Root.Send(target, msg)
			return
		}
		sys.Root.RequestWithCustomSender(target, msg, sender)
	}
	if r.line != nil && d == r.w.Network.Latency.D() {
		r.line.AfterFunc(deliver) // the same order as a timer each, for less
		return
	}
	r.clock.AfterFunc(d, deliver)
}

// isAgora reports whether msg is one of Agora's protocol messages (not a
// proto.actor system message).
func isAgora(msg any) bool {
	m, ok := msg.(proto.Message)
	return ok && m.ProtoReflect().Descriptor().ParentFile().Package() == "agora.v1"
}

// applies draws whether this message is hit.
func (f *messageFault) applies(target *actor.PID, msg any) bool {
	if !isAgora(msg) {
		return false
	}
	if f.spec.To != "" && f.r.kindOf(target) != f.spec.To {
		return false
	}
	desc := msg.(proto.Message).ProtoReflect().Descriptor()
	if f.spec.Message != "" && string(desc.Name()) != f.spec.Message && string(desc.FullName()) != f.spec.Message {
		return false
	}
	since := f.r.clock.Since(f.r.start)
	if since < f.spec.At.D() || since >= f.spec.At.D()+f.spec.For.D() {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64() < f.spec.Fraction
}

// kindOf names what target is: "master" (the master or one of its
// handlers), "agents", "schedulers", or "" (anything else).
func (r *run) kindOf(target *actor.PID) string {
	if target == nil {
		return ""
	}
	if target.Id == master.Name || strings.HasPrefix(target.Id, master.Name+"/") {
		return "master"
	}
	r.kindsMu.RLock()
	defer r.kindsMu.RUnlock()
	return r.kinds[target.Id]
}

// setKind notes what pid is ("agents" or "schedulers"), for kindOf.
func (r *run) setKind(pid *actor.PID, kind string) {
	r.kindsMu.Lock()
	defer r.kindsMu.Unlock()
	r.kinds[pid.Id] = kind
}

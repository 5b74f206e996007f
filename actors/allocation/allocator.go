// Package allocation is the allocator actor: it owns an allocation policy
// (package allocator at the top level, plain Go), applies the master's
// changes to it, and sends the master what it grants: in a batch cycle on an
// interval, and event-driven (an agent added or resources returned) for
// just the agents involved.
//
// Events are coalesced: a burst of changes marks agents (or everything)
// dirty and arms one pending run, as Mesos' allocator does.
package allocation

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
)

// Name is the allocator actor's name on the master node.
const Name = "allocator"

// Config is what the allocator actor is built from.
type Config struct {
	Policy policy.Allocator
	// Master receives Allocated messages.
	Master *actor.PID
	Clock  clockwork.Clock
	Logger *slog.Logger
	// Interval between batch cycles; 0 means 1 s (Mesos' default).
	Interval time.Duration
	Metrics  *Metrics
	// ActorOptions are added to the actor's props: testkit's simulations
	// run every actor on one serial dispatcher, and inject faults as
	// middleware.
	ActorOptions []actor.PropsOption
}

// Messages the master sends. They are local to the master node.
type (
	AddAgent            struct{ Agent policy.Agent }
	RemoveAgent         struct{ AgentID string }
	AddFramework        struct{ Framework policy.Framework }
	RemoveFramework     struct{ FrameworkID string }
	ActivateFramework   struct{ FrameworkID string }
	DeactivateFramework struct{ FrameworkID string }
	Suppress            struct {
		FrameworkID string
		Roles       []string
	}
	Revive struct {
		FrameworkID string
		Roles       []string
	}
	SetWeight struct {
		Role   string
		Weight float64
	}
	SetQuota struct {
		Role  string
		Quota policy.Quota
	}
	// Return gives resources back: declined (Decline, with a rotating
	// filter), left unused by an accept (Unused, with a plain filter), or
	// freed (neither: tasks ended, offers rescinded).
	Return struct {
		FrameworkID, Role, AgentID string
		Resources, Revocable       policy.Resources
		Decline, Unused            bool
		// Refuse is the filter's duration; negative means the default.
		Refuse time.Duration
	}
)

// CheckShortfalls asks for the roles whose guarantees free resources
// cannot cover; it is answered with Shortfalls.
type CheckShortfalls struct{}

// Shortfalls answers CheckShortfalls (policy.Allocator.Shortfalls).
type Shortfalls struct{ Roles []policy.Shortfall }

// Sync is answered (with Sync) once every message sent to the allocator
// before it has been handled: a barrier for tests and benchmarks.
type Sync struct{}

// Allocated is what the allocator sends the master: grants to turn into
// offers.
type Allocated struct{ Grants []policy.Grant }

type (
	batchTick struct{}
	runDirty  struct{}
)

type allocatorActor struct {
	cfg     Config
	log     *slog.Logger
	dirty   map[string]bool // agents to allocate event-driven
	order   []string        // dirty agents in the order they were marked: map order would make simulations irreproducible
	all     bool            // everything is dirty (a framework came or revived)
	pending bool            // a runDirty is queued
	sys     *actor.ActorSystem
	self    *actor.PID
}

// Props returns the props of the allocator actor.
func Props(cfg Config) *actor.Props {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &allocatorActor{cfg: cfg, log: cfg.Logger.With("component", "allocator"), dirty: map[string]bool{}}
	}, cfg.ActorOptions...)
}

func (a *allocatorActor) Receive(ctx actor.Context) {
	p := a.cfg.Policy
	var err error
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.sys, a.self = ctx.ActorSystem(), ctx.Self()
		a.later(a.cfg.Interval, batchTick{})
	case batchTick:
		a.batch()
		a.later(a.cfg.Interval, batchTick{})
	case runDirty:
		a.pending = false
		a.runDirty()
	case Sync:
		if a.pending { // the event-driven run queued before Sync goes first
			a.pending = false
			a.runDirty()
		}
		ctx.Respond(Sync{})
	case CheckShortfalls:
		ctx.Respond(Shortfalls{Roles: p.Shortfalls()})
	case AddAgent:
		if err = p.AddAgent(m.Agent); err == nil {
			a.markAgent(m.Agent.ID)
		}
	case RemoveAgent:
		err = p.RemoveAgent(m.AgentID)
		delete(a.dirty, m.AgentID)
	case AddFramework:
		if err = p.AddFramework(m.Framework); err == nil {
			a.markAll()
		}
	case RemoveFramework:
		err = p.RemoveFramework(m.FrameworkID)
		a.markAll() // its allocations came back
	case ActivateFramework:
		if err = p.ActivateFramework(m.FrameworkID); err == nil {
			a.markAll()
		}
	case DeactivateFramework:
		err = p.DeactivateFramework(m.FrameworkID)
	case Suppress:
		err = p.Suppress(m.FrameworkID, m.Roles...)
	case Revive:
		if err = p.Revive(m.FrameworkID, m.Roles...); err == nil {
			a.markAll()
		}
	case SetWeight:
		err = p.SetWeight(m.Role, m.Weight)
	case SetQuota:
		if err = p.SetQuota(m.Role, m.Quota); err == nil {
			a.markAll()
		}
	case Return:
		now := a.cfg.Clock.Now()
		switch {
		case m.Decline:
			err = p.Decline(m.FrameworkID, m.Role, m.AgentID, m.Resources, m.Revocable, m.Refuse, now)
		case m.Unused:
			err = p.ReturnUnused(m.FrameworkID, m.Role, m.AgentID, m.Resources, m.Revocable, m.Refuse, now)
		default:
			err = p.Recover(m.FrameworkID, m.Role, m.AgentID, m.Resources, m.Revocable)
		}
		if err == nil {
			a.markAgent(m.AgentID)
		}
	case *actor.Stopped:
		// A stale PID (which caches its process) must not keep the
		// policy's state reachable after the allocator stops.
		a.cfg.Policy, a.dirty = nil, nil
	case *actor.Stopping, *actor.Restarting:
	default:
		a.log.Warn("allocator: unexpected message", "type", fmt.Sprintf("%T", m))
	}
	if err != nil {
		// The master and the allocator keep separate books; a refusal
		// here means they disagree, which the invariant tests rule out.
		a.cfg.Metrics.errors.Inc()
		a.cfg.Metrics.refused.Add(1)
		a.log.Error("allocator refused a change from the master", "type", fmt.Sprintf("%T", ctx.Message()), "err", err)
	}
}

func (a *allocatorActor) markAgent(id string) {
	if !a.dirty[id] {
		a.dirty[id] = true
		a.order = append(a.order, id)
	}
	a.schedule()
}

func (a *allocatorActor) markAll() {
	a.all = true
	a.schedule()
}

func (a *allocatorActor) schedule() {
	if !a.pending {
		a.pending = true
		a.sys.Root.Send(a.self, runDirty{})
	}
}

func (a *allocatorActor) batch() {
	a.all = false
	clear(a.dirty)
	a.order = a.order[:0]
	a.send(a.cfg.Policy.Allocate(a.cfg.Clock.Now()), "batch")
}

func (a *allocatorActor) runDirty() {
	if a.all {
		a.batch()
		return
	}
	now := a.cfg.Clock.Now()
	var grants []policy.Grant
	for _, id := range a.order {
		grants = append(grants, a.cfg.Policy.AllocateAgent(id, now)...)
	}
	clear(a.dirty)
	a.order = a.order[:0]
	a.send(grants, "event")
}

func (a *allocatorActor) send(grants []policy.Grant, kind string) {
	a.cfg.Metrics.runs.WithLabelValues(kind).Inc()
	a.cfg.Metrics.grants.Add(float64(len(grants)))
	if len(grants) > 0 {
		a.sys.Root.Send(a.cfg.Master, Allocated{Grants: grants})
	}
}

func (a *allocatorActor) later(d time.Duration, msg any) {
	sys, self := a.sys, a.self
	a.cfg.Clock.AfterFunc(d, func() { sys.Root.Send(self, msg) })
}

// Metrics are the allocator's Prometheus series.
type Metrics struct {
	runs    *prometheus.CounterVec
	grants  prometheus.Counter
	errors  prometheus.Counter
	refused atomic.Int64
}

// Refused is how many changes from the master the policy refused; anything
// but 0 means the master's and the allocator's books disagree.
func (m *Metrics) Refused() int64 { return m.refused.Load() }

// NewMetrics creates the allocator's series and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "allocator", Name: "runs_total", Help: "Allocation runs, batch or event-driven.",
		}, []string{"kind"}),
		grants: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "allocator", Name: "grants_total", Help: "Grants sent to the master.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "allocator", Name: "refused_changes_total", Help: "Changes from the master the policy refused (books disagree).",
		}),
	}
	reg.MustRegister(m.runs, m.grants, m.errors)
	return m
}

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
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// Name is the allocator actor's name on the master node.
const Name = "allocator"

// Config is what the allocator actor is built from.
type Config struct {
	Policy policy.Allocator
	// Master receives messages.Allocated.
	Master *actor.PID
	Clock  clockwork.Clock
	Logger *slog.Logger
	// Interval between batch cycles; 0 means 1 s (Mesos' default).
	Interval time.Duration
	Metrics  *Metrics
	// Fence, when set, is asked before grants go out: the term that runs
	// the allocator closes it the moment leadership is lost.
	Fence interface{ Admit() bool }
	// ActorOptions are added to the actor's props: testkit's simulations
	// run every actor on one serial dispatcher, and inject faults as
	// middleware.
	ActorOptions []actor.PropsOption
}

// The master talks to the allocator with the Allocator* messages of
// messages/allocation.proto and receives messages.Allocated (grants) and
// messages.AllocatorShortfalls back: protobuf, so that the allocator can
// live on another node; between local actors they pass as pointers.

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
	if from := security.SenderOf(ctx); !from.Acts(security.RoleMaster) {
		// Only the master changes the allocator's books: a peer that
		// returned a running task's resources would have them offered
		// twice. Probes (Touch) need no identity.
		if _, probe := ctx.Message().(*actor.Touch); !probe {
			a.cfg.Metrics.refused.Add(1)
			a.log.Warn("allocator: refused a message only the master and its allocator exchange", "type", fmt.Sprintf("%T", ctx.Message()),
				"sender", from.String(), "sender_pid", ctx.Sender().String())
			return
		}
	}
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
	case *messages.AllocatorSync:
		if a.pending { // the event-driven run queued before Sync goes first
			a.pending = false
			a.runDirty()
		}
		ctx.Respond(&messages.AllocatorSync{})
	case *messages.AllocatorCheckShortfalls:
		ctx.Respond(policy.ToShortfalls(p.Shortfalls()))
	case *messages.AllocatorAddAgent, *messages.AllocatorRemoveAgent, *messages.AllocatorAddFramework, *messages.AllocatorRemoveFramework,
		*messages.AllocatorActivateFramework, *messages.AllocatorDeactivateFramework, *messages.AllocatorSuppress,
		*messages.AllocatorRevive, *messages.AllocatorSetRole, *messages.AllocatorReturn, *messages.AllocatorUpdateReservation,
		*messages.AllocatorDeactivateAgent, *messages.AllocatorActivateAgent, *messages.AllocatorTransfer:
		var d policy.Dirty
		d, err = policy.Apply(p, m.(proto.Message), a.cfg.Clock.Now())
		switch {
		case d.Removed != "":
			delete(a.dirty, d.Removed)
		case err != nil:
		case d.All:
			a.markAll()
		case d.Agent != "":
			a.markAgent(d.Agent)
		}
	case *actor.Stopped:
		// A stale PID (which caches its process) must not keep the
		// policy's state reachable after the allocator stops.
		a.cfg.Policy, a.dirty = nil, nil
	case *actor.Stopping, *actor.Restarting:
	case *actor.Touch:
		// A liveness probe (the master's /health): answered by the actor
		// system once the allocator has taken it from its mailbox.
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
	start := time.Now() // the run's cost in CPU time, not the cluster's clock
	grants := a.cfg.Policy.Allocate(a.cfg.Clock.Now())
	a.cfg.Metrics.took.WithLabelValues("batch").Observe(time.Since(start).Seconds())
	a.send(grants, "batch")
	// Encoded for the master (a copy): the policy may fill them again.
	if r, ok := a.cfg.Policy.(interface{ Recycle([]policy.Grant) }); ok {
		r.Recycle(grants)
	}
}

func (a *allocatorActor) runDirty() {
	if a.all {
		a.batch()
		return
	}
	now := a.cfg.Clock.Now()
	start := time.Now()
	var grants []policy.Grant
	for _, id := range a.order {
		grants = append(grants, a.cfg.Policy.AllocateAgent(id, now)...)
	}
	a.cfg.Metrics.took.WithLabelValues("event").Observe(time.Since(start).Seconds())
	clear(a.dirty)
	a.order = a.order[:0]
	a.send(grants, "event")
}

func (a *allocatorActor) send(grants []policy.Grant, kind string) {
	a.cfg.Metrics.runs.WithLabelValues(kind).Inc()
	a.cfg.Metrics.grants.Add(float64(len(grants)))
	if len(grants) > 0 && (a.cfg.Fence == nil || a.cfg.Fence.Admit()) {
		a.sys.Root.Send(a.cfg.Master, policy.EncodeGrants(grants))
	}
}

func (a *allocatorActor) later(d time.Duration, msg any) {
	sys, self := a.sys, a.self
	a.cfg.Clock.AfterFunc(d, func() { sys.Root.Send(self, msg) })
}

// Metrics are the allocator's Prometheus series.
type Metrics struct {
	runs    *prometheus.CounterVec
	took    *prometheus.HistogramVec
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
		took: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "agora", Subsystem: "allocator", Name: "run_seconds", Help: "Time an allocation run computed, batch or event-driven.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10), // 10 µs .. 2.6 s
		}, []string{"kind"}),
		grants: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "allocator", Name: "grants_total", Help: "Grants sent to the master.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "agora", Subsystem: "allocator", Name: "refused_changes_total", Help: "Changes from the master the policy refused (books disagree).",
		}),
	}
	reg.MustRegister(m.runs, m.took, m.grants, m.errors)
	return m
}

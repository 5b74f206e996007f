// Package master is the leading master: the master actor, which owns the
// cluster's books, and one handler child actor per agent that tracks its
// liveness. The books (books.go) are plain data; the actor receives a
// message, calls the books with the current time, and sends what follows.
//
// Agents talk to the well-known actor "master" only. The master routes an
// agent's heartbeat to that agent's handler, which answers it and marks the
// agent unreachable when it misses too many. State is served from snapshots
// (Publisher) so that reading it never blocks the master.
package master

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/agora-sched/agora/actors/allocation"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"
)

// Name is the master actor's well-known name on its node.
const Name = "master"

// Config is what the master actor is built from.
type Config struct {
	// Info describes this master; Info.Id names it.
	Info     *messages.MasterInfo
	Clock    clockwork.Clock
	Logger   *slog.Logger
	Liveness LivenessPolicy
	// PublishInterval bounds how often a new state snapshot is built while
	// the state changes; 0 means 100 ms.
	PublishInterval time.Duration
	Publisher       *Publisher
	Metrics         *Metrics
	// Allocator is the allocator actor the master feeds and takes grants
	// from.
	Allocator *actor.PID
	// OfferTimeout rescinds offers a framework sits on; 0 means never.
	OfferTimeout time.Duration
	// FrameworkHeartbeat is how often schedulers are sent a heartbeat.
	FrameworkHeartbeat time.Duration
	// Roles is the operator's role configuration at start (loaded from
	// where SaveRoles keeps it); nil is none.
	Roles *messages.RoleConfig
	// SaveRoles persists the role configuration before a change is
	// applied; nil keeps it in memory only.
	SaveRoles func(*messages.RoleConfig) error
	// ReclaimInterval is how often the master checks for roles below
	// their guarantee and preempts for them; 0 turns reclamation off.
	ReclaimInterval time.Duration
	// PreemptionGrace is how long a preempted task is given to stop after
	// its framework is told (TASK_KILLING, REASON_PREEMPTED).
	PreemptionGrace time.Duration
	// AgentReregisterTimeout is how long a newly elected master waits
	// for agents to re-register before it answers reconciliation of tasks
	// it has not heard of with TASK_LOST; 0 answers at once (a single
	// master, whose restart loses nothing it could learn).
	AgentReregisterTimeout time.Duration
	// ActorOptions are added to the props of this actor and its handlers: testkit's
	// simulations run every actor on one serial dispatcher, and inject
	// faults as middleware.
	ActorOptions []actor.PropsOption
}

// Defaults for Config.
const (
	// DefaultOfferTimeout bounds how long a framework may hold an offer
	// (Mesos has none, and frameworks hoard offers: elasticsearch#575).
	DefaultOfferTimeout = 30 * time.Second
	// DefaultFrameworkHeartbeat is Mesos' scheduler heartbeat.
	DefaultFrameworkHeartbeat = 15 * time.Second
	// DefaultReclaimInterval and DefaultPreemptionGrace: a starved role
	// holds its guarantee within an interval plus the grace.
	DefaultReclaimInterval = 15 * time.Second
	DefaultPreemptionGrace = 5 * time.Second
)

// Internal messages the master sends itself or receives from its children.
type (
	publishTick      struct{}
	agentUnreachable struct{ id string }
)

type master struct {
	cfg      Config
	log      *slog.Logger
	books    *Books
	roles    *Roles
	handlers map[string]*actor.PID
	// fwHandlers are the framework handler children; schedulers the
	// current scheduler PID of each connected framework.
	fwHandlers map[string]*actor.PID
	schedulers map[string]*actor.PID
	// preempting are tasks being preempted; preemptions counts them by
	// their role since the master started.
	preempting  map[taskKey]preemption
	preemptions map[string]uint64
	// recoveringUntil is the end of the agent re-registration window of a
	// newly elected master; reconciliation of unknown tasks asked during
	// it waits in pendingReconcile.
	recoveringUntil  time.Time
	pendingReconcile []pendingReconcile
	// publishBackoff spaces snapshots by ten times what the last cost.
	publishBackoff time.Duration
	// publishPending is true while a publishTick is armed.
	publishPending bool
	// sys and self let timer callbacks send to the actor without its ctx.
	sys  *actor.ActorSystem
	self *actor.PID
}

// Props returns the props of the master actor.
func Props(cfg Config) *actor.Props {
	if cfg.PublishInterval <= 0 {
		cfg.PublishInterval = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FrameworkHeartbeat <= 0 {
		cfg.FrameworkHeartbeat = DefaultFrameworkHeartbeat
	}
	return actor.PropsFromProducer(func() actor.Actor {
		roles, err := NewRoles(cfg.Roles)
		if err != nil {
			// Validated when loaded; a bad file must not stop the master.
			cfg.Logger.Error("ignoring invalid role configuration", "err", err)
			roles, _ = NewRoles(nil)
		}
		return &master{
			roles:       roles,
			cfg:         cfg,
			log:         cfg.Logger.With("master_id", cfg.Info.GetId(), "epoch", cfg.Info.GetEpoch()),
			books:       NewBooks(cfg.Info.GetId()),
			handlers:    map[string]*actor.PID{},
			fwHandlers:  map[string]*actor.PID{},
			schedulers:  map[string]*actor.PID{},
			preempting:  map[taskKey]preemption{},
			preemptions: map[string]uint64{},
		}
	}, cfg.ActorOptions...)
}

func (m *master) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.sys, m.self = ctx.ActorSystem(), ctx.Self()
		for _, r := range m.roles.Config().Roles {
			m.applyRole(ctx, r)
		}
		if m.cfg.ReclaimInterval > 0 {
			m.later(m.cfg.ReclaimInterval, reclaimTick{})
		}
		if m.cfg.AgentReregisterTimeout > 0 {
			m.recoveringUntil = m.now().Add(m.cfg.AgentReregisterTimeout)
			m.later(m.cfg.AgentReregisterTimeout, recoveryEnded{})
		}
		m.log.Info("master started", "address", m.cfg.Info.GetAddress(), "http", m.cfg.Info.GetHttpAddress())
		m.publish()
	case *messages.RegisterAgent:
		m.handleRegister(ctx, msg)
	case *messages.ReregisterAgent:
		m.handleReregister(ctx, msg)
	case *messages.AgentHeartbeat:
		m.handleHeartbeat(ctx, msg)
	case *messages.UnregisterAgent:
		m.handleUnregister(ctx, msg)
	case agentUnreachable:
		m.handleUnreachable(ctx, msg.id)
	case publishTick:
		m.publishPending = false
		// A snapshot costs time in proportion to the cluster; keep the
		// master's share of time spent on them under a tenth, so that a
		// re-registration storm after failover is not slowed by state
		// nobody reads that often. (Real time: this measures our own cost,
		// not the cluster's clock.)
		start := time.Now()
		m.publish()
		m.publishBackoff = 10 * time.Since(start)
	case *messages.GetTask:
		t := m.books.findTask(msg.GetFrameworkId().GetValue(), msg.GetTaskId().GetValue())
		if t == nil {
			ctx.Respond(&messages.Error{Code: messages.Error_UNKNOWN_TASK, Message: fmt.Sprintf("task %s is neither running nor among the last %d finished", msg.GetTaskId().GetValue(), CompletedTasks)})
			return
		}
		loc := &messages.TaskLocation{Task: t}
		if a, ok := m.books.agents[t.GetAgentId().GetValue()]; ok {
			loc.Agent = a.info
		}
		ctx.Respond(loc)
	case *messages.GetState:
		if s := m.cfg.Publisher.Latest(); s != nil {
			ctx.Respond(s.State)
		}
	case *messages.UpdateRole:
		m.handleUpdateRole(ctx, msg)
	case *messages.SubscribeFramework:
		m.handleSubscribe(ctx, msg)
	case *messages.Accept:
		m.handleAccept(ctx, msg)
	case *messages.Decline:
		m.handleDecline(ctx, msg)
	case *messages.Suppress:
		m.handleSuppress(ctx, msg)
	case *messages.Revive:
		m.handleRevive(ctx, msg)
	case *messages.KillTask:
		m.handleKill(ctx, msg)
	case *messages.Reconcile:
		m.handleReconcile(ctx, msg)
	case *messages.FrameworkToExecutor:
		if _, ok := m.caller(ctx, msg.FrameworkId, msg); ok {
			if a, ok := m.books.agents[msg.GetAgentId().GetValue()]; ok && a.reachable {
				msg.MasterEpoch = m.cfg.Info.Epoch
				ctx.Send(actor.NewPID(a.address, a.actorID), msg)
			} else {
				m.reject(ctx, ctx.Sender(), messages.Error_UNKNOWN_AGENT, "framework message for agent "+msg.GetAgentId().GetValue()+", which is not reachable", msg)
			}
		}
	case *messages.ExecutorToFramework:
		m.toFramework(ctx, msg.GetFrameworkId().GetValue(), fwSend{msg: msg})
	case *messages.Acknowledge:
		m.handleAcknowledge(ctx, msg)
	case *messages.Teardown:
		m.handleTeardown(ctx, msg)
	case *messages.StatusUpdate:
		m.handleStatusUpdate(ctx, msg)
	case allocation.Allocated:
		m.handleAllocated(ctx, msg)
	case offerExpired:
		m.handleOfferExpired(ctx, msg)
	case frameworkDisconnected:
		m.handleFrameworkDisconnected(ctx, msg)
	case failoverExpired:
		m.handleFailoverExpired(ctx, msg)
	case reclaimTick:
		m.handleReclaimTick(ctx)
	case recoveryEnded:
		m.handleRecoveryEnded(ctx)
	case allocation.Shortfalls:
		m.reclaim(ctx, msg.Roles)
	case *actor.Stopped:
		// proto.actor PIDs cache the process they last reached, so a stale
		// PID held anywhere keeps a stopped actor reachable: let go of the
		// books at once (a master that steps down must not keep them).
		m.books, m.preempting, m.pendingReconcile = NewBooks(m.cfg.Info.GetId()), nil, nil
		m.handlers, m.fwHandlers, m.schedulers = nil, nil, nil
	case *actor.Stopping, *actor.Restarting, *actor.Terminated:
	default:
		m.log.Warn("master: unexpected message", "type", fmt.Sprintf("%T", msg), "sender", ctx.Sender())
		m.reject(ctx, ctx.Sender(), messages.Error_INVALID_ARGUMENT, fmt.Sprintf("the master does not handle %T", msg), msg)
	}
}

func (m *master) now() time.Time { return m.cfg.Clock.Now() }

// replyTo is the PID a registration names, else the sender.
func replyTo(ctx actor.Context, pid *actor.PID) *actor.PID {
	if pid != nil && pid.Id != "" {
		return pid
	}
	return ctx.Sender()
}

func (m *master) handleRegister(ctx actor.Context, msg *messages.RegisterAgent) {
	to := replyTo(ctx, msg.Pid)
	id, retry, err := m.books.Register(msg.GetInfo(), to.GetAddress(), to.GetId(), msg.Session, m.now())
	if err != nil {
		m.log.Warn("agent registration rejected", "hostname", msg.GetInfo().GetHostname(), "err", err)
		m.reject(ctx, to, messages.Error_INVALID_ARGUMENT, err.Error(), msg)
		return
	}
	if retry {
		// The agent retried before our answer reached it: same agent,
		// same ID; answer again.
		m.admit(ctx, id, to, false)
		return
	}
	m.cfg.Metrics.registrations.Inc()
	m.log.Info("agent registered", "agent_id", id, "hostname", msg.Info.Hostname, "resources", messages.FormatResources(msg.Info.Resources))
	m.admit(ctx, id, to, false)
	m.readmitAgent(ctx, m.books.agents[id], nil)
	ctx.ActorSystem().EventStream.Publish(AgentAdmitted{AgentID: id, Hostname: msg.Info.Hostname})
}

func (m *master) handleReregister(ctx actor.Context, msg *messages.ReregisterAgent) {
	to := replyTo(ctx, msg.Pid)
	id := msg.GetInfo().GetId().GetValue()
	if a, ok := m.books.agents[id]; ok && a.reachable && msg.Session != "" && a.session == msg.Session && a.address == to.GetAddress() {
		// A retry of a re-registration already taken (the answer crossed
		// it, or the master is busy after a failover): answer it again
		// without redoing the admission, which would churn the allocator
		// for every retry of every agent.
		m.books.Heartbeat(id, m.now())
		m.admit(ctx, id, to, true)
		return
	}
	if a, ok := m.books.agents[id]; ok && a.reachable {
		// The agent restarted before we noticed: what we offered of it
		// may be gone, and the allocator must start over with it.
		m.agentRestarted(ctx, a)
	}
	known, err := m.books.Reregister(msg.GetInfo(), to.GetAddress(), to.GetId(), m.now())
	if err != nil {
		m.log.Warn("agent re-registration rejected", "agent_id", msg.GetInfo().GetId().GetValue(), "err", err)
		m.reject(ctx, to, messages.Error_INVALID_ARGUMENT, err.Error(), msg)
		return
	}
	m.books.agents[id].session = msg.Session
	m.cfg.Metrics.reregistrations.Inc()
	m.log.Info("agent re-registered", "agent_id", id, "hostname", msg.Info.Hostname, "known", known, "tasks", len(msg.Tasks))
	m.admit(ctx, id, to, true)
	m.adopt(ctx, m.books.agents[id], msg.Tasks, msg.Frameworks)
	m.readmitAgent(ctx, m.books.agents[id], msg.Tasks)
	m.answerPending(ctx)
	ctx.ActorSystem().EventStream.Publish(AgentAdmitted{AgentID: id, Hostname: msg.Info.Hostname, Reregistered: true})
}

// admit (re)starts the agent's handler and confirms the registration.
func (m *master) admit(ctx actor.Context, id string, agent *actor.PID, reregistered bool) {
	interval := m.interval()
	if h, ok := m.handlers[id]; ok {
		ctx.Send(h, handlerAgentPID{pid: agent, now: m.now(), interval: interval})
	} else {
		h, err := ctx.SpawnNamed(handlerProps(m.cfg, id, agent, interval), "agent-"+id)
		if err != nil {
			// A stale child of the same name is still stopping; it holds no
			// state we need, so replace it under a fresh name.
			h = ctx.Spawn(handlerProps(m.cfg, id, agent, interval))
		}
		m.handlers[id] = h
	}
	ctx.Send(agent, &messages.AgentRegistered{
		AgentId:                &messages.AgentID{Value: id},
		Master:                 m.cfg.Info,
		HeartbeatIntervalNanos: int64(interval),
		Reregistered:           reregistered,
	})
	m.changed()
}

func (m *master) interval() time.Duration {
	return m.cfg.Liveness.HeartbeatInterval(m.books.AgentCount())
}

func (m *master) handleHeartbeat(ctx actor.Context, msg *messages.AgentHeartbeat) {
	id := msg.GetAgentId().GetValue()
	if err := m.books.Heartbeat(id, m.now()); err != nil {
		m.log.Debug("heartbeat from an agent that must re-register", "agent_id", id)
		m.reject(ctx, ctx.Sender(), messages.Error_UNKNOWN_AGENT, err.Error(), msg)
		return
	}
	m.cfg.Metrics.heartbeats.Inc()
	ctx.Send(m.handlers[id], handlerHeartbeat{hb: msg, from: ctx.Sender(), now: m.now(), interval: m.interval()})
}

func (m *master) handleUnreachable(ctx actor.Context, id string) {
	if !m.books.MarkUnreachable(id, m.now()) {
		return
	}
	m.agentGone(ctx, m.books.agents[id], false, messages.TaskStatusReason_REASON_AGENT_UNREACHABLE, "agent unreachable: missed heartbeats")
	m.cfg.Metrics.unreachableEvents.Inc()
	m.log.Warn("agent unreachable: missed heartbeats", "agent_id", id, "max_misses", m.cfg.Liveness.MaxMisses)
	m.changed()
	m.sys.EventStream.Publish(AgentMarkedUnreachable{AgentID: id})
}

func (m *master) handleUnregister(ctx actor.Context, msg *messages.UnregisterAgent) {
	id := msg.GetAgentId().GetValue()
	if a, ok := m.books.agents[id]; ok && a.reachable {
		m.agentGone(ctx, a, true, messages.TaskStatusReason_REASON_AGENT_REMOVED, "agent shut down")
	}
	if !m.books.Remove(id) {
		m.reject(ctx, ctx.Sender(), messages.Error_UNKNOWN_AGENT, "agent "+id+" is not registered", msg)
		return
	}
	if h, ok := m.handlers[id]; ok {
		ctx.Stop(h)
		delete(m.handlers, id)
	}
	m.log.Info("agent unregistered", "agent_id", id)
	m.changed()
	ctx.ActorSystem().EventStream.Publish(AgentRemoved{AgentID: id})
}

// reject answers a request with an Error and counts it.
func (m *master) reject(ctx actor.Context, to *actor.PID, code messages.Error_Code, text string, req any) {
	m.cfg.Metrics.rejected.WithLabelValues(code.String()).Inc()
	if to == nil {
		return
	}
	name := fmt.Sprintf("%T", req)
	if pm, ok := req.(proto.Message); ok {
		name = string(pm.ProtoReflect().Descriptor().FullName())
	}
	ctx.Send(to, &messages.Error{Code: code, Message: text, Request: name, Leader: m.cfg.Info})
}

// changed notes a state change; a snapshot follows within PublishInterval,
// so a burst of changes costs one snapshot.
func (m *master) changed() {
	if m.publishPending {
		return
	}
	m.publishPending = true
	m.later(max(m.cfg.PublishInterval, m.publishBackoff), publishTick{})
}

// later sends msg to the master after d on the master's clock.
func (m *master) later(d time.Duration, msg any) {
	sys, self := m.sys, m.self
	m.cfg.Clock.AfterFunc(d, func() { sys.Root.Send(self, msg) })
}

func (m *master) publish() {
	n := m.books.AgentCount()
	m.cfg.Metrics.agents.WithLabelValues("reachable").Set(float64(m.books.ReachableCount()))
	m.cfg.Metrics.agents.WithLabelValues("unreachable").Set(float64(n - m.books.ReachableCount()))
	m.cfg.Metrics.heartbeatInterval.Set(m.interval().Seconds())
	m.cfg.Publisher.publish(&messages.MasterState{
		Master:                 m.cfg.Info,
		Leading:                true,
		Agents:                 m.books.Agents(),
		Frameworks:             m.books.Frameworks(),
		Roles:                  m.roles.Config(),
		RoleUsage:              m.roleUsage(),
		ReclaimIntervalNanos:   int64(m.cfg.ReclaimInterval),
		SnapshotUnixNano:       m.now().UnixNano(),
		HeartbeatIntervalNanos: int64(m.interval()),
		MaxMissedHeartbeats:    uint32(m.cfg.Liveness.MaxMisses),
	})
}

// agentRestarted clears an agent's offers and its place in the allocator
// before it is re-admitted.
func (m *master) agentRestarted(ctx actor.Context, a *agentRecord) {
	for _, o := range ordered(a.offers, strings.Compare) {
		m.books.removeOffer(o)
		if h, ok := m.fwHandlers[o.frameworkID]; ok {
			ctx.Send(h, fwRescind{offerID: o.id, tell: true, reason: "agent restarted"})
		}
	}
	ctx.Send(m.cfg.Allocator, allocation.RemoveAgent{AgentID: a.info.Id.Value})
}

// handleUpdateRole changes a role's weight or quota: validated, persisted,
// given to the allocator, and outstanding offers are rescinded so the new
// policy applies to everything offered from now on.
func (m *master) handleUpdateRole(ctx actor.Context, msg *messages.UpdateRole) {
	settings, err := m.roles.Apply(msg)
	if err != nil {
		m.reject(ctx, ctx.Sender(), messages.Error_INVALID_ARGUMENT, err.Error(), msg)
		return
	}
	if m.cfg.SaveRoles != nil {
		next, _ := NewRoles(m.roles.Config())
		next.Commit(settings)
		if err := m.cfg.SaveRoles(next.Config()); err != nil {
			m.log.Error("cannot persist the role configuration; change refused", "err", err)
			m.reject(ctx, ctx.Sender(), messages.Error_CODE_UNSPECIFIED, "cannot persist the role configuration: "+err.Error(), msg)
			return
		}
	}
	m.roles.Commit(settings)
	m.applyRole(ctx, settings)
	rescinded := 0
	for _, o := range ordered(m.books.offers, strings.Compare) {
		m.rescind(ctx, o, "role policy changed")
		rescinded++
	}
	m.log.Info("role configuration changed", "role", settings.Role, "weight", settings.Weight,
		"guarantee", messages.FormatResources(settings.GetQuota().GetGuarantee()), "limit", messages.FormatResources(settings.GetQuota().GetLimit()),
		"rescinded_offers", rescinded)
	m.changed()
	ctx.Respond(m.roles.Config())
}

// applyRole gives a role's settings to the allocator.
func (m *master) applyRole(ctx actor.Context, s *messages.RoleSettings) {
	w := s.Weight
	if w == 0 {
		w = 1
	}
	ctx.Send(m.cfg.Allocator, allocation.SetWeight{Role: s.Role, Weight: w})
	ctx.Send(m.cfg.Allocator, allocation.SetQuota{Role: s.Role, Quota: PolicyQuota(s.Quota)})
}

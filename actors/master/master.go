// Package master is the leading master's actor shell around its core
// (package core, the decisions as a state machine): the master actor, one
// handler child per agent that watches its liveness, and one per framework
// that watches its scheduler's connection and heartbeats it.
//
// The master actor's Receive only dispatches: a received message becomes a
// core call with the sender's identity and the time, and the Ready that
// comes back is carried out in order (sends, timers, handlers, events,
// configuration writes off the actor). State is served from snapshots
// (Publisher) so that reading it never blocks the master.
package master

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
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
	// FixedPublishInterval publishes every PublishInterval while the state
	// changes, however long a snapshot takes to build. Otherwise snapshots
	// are spaced by ten times what the last one cost in real time, which
	// depends on the machine: a simulation on a fake clock that must repeat
	// sets this.
	FixedPublishInterval bool
	Publisher            *Publisher
	Metrics              *Metrics
	// Allocator is the allocator actor the master feeds and takes grants
	// from (it may run on another node); nil offers nothing.
	Allocator *actor.PID
	// OfferTimeout rescinds offers a framework sits on; 0 means never.
	OfferTimeout time.Duration
	// FrameworkHeartbeat is how often schedulers are sent a heartbeat.
	FrameworkHeartbeat time.Duration
	// Roles is the operator's role configuration at start (loaded from
	// where SaveRoles keeps it); nil is none.
	Roles *messages.RoleConfig
	// SaveRoles persists the role configuration before a change is
	// applied; it runs off the actor, within SaveRolesTimeout. nil keeps
	// the configuration in memory only.
	SaveRoles        func(context.Context, *messages.RoleConfig) error
	SaveRolesTimeout time.Duration
	// Maintenance is the maintenance schedule at start (loaded from where
	// SaveMaintenance keeps it); nil is none.
	Maintenance *messages.MaintenanceSchedule
	// SaveMaintenance stores a new schedule before it applies; it runs
	// off the actor, within SaveRolesTimeout. nil keeps it in memory only.
	SaveMaintenance func(context.Context, *messages.MaintenanceSchedule) error
	// ACLs is the access control list at start (nil: none, everything
	// allowed); a ReplaceACLs message replaces it.
	ACLs *acl.List
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
	// Limits bound what peers can make the master keep (core.Limits; zero:
	// none, core.DefaultLimits in production).
	Limits core.Limits
	// Fence, when set, is asked before every message this master or its
	// handlers send to agents, schedulers or the allocator: the term that
	// runs them closes it the moment leadership is lost, before they stop.
	Fence Fence
	// ActorOptions are added to the props of this actor and its handlers: testkit's
	// simulations run every actor on one serial dispatcher, and inject
	// faults as middleware.
	ActorOptions []actor.PropsOption
}

// Fence lets a term's actors send only while their master leads.
type Fence interface {
	// Admit reports whether a message may go out now (and counts it).
	Admit() bool
}

// admit asks the fence, if any.
func admit(f Fence) bool { return f == nil || f.Admit() }

// Defaults for Config.
const (
	DefaultOfferTimeout       = core.DefaultOfferTimeout
	DefaultFrameworkHeartbeat = core.DefaultFrameworkHeartbeat
	DefaultReclaimInterval    = core.DefaultReclaimInterval
	DefaultPreemptionGrace    = core.DefaultPreemptionGrace
	// DefaultSaveRolesTimeout bounds a write of the role configuration.
	DefaultSaveRolesTimeout = 10 * time.Second
)

// ReplaceACLs hands the master a new access control list (nil: none); it
// applies to requests from then on. It is sent within the master's process
// (by whoever follows the list's file or Consul key): not a protobuf
// message, so no peer can send it.
type ReplaceACLs struct{ List *acl.List }

// Messages the master sends itself.
type (
	publishTick struct{}
	// countsTick: the count gauges are due (countsInterval after a change).
	countsTick struct{}
	// timerFired: a timer the core armed came due.
	timerFired struct{ timer core.Timer }
	// rolesSaved: a role configuration write ended.
	rolesSaved struct {
		token uint64
		err   error
	}
	// maintenanceSaved: a maintenance schedule write ended.
	maintenanceSaved struct {
		token uint64
		err   error
	}
)

type master struct {
	cfg  Config
	core *core.Core
	log  *slog.Logger
	// agentHandlers and fwHandlers are the handler children by agent and
	// framework ID.
	agentHandlers map[string]*actor.PID
	fwHandlers    map[string]*actor.PID
	// heartbeatInterval is the interval agents are told now; the agent
	// handlers read it to answer heartbeats.
	heartbeatInterval atomic.Int64
	// pids caches the PIDs of endpoints sent to (a PID caches the route to
	// its process).
	pids map[core.Endpoint]*actor.PID
	// publishBackoff spaces snapshots by ten times what the last cost.
	publishBackoff time.Duration
	// publishPending is true while a publishTick is armed.
	publishPending bool
	// countsPending is true while a countsTick is armed.
	countsPending bool
	// background owns the goroutines the master starts (configuration
	// writes); stopping cancels them and waits.
	background sync.WaitGroup
	cancel     context.CancelFunc
	bgCtx      context.Context
	// out holds messages to agents until the master's turn to batch them.
	out outbox
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
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if cfg.SaveRolesTimeout <= 0 {
		cfg.SaveRolesTimeout = DefaultSaveRolesTimeout
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &master{cfg: cfg, log: cfg.Logger.With("master_id", cfg.Info.GetId(), "epoch", cfg.Info.GetEpoch())}
	}, cfg.ActorOptions...)
}

func (m *master) newCore() *core.Core {
	return core.New(core.Config{
		Info: m.cfg.Info, Liveness: m.cfg.Liveness, OfferTimeout: m.cfg.OfferTimeout, FrameworkHeartbeat: m.cfg.FrameworkHeartbeat,
		ReclaimInterval: m.cfg.ReclaimInterval, PreemptionGrace: m.cfg.PreemptionGrace, AgentReregisterTimeout: m.cfg.AgentReregisterTimeout,
		Roles: m.cfg.Roles, ACLs: m.cfg.ACLs, PersistRoles: m.cfg.SaveRoles != nil, Metrics: m.cfg.Metrics, Logger: m.cfg.Logger, Limits: m.cfg.Limits,
		Maintenance: m.cfg.Maintenance, PersistMaintenance: m.cfg.SaveMaintenance != nil,
	})
}

// Receive dispatches: every message is one core call, and what the core
// returns is carried out.
func (m *master) Receive(ctx actor.Context) {
	now := m.cfg.Clock.Now()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.sys, m.self = ctx.ActorSystem(), ctx.Self()
		m.agentHandlers, m.fwHandlers, m.pids = map[string]*actor.PID{}, map[string]*actor.PID{}, map[core.Endpoint]*actor.PID{}
		m.bgCtx, m.cancel = context.WithCancel(context.Background())
		m.core = m.newCore()
		m.run(ctx, m.core.Start(now))
		m.publish(now)

	// Agents.
	case *messages.RegisterAgent:
		m.run(ctx, m.core.RegisterAgent(peer(ctx), msg, now))
	case *messages.ReregisterAgent:
		m.run(ctx, m.core.ReregisterAgent(peer(ctx), msg, now))
	case *messages.AgentHeartbeat:
		m.run(ctx, m.core.AgentHeartbeat(peer(ctx), msg, now))
	case *messages.UnregisterAgent:
		m.run(ctx, m.core.UnregisterAgent(peer(ctx), msg, now))
	case *messages.StatusUpdate:
		m.run(ctx, m.core.StatusUpdate(peer(ctx), msg, now))
	case *messages.StatusUpdates:
		p := peer(ctx)
		for _, u := range msg.Updates {
			m.run(ctx, m.core.StatusUpdate(p, u, now))
		}
	case *messages.ExecutorToFramework:
		m.run(ctx, m.core.ExecutorToFramework(peer(ctx), msg, now))
	case *messages.ExecutorExited:
		m.run(ctx, m.core.ExecutorExited(peer(ctx), msg, now))

	// Schedulers.
	case *messages.SubscribeFramework:
		m.run(ctx, m.core.Subscribe(peer(ctx), msg, now))
	case *messages.Accept:
		m.run(ctx, m.core.Accept(peer(ctx), msg, now))
	case *messages.Decline:
		m.run(ctx, m.core.Decline(peer(ctx), msg, now))
	case *messages.Suppress:
		m.run(ctx, m.core.Suppress(peer(ctx), msg, now))
	case *messages.Revive:
		m.run(ctx, m.core.Revive(peer(ctx), msg, now))
	case *messages.KillTask:
		m.run(ctx, m.core.Kill(peer(ctx), msg, now))
	case *messages.Reconcile:
		m.run(ctx, m.core.Reconcile(peer(ctx), msg, now))
	case *messages.Acknowledge:
		m.run(ctx, m.core.Acknowledge(peer(ctx), msg, now))
	case *messages.Acknowledgements:
		p := peer(ctx)
		for _, a := range msg.Acks {
			m.run(ctx, m.core.Acknowledge(p, a, now))
		}
	case *messages.Teardown:
		m.run(ctx, m.core.Teardown(peer(ctx), msg, now))
	case *messages.FrameworkToExecutor:
		m.run(ctx, m.core.FrameworkToExecutor(peer(ctx), msg, now))
	case *messages.KillExecutor:
		m.run(ctx, m.core.KillExecutor(peer(ctx), msg, now))

	// The allocator and the handlers. Their messages are protobuf (the
	// allocator may be remote); a handler's report counts only from the
	// handler this master started for it.
	case *messages.Allocated:
		if m.fromAllocator(ctx) {
			// A message of offers at a time: each goes out while the
			// next is built.
			r, more := m.core.OfferGrants(msg, now)
			m.run(ctx, r)
			for more {
				// The offers just sent made their framework's actor
				// runnable on this core's queue. While the garbage
				// collector's mark worker holds the other core it takes
				// no work from this queue, so without a yield the
				// framework would wait until the master had built every
				// offer and emptied its mailbox (1.3 ms sent, 7.5 ms
				// received in a traced sample). The yield lets it run
				// now and puts the master on the global queue, which the
				// mark worker does give way to. The kernel's yield does
				// the same for a thread woken to send them (yieldCPU).
				runtime.Gosched()
				yieldCPU()
				r, more = m.core.OfferMore()
				m.run(ctx, r)
			}
		}
	case *messages.AllocatorShortfalls:
		if m.fromAllocator(ctx) {
			m.run(ctx, m.core.Shortfalls(msg, now))
		}
	case *messages.AgentSeen:
		h := m.agentHandlers[msg.AgentId]
		if h == nil && security.SenderOf(ctx) == security.Local {
			return // from a handler stopped since (the agent was forgotten): nothing to keep
		}
		if m.fromChild(ctx, h) {
			m.run(ctx, m.core.AgentSeen(msg.AgentId, time.Unix(0, msg.SeenUnixNano)))
		}
	case *messages.AgentMissedHeartbeats:
		if m.fromChild(ctx, m.agentHandlers[msg.AgentId]) {
			m.run(ctx, m.core.AgentUnreachable(msg.AgentId, now))
		}
	case *messages.SchedulerLost:
		if m.fromChild(ctx, m.fwHandlers[msg.FrameworkId]) {
			m.run(ctx, m.core.SchedulerLost(msg.FrameworkId, endpoint(msg.Scheduler), now))
		}

	// Operators.
	case *messages.UpdateRole:
		m.run(ctx, m.core.UpdateRole(peer(ctx), msg, now))
	case ReplaceACLs:
		m.run(ctx, m.core.SetACLs(msg.List, now))
	case *messages.GetTask:
		loc, err := m.core.FindTask(msg)
		if err != nil {
			ctx.Respond(&messages.Error{Code: messages.Error_UNKNOWN_TASK, Message: err.Error(), Request: "agora.v1.GetTask", Leader: m.cfg.Info})
			return
		}
		ctx.Respond(loc)
	case *messages.ListTasks:
		list, refused := m.core.ListTasks(peer(ctx), msg)
		if refused != nil {
			ctx.Respond(refused)
			return
		}
		ctx.Respond(list)
	case *messages.OperatorKillTask:
		m.run(ctx, m.core.OperatorKillTask(peer(ctx), msg, now))
	case *messages.OperatorTeardown:
		m.run(ctx, m.core.OperatorTeardown(peer(ctx), msg, now))
	case *messages.DrainAgent:
		m.run(ctx, m.core.DrainAgent(peer(ctx), msg, now))
	case *messages.ReactivateAgent:
		m.run(ctx, m.core.ReactivateAgent(peer(ctx), msg, now))
	case *messages.RemoveAgent:
		m.run(ctx, m.core.RemoveAgent(peer(ctx), msg, now))
	case *messages.UpdateMaintenanceSchedule:
		m.run(ctx, m.core.UpdateMaintenance(peer(ctx), msg, now))
	case *messages.GetMaintenanceSchedule:
		s, refused := m.core.MaintenanceSchedule(peer(ctx), msg)
		if refused != nil {
			ctx.Respond(refused)
			return
		}
		ctx.Respond(s) // never changed in place: a change replaces it
	case *messages.OperatorReserve:
		m.run(ctx, m.core.ReserveResources(peer(ctx), msg, now))
	case *messages.OperatorVolumes:
		m.run(ctx, m.core.ManageVolumes(peer(ctx), msg, now))
	case *messages.GetState:
		if s := m.cfg.Publisher.Latest(); s != nil {
			ctx.Respond(s.State)
		}

	// The master's own.
	case flushOutbox:
		m.flush(ctx)
	case timerFired:
		m.run(ctx, m.core.Fire(msg.timer, now))
	case rolesSaved:
		m.run(ctx, m.core.RolesPersisted(msg.token, msg.err, now))
	case maintenanceSaved:
		m.run(ctx, m.core.MaintenancePersisted(msg.token, msg.err, now))
	case countsTick:
		m.countsPending = false
		m.cfg.Metrics.setCounts(m.core.Counts(), m.core.HeartbeatInterval())
	case publishTick:
		m.publishPending = false
		// A snapshot costs time in proportion to the cluster; keep the
		// master's share of time spent on them under a tenth, so that a
		// re-registration storm after failover is not slowed by state
		// nobody reads that often. (Real time: this measures our own cost,
		// not the cluster's clock.)
		start := time.Now()
		m.publish(now)
		if !m.cfg.FixedPublishInterval {
			m.publishBackoff = 10 * time.Since(start)
		}

	case *actor.Stopping:
		m.cancel()
	case *actor.Stopped:
		// Configuration writes were cancelled; wait for them so none
		// outlives the master. Then let go of the books at once: proto.actor
		// PIDs cache the process they last reached, so a stale PID held
		// anywhere keeps a stopped actor reachable (a master that steps
		// down must not keep them).
		m.background.Wait()
		m.core, m.agentHandlers, m.fwHandlers, m.pids = nil, nil, nil, nil
	case *actor.Restarting, *actor.Terminated:
	case *actor.Touch:
		// A liveness probe (/health): the actor system answers it once the
		// master has taken it from its mailbox.
	default:
		m.log.Warn("master: unexpected message", "type", fmt.Sprintf("%T", msg), "sender", ctx.Sender())
		m.reject(ctx, msg)
	}
}

// peer is the sender's identity as the connection gives it.
// peer is who sent the message being handled: its reply endpoint, and the
// role and name its connection's certificate vouched for (remoting stamps
// them on every message; both empty for a local or --insecure sender).
func peer(ctx actor.Context) core.Peer {
	p := core.Peer{Endpoint: endpoint(ctx.Sender())}
	if id := security.SenderOf(ctx); id.Authenticated() {
		p.Role, p.Principal = string(id.Role), id.Name
	}
	return p
}

func endpoint(pid *actor.PID) core.Endpoint {
	if pid == nil {
		return core.Endpoint{}
	}
	return core.Endpoint{Address: pid.Address, ID: pid.Id}
}

// fromAllocator refuses grants and shortfalls that do not come from the
// master's allocator: in this process, or on a node with a master's
// certificate. A grant is taken as it is (the allocator keeps the books
// of what is free), so a forged one would offer resources twice.
func (m *master) fromAllocator(ctx actor.Context) bool {
	from := security.SenderOf(ctx)
	if from.Acts(security.RoleMaster) {
		return true
	}
	m.log.Warn("master: refused a message only the master and its allocator exchange", "type", fmt.Sprintf("%T", ctx.Message()),
		"sender", from.String(), "sender_pid", ctx.Sender().String())
	m.cfg.Metrics.Count(core.Rejected, messages.Error_PERMISSION_DENIED.String(), 1)
	if ctx.Sender() != nil {
		ctx.Send(ctx.Sender(), &messages.Error{Code: messages.Error_PERMISSION_DENIED, Request: string(ctx.Message().(proto.Message).ProtoReflect().Descriptor().FullName()),
			Message: "only the master's allocator sends grants and shortfalls; this connection is " + from.String() + "'s", Leader: m.cfg.Info})
	}
	return false
}

// fromChild checks that a handler's report comes from the handler itself.
func (m *master) fromChild(ctx actor.Context, h *actor.PID) bool {
	if h != nil && h.Equal(ctx.Sender()) {
		return true
	}
	m.log.Warn("master: a handler's report from someone else; ignored", "type", fmt.Sprintf("%T", ctx.Message()), "sender", ctx.Sender())
	return false
}

// reject answers a message the master does not handle.
func (m *master) reject(ctx actor.Context, msg any) {
	if ctx.Sender() == nil {
		return
	}
	name := fmt.Sprintf("%T", msg)
	if pm, ok := msg.(proto.Message); ok {
		name = string(pm.ProtoReflect().Descriptor().FullName())
	}
	m.cfg.Metrics.Count(core.Rejected, messages.Error_INVALID_ARGUMENT.String(), 1)
	ctx.Send(ctx.Sender(), &messages.Error{Code: messages.Error_INVALID_ARGUMENT, Message: fmt.Sprintf("the master does not handle %s", name), Request: name, Leader: m.cfg.Info})
}

// run carries out a Ready, in order.
func (m *master) run(ctx actor.Context, r core.Ready) {
	for _, e := range r.Effects {
		switch e := e.(type) {
		case core.Send:
			if r, ok := e.Msg.(*messages.AgentRegistered); ok {
				// Heartbeats go to the agent's handler (spawned by the
				// WatchAgent before this Send), which answers them.
				r.HeartbeatTo = m.agentHandlers[r.AgentId.GetValue()]
			}
			m.send(ctx, e.To, e.Msg, e.Batch)
		case core.ToAllocator:
			if m.cfg.Allocator == nil || !admit(m.cfg.Fence) {
				continue // none configured (tests of agents alone), or fenced
			}
			if _, asks := e.Msg.(*messages.AllocatorCheckShortfalls); asks {
				ctx.Request(m.cfg.Allocator, e.Msg) // answered to the master
			} else {
				ctx.Send(m.cfg.Allocator, e.Msg)
			}
		case core.Arm:
			m.later(e.After, timerFired{timer: e.Timer})
		case core.WatchAgent:
			h, ok := m.agentHandlers[e.AgentID]
			if !ok {
				h = m.spawn(ctx, agentHandlerProps(m.cfg, e.AgentID, &m.heartbeatInterval), "agent-"+e.AgentID)
				m.agentHandlers[e.AgentID] = h
			}
			m.heartbeatInterval.Store(int64(e.Interval))
			// Request: the handler takes it from its parent alone.
			ctx.Request(h, &messages.AgentObserved{AgentId: e.AgentID, Agent: m.pid(e.Agent), IntervalNanos: int64(e.Interval),
				SeenUnixNano: e.Seen.UnixNano(), Role: e.Role, Principal: e.Principal})
		case core.ForgetAgent:
			if h, ok := m.agentHandlers[e.AgentID]; ok {
				ctx.Stop(h)
				delete(m.agentHandlers, e.AgentID)
			}
		case core.WatchScheduler:
			h, ok := m.fwHandlers[e.FrameworkID]
			if !ok {
				h = m.spawn(ctx, frameworkHandlerProps(m.cfg, e.FrameworkID), "framework-"+e.FrameworkID)
				m.fwHandlers[e.FrameworkID] = h
			}
			ctx.Send(h, &messages.SchedulerConnected{FrameworkId: e.FrameworkID, Scheduler: m.pid(e.Scheduler), HeartbeatIntervalNanos: int64(e.Heartbeat)})
		case core.ForgetScheduler:
			if h, ok := m.fwHandlers[e.FrameworkID]; ok {
				ctx.Poison(h)
				delete(m.fwHandlers, e.FrameworkID)
			}
		case core.PersistRoles:
			m.saveRoles(e)
		case core.PersistMaintenance:
			m.saveMaintenance(e)
		case core.Publish:
			m.sys.EventStream.Publish(e.Event)
		default:
			panic(fmt.Sprintf("master: an effect it cannot carry out: %T", e))
		}
	}
	if r.Changed {
		m.changed()
	}
}

// pid returns the PID of an endpoint, cached: a PID caches the route to
// its process, so a fresh one per send would look it up every time.
func (m *master) pid(e core.Endpoint) *actor.PID {
	if p, ok := m.pids[e]; ok {
		return p
	}
	if len(m.pids) >= maxCachedPIDs {
		clear(m.pids) // bounded; the next sends repopulate it
	}
	p := actor.NewPID(e.Address, e.ID)
	m.pids[e] = p
	return p
}

const maxCachedPIDs = 200_000

func (m *master) spawn(ctx actor.Context, props *actor.Props, name string) *actor.PID {
	h, err := ctx.SpawnNamed(props, name)
	if err != nil {
		// A stale child of the same name is still stopping; it holds no
		// state we need, so start this one under a fresh name.
		h = ctx.Spawn(props)
	}
	return h
}

// saveRoles writes the role configuration off the actor, within its
// deadline; the result comes back as rolesSaved.
func (m *master) saveRoles(e core.PersistRoles) {
	sys, self, save, timeout, parent := m.sys, m.self, m.cfg.SaveRoles, m.cfg.SaveRolesTimeout, m.bgCtx
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		ctx, cancel := context.WithTimeout(parent, timeout)
		defer cancel()
		err := save(ctx, e.Config)
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		sys.Root.Send(self, rolesSaved{token: e.Token, err: err})
	}()
}

// saveMaintenance writes the maintenance schedule off the actor, within
// SaveRolesTimeout; the result comes back as maintenanceSaved.
func (m *master) saveMaintenance(e core.PersistMaintenance) {
	sys, self, save, timeout, parent := m.sys, m.self, m.cfg.SaveMaintenance, m.cfg.SaveRolesTimeout, m.bgCtx
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		ctx, cancel := context.WithTimeout(parent, timeout)
		defer cancel()
		err := save(ctx, e.Schedule)
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		sys.Root.Send(self, maintenanceSaved{token: e.Token, err: err})
	}()
}

// countsInterval is how long after a change of the books the count gauges
// (agents, frameworks, tasks) follow it, behind whatever the mailbox holds:
// they cost O(frameworks), not a snapshot, so they need not wait for one.
const countsInterval = 10 * time.Millisecond

// changed notes a state change; a snapshot follows within PublishInterval,
// so a burst of changes costs one snapshot, and the count gauges within
// countsInterval.
func (m *master) changed() {
	if !m.countsPending {
		m.countsPending = true
		m.later(countsInterval, countsTick{})
	}
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

func (m *master) publish(now time.Time) {
	st := m.core.State(now)
	m.cfg.Metrics.setCounts(m.core.Counts(), m.core.HeartbeatInterval())
	m.cfg.Metrics.setRoles(st.RoleUsage)
	m.cfg.Metrics.setCluster(st)
	m.cfg.Publisher.publish(st)
}

// Package core is the leading master's decisions as a state machine, in
// the manner of etcd raft's RawNode: plain Go with no actors, goroutines,
// clock or I/O. Every input (an agent message, a framework call, grants
// from the allocator, a timer firing, an operator request) is a method call
// with the sender's identity and the time passed in. It returns a Ready:
// what must happen, as data, in order: messages to send, timers to arm,
// handlers to start or stop, events to publish, configuration to persist.
//
// The master actor (package master) is the shell: it turns received
// messages into calls, carries out each Ready, and turns fired timers and
// finished writes back into calls. A second transport (Mesos' HTTP
// streams) plugs in the same way: the core names a scheduler's connection
// by an Endpoint and never interprets it.
//
//	c := core.New(cfg)
//	run(c.Start(now))
//	for msg := range inbox {
//		switch m := msg.(type) {
//		case *messages.Accept:
//			run(c.Accept(peerOf(sender), m, now))
//		case timerFired:
//			run(c.Fire(m.timer, now))
//		...
//		}
//	}
//
// Inputs are read-only: between local actors a message is a pointer the
// sender may still hold. What the core keeps it copies before changing, and
// what it sends it never touches again: books and messages share no
// mutable protobuf object. What the books keep of a message (an AgentInfo,
// a FrameworkInfo, a task's latest status) is immutable once kept: a change
// replaces it, so it may be sent as it is.
package core

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Endpoint names where messages to a peer go, as its transport knows it:
// for proto.actor a PID's address and id. The core stores and compares
// endpoints; it never interprets them.
type Endpoint struct{ Address, ID string }

// IsZero reports an endpoint nobody can be reached at.
func (e Endpoint) IsZero() bool { return e.Address == "" && e.ID == "" }

func (e Endpoint) String() string { return e.Address + "/" + e.ID }

// Peer is who sent an input, as the connection it came on vouches for it.
type Peer struct {
	Endpoint Endpoint
	// Role and Principal are the connection's authenticated identity: the
	// role (RoleAgent, RoleFramework, ...) and name its certificate
	// names. Both are empty where the transport authenticates nobody.
	Role, Principal string
}

// Effect is one thing a Ready asks the shell to do.
type Effect interface{ isEffect() }

// The effects.
type (
	// Send delivers Msg to To: an agent, a scheduler's connection, or
	// whoever asked (a reply). A zero To is dropped by the shell.
	Send struct {
		To  Endpoint
		Msg proto.Message
		// Batch: To takes several messages of Msg's kind in one (a
		// framework that declared STATUS_UPDATE_BATCHES), so the shell
		// may hold Msg to send it with the others of its turn.
		Batch bool
	}
	// ToAllocator delivers Msg to the allocator. The allocator answers
	// some (AllocatorCheckShortfalls) with a message to the master.
	ToAllocator struct{ Msg proto.Message }
	// Arm asks the shell to pass Timer back to Core.Fire after After.
	// Timers are never cancelled: a stale one finds nothing to do.
	Arm struct {
		After time.Duration
		Timer Timer
	}
	// WatchAgent starts (or updates) the agent's liveness handler: it
	// expects a heartbeat every Interval and reports AgentUnreachable
	// when too many are missed.
	WatchAgent struct {
		AgentID  string
		Agent    Endpoint
		Interval time.Duration
		Seen     time.Time
		// Role and Principal are who the agent's connection authenticated
		// as (empty without authentication): the handler answers
		// heartbeats from them alone.
		Role, Principal string
	}
	// ForgetAgent stops the agent's handler.
	ForgetAgent struct{ AgentID string }
	// WatchScheduler starts (or points) the framework's handler at the
	// scheduler connection that holds it now: it watches the connection
	// (its loss comes back as SchedulerLost) and sends heartbeats.
	WatchScheduler struct {
		FrameworkID string
		Scheduler   Endpoint
		Heartbeat   time.Duration
	}
	// ForgetScheduler stops the framework's handler once what was sent
	// before it is delivered.
	ForgetScheduler struct{ FrameworkID string }
	// PersistRoles asks for the role configuration to be stored; the
	// result comes back through Core.RolesPersisted with Token.
	PersistRoles struct {
		Config *messages.RoleConfig
		Token  uint64
	}
	// Publish hands an event to in-process observers (testkit, metrics).
	Publish struct{ Event any }
	// PersistMaintenance asks for the maintenance schedule to be stored;
	// the result comes back through Core.MaintenancePersisted with Token.
	PersistMaintenance struct {
		Schedule *messages.MaintenanceSchedule
		Token    uint64
	}
)

func (Send) isEffect()               {}
func (ToAllocator) isEffect()        {}
func (Arm) isEffect()                {}
func (WatchAgent) isEffect()         {}
func (ForgetAgent) isEffect()        {}
func (WatchScheduler) isEffect()     {}
func (ForgetScheduler) isEffect()    {}
func (PersistRoles) isEffect()       {}
func (Publish) isEffect()            {}
func (PersistMaintenance) isEffect() {}

// Ready is what an input made necessary. It is valid until the next call
// into the core, which reuses its storage: carry it out first.
type Ready struct {
	// Effects are carried out in order: messages to one destination keep
	// their order, and a handler is started before it is used and stopped
	// after.
	Effects []Effect
	// Changed: the state a snapshot shows has changed.
	Changed bool
}

// Timer is a timer the core armed; the shell passes it back to Fire.
type Timer interface{ isTimer() }

// Config is what the core is built from.
type Config struct {
	// Info describes this master; its epoch fences every message sent.
	Info     *messages.MasterInfo
	Liveness LivenessPolicy
	// OfferTimeout rescinds offers a framework sits on; 0 means never.
	OfferTimeout time.Duration
	// FrameworkHeartbeat is how often schedulers are sent a heartbeat.
	FrameworkHeartbeat time.Duration
	// ReclaimInterval is how often roles below their guarantee are
	// checked for; 0 turns reclamation off.
	ReclaimInterval time.Duration
	// PreemptionGrace is how long a preempted task is given to stop.
	PreemptionGrace time.Duration
	// AgentReregisterTimeout is how long a newly elected master defers
	// reconciliation of tasks it has not heard of; 0 answers at once.
	AgentReregisterTimeout time.Duration
	// Roles is the role configuration at start (nil: none).
	Roles *messages.RoleConfig
	// PersistRoles: a role change applies only after PersistRoles'
	// write succeeded; false applies it at once (in memory only).
	PersistRoles bool
	// ACLs is the access control list at start (nil: none, everything
	// allowed); SetACLs replaces it.
	ACLs *acl.List
	// Maintenance is the maintenance schedule at start (nil: none).
	Maintenance *messages.MaintenanceSchedule
	// PersistMaintenance: a schedule change applies only after
	// PersistMaintenance's write succeeded; false applies it at once.
	PersistMaintenance bool
	// Limits bound what peers can make the master keep (zero: none).
	Limits  Limits
	Metrics Metrics
	Logger  *slog.Logger
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

// Core is the leading master's state and decisions. It is not safe for
// concurrent use: one actor owns it.
type Core struct {
	cfg   Config
	log   *slog.Logger
	books *Books
	roles *Roles
	// preempting are tasks being preempted; preemptions counts them by
	// their role since this master started.
	preempting  map[taskKey]preemption
	preemptions map[string]uint64
	// recoveringUntil ends the re-registration window of a newly elected
	// master; reconciliation of unknown tasks asked within it waits in
	// pendingReconcile.
	recoveringUntil  time.Time
	pendingReconcile []pendingReconcile
	// roleWrites are role changes waiting for their write, oldest first;
	// only the first is being written.
	roleWrites []roleWrite
	nextToken  uint64
	limiter    limiter
	maint      maintenanceState

	out     []Effect
	changed bool
	// grants is scratch for decoding the allocator's grants; Allocated
	// (or OfferGrants and OfferMore) reads it only until it is done.
	grants []policy.Grant
	// offering is the grants being turned into offers between OfferGrants
	// and OfferMore's last step (nil otherwise); offeringBuf its storage,
	// reused.
	offering    *offering
	offeringBuf offering
	// returns is where giveBack cuts its messages from (returnSlot).
	returns []returnSlot
}

// New returns the core of a master that starts leading; call Start next.
func New(cfg Config) *Core {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = discard{}
	}
	if cfg.FrameworkHeartbeat <= 0 {
		cfg.FrameworkHeartbeat = DefaultFrameworkHeartbeat
	}
	log := cfg.Logger.With("master_id", cfg.Info.GetId(), "epoch", cfg.Info.GetEpoch())
	roles, err := NewRoles(cfg.Roles)
	if err != nil {
		// Validated when loaded; a bad configuration must not stop the
		// master.
		log.Error("ignoring invalid role configuration", "err", err)
		roles, _ = NewRoles(nil)
	}
	return &Core{
		// IDs this term hands out carry the epoch: a master elected again
		// starts its books afresh and must not issue an ID twice.
		cfg: cfg, log: log, books: NewBooks(cfg.Info.GetId() + "-" + strconv.FormatUint(cfg.Info.GetEpoch(), 10)), roles: roles,
		preempting: map[taskKey]preemption{}, preemptions: map[string]uint64{},
	}
}

// Start is the first input: the allocator learns the role configuration
// and the periodic timers are armed.
func (c *Core) Start(now time.Time) Ready {
	for _, r := range c.roles.Config().Roles {
		c.applyRole(r)
	}
	if c.cfg.ReclaimInterval > 0 {
		c.arm(c.cfg.ReclaimInterval, reclaimTick{})
	}
	if c.cfg.AgentReregisterTimeout > 0 {
		c.recoveringUntil = now.Add(c.cfg.AgentReregisterTimeout)
		c.arm(c.cfg.AgentReregisterTimeout, recoveryEnded{})
	}
	if len(c.cfg.Maintenance.GetWindows()) > 0 {
		c.maint.setSchedule(c.cfg.Maintenance)
		c.startMaintenance(now)
	}
	c.log.Info("master started", "address", c.cfg.Info.GetAddress(), "http", c.cfg.Info.GetHttpAddress())
	c.changed = true
	return c.ready()
}

// Fire is a timer the core armed coming due.
func (c *Core) Fire(t Timer, now time.Time) Ready {
	switch t := t.(type) {
	case offerTimeout:
		c.offersTimedOut(t, now)
	case failoverTimeout:
		c.failoverExpired(t, now)
	case reclaimTick:
		c.toAllocator(&messages.AllocatorCheckShortfalls{})
		c.arm(c.cfg.ReclaimInterval, reclaimTick{})
	case recoveryEnded:
		c.recoveryEnded(now)
	case drainDeadline:
		c.drainDue(t, now)
	case agentRemoval:
		c.removeUnreachable(t, now)
	case maintenanceStart:
		c.maintenanceStarted(t, now)
	case maintenanceEnd:
		c.maintenanceOver(t, now)
	default:
		panic(fmt.Sprintf("core: a timer it never armed: %T", t))
	}
	return c.ready()
}

// Info is the master this core leads as.
func (c *Core) Info() *messages.MasterInfo { return c.cfg.Info }

// HeartbeatInterval is what agents are told to keep now.
func (c *Core) HeartbeatInterval() time.Duration {
	return c.cfg.Liveness.HeartbeatInterval(c.books.AgentCount())
}

func (c *Core) ready() Ready {
	r := Ready{Effects: c.out, Changed: c.changed}
	// The next input reuses the slice: Effects are carried out before it.
	c.out, c.changed = c.out[:0], false
	return r
}

func (c *Core) emit(e Effect) { c.out = append(c.out, e) }

func (c *Core) send(to Endpoint, msg proto.Message) {
	if !to.IsZero() {
		c.out = append(c.out, Send{To: to, Msg: msg})
	}
}

// sendAgent sends an agent a RunTask or a StatusUpdateAcknowledgement,
// marked for batching when the agent said it takes batches (an agent of an
// older version, mid-upgrade, gets them one by one).
func (c *Core) sendAgent(a *agentRecord, msg proto.Message) {
	if !a.endpoint.IsZero() {
		c.out = append(c.out, Send{To: a.endpoint, Msg: msg, Batch: a.info.GetTakesBatches()})
	}
}

// sendUpdate sends a framework a status update, marked for batching when
// the framework takes batches.
func (c *Core) sendUpdate(f *frameworkRecord, msg *messages.StatusUpdate) {
	if !f.conn.IsZero() {
		c.out = append(c.out, Send{To: f.conn, Msg: msg, Batch: takesBatches(f)})
	}
}

// takesBatches reports whether a framework declared STATUS_UPDATE_BATCHES.
func takesBatches(f *frameworkRecord) bool {
	for _, c := range f.info.GetCapabilities() {
		if c == messages.Capability_STATUS_UPDATE_BATCHES {
			return true
		}
	}
	return false
}

func (c *Core) toAllocator(msg proto.Message) { c.out = append(c.out, ToAllocator{Msg: msg}) }

func (c *Core) arm(after time.Duration, t Timer) { c.out = append(c.out, Arm{After: after, Timer: t}) }

func (c *Core) publish(ev any) { c.out = append(c.out, Publish{Event: ev}) }

// reject answers a request with an Error and counts it.
func (c *Core) reject(to Endpoint, code messages.Error_Code, text string, req proto.Message) {
	c.send(to, c.refusal(code, text, req))
}

// refusal is the Error answering req, counted.
func (c *Core) refusal(code messages.Error_Code, text string, req proto.Message) *messages.Error {
	c.cfg.Metrics.Count(Rejected, code.String(), 1)
	return &messages.Error{Code: code, Message: text, Request: fullName(req), Leader: c.cfg.Info}
}

func (c *Core) epoch() uint64 { return c.cfg.Info.GetEpoch() }

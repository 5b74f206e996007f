// Package agent is the agent actor: it registers its node's resources with
// the leading master, keeps its AgentID across restarts in its work dir, and
// heartbeats so the master knows it is alive.
//
// The agent has two behaviours. Registering: it (re-)registers with
// exponential backoff until the master answers. Registered: it heartbeats at
// the interval the master gives; when acknowledgements stop coming, or the
// master says it does not know the agent, it registers again.
//
// Nothing in Receive blocks: checkpoint writes go to one disk goroutine in
// order (disk.go), launches, waits, sandbox and cgroup removals and Docker
// calls run on goroutines the agent owns (background.go); all report back
// as messages. What depends on a write waits for it: the agent acts as
// registered once its AgentID is on disk, sends a status update once the
// checkpoint holding it is, and acknowledges an executor's update once its
// own is. Every change of a task's state goes through setState (state.go),
// which follows the task state machine.
package agent

import (
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/runtime/fetcher"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"
)

// Name is the agent actor's well-known name on its node.
const Name = "agent"

// Config is what the agent actor is built from.
type Config struct {
	// Info describes the node; Info.Id is empty for a new agent.
	Info *messages.AgentInfo
	// Master is the master actor to register with; nil until leader
	// detection sends MasterDetected.
	Master *actor.PID
	// WorkDir holds the agent's persistent identity; empty keeps nothing.
	WorkDir string
	Clock   clockwork.Clock
	Logger  *slog.Logger
	// Metrics, when set, counts tasks and resources for /metrics.
	Metrics *Metrics
	// BackoffInitial and BackoffMax bound registration retries as Mesos'
	// --registration_backoff_factor and REGISTER_RETRY_INTERVAL_MAX do
	// (slave.cpp, doReliableRegistration): each retry waits a uniform
	// random part of a bound that starts at twice BackoffInitial (so the
	// first retry comes after BackoffInitial on average) and doubles with
	// each retry up to BackoffMax. Full jitter, not a fixed delay give or
	// take a little: the agents that lose the same master keep spreading
	// out with each retry instead of retrying in waves. 0 means 1 s and
	// 1 min (Mesos' defaults).
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// ReregisterSpread bounds the random wait before an agent that has an
	// ID first re-registers with a newly detected master, as Mesos' agent
	// waits a random part of --registration_backoff_factor: every agent of
	// the cluster learns of a new leader at the same moment, and without
	// it they all arrive at once and the new leader's first second goes to
	// queueing. 0 re-registers at once. The wait is on Clock and drawn
	// from Rand, so a simulation replays it.
	ReregisterSpread time.Duration
	// MaxMissedAcks heartbeats without an acknowledgement make the agent
	// register again; 0 means 3.
	MaxMissedAcks int
	// Containerizer runs command tasks; nil means containerizer.Command.
	Containerizer containerizer.Containerizer
	// Docker runs tasks with a Docker container; nil: such tasks fail.
	Docker containerizer.Containerizer
	// TaskUser is the user a task (or executor) runs as when neither its
	// command nor its framework names one; empty runs it as the agent's
	// own user. An agent running as root sets it so that no task runs as
	// root unless it asks (agora node: --task-user, nobody by default).
	TaskUser string
	// StatusRetry and StatusRetryMax bound how often an unacknowledged
	// status update is resent: after StatusRetry, doubling up to
	// StatusRetryMax. 0 means 2 s and 1 min (Mesos: 10 s and 10 min).
	StatusRetry, StatusRetryMax time.Duration
	// ExecutorRegistrationTimeout bounds how long a custom executor has
	// to register after it is started; 0 means a minute.
	ExecutorRegistrationTimeout time.Duration
	// SandboxGC is how long a finished task's sandbox (its stdout and
	// stderr) is kept after its end is acknowledged; 0 means a week.
	SandboxGC time.Duration
	// Fetcher is how task and executor files (CommandInfo.uris) are
	// fetched: its cache (nil: none) and per-fetch size limit; the user is
	// set for each launch.
	Fetcher fetcher.Config
	// SenderMiddleware wraps every message the agent sends (testkit's
	// fault injection).
	SenderMiddleware []actor.SenderMiddleware
	// ReceiverMiddleware wraps every message the agent receives (testkit's
	// partitions).
	ReceiverMiddleware []actor.ReceiverMiddleware
	// ActorOptions are added to the actor's props: testkit's simulations
	// run every actor on one serial dispatcher, and inject faults as
	// middleware.
	ActorOptions []actor.PropsOption
	// Rand draws the heartbeat and retry jitter; nil uses the global
	// source. A simulation gives each agent a seeded one to replay.
	Rand *rand.Rand

	// WriteInline makes the agent write its checkpoints on its own
	// goroutine, before it goes on, instead of off the actor: the disk
	// counts as fast next to the clock. testkit sets it on a serial
	// cluster, where every actor must finish reacting before the fake
	// clock moves. It costs the agent its responsiveness while the disk is
	// slow (a heartbeat waits behind every fsync): leave it off otherwise.
	WriteInline bool

	// DiskWatchInterval is how often the agent measures the sandboxes of
	// its running tasks and the persistent volumes they use, and kills a
	// task over its disk (Mesos' --disk_watch_interval); 0 measures
	// nothing. DiskQuotaWarnOnly logs a task over its disk instead of
	// killing it (Mesos' --enforce_container_disk_quota=false).
	DiskWatchInterval time.Duration
	DiskQuotaWarnOnly bool

	// diskHook, when set, runs off the actor before each checkpoint write
	// or removal and before a sandbox is removed, with its path (tests:
	// WithDiskHook).
	diskHook func(path string)
}

// MasterDetected tells the agent which master leads now; leader detection
// in the agent's process sends it. A different master than the one the
// agent registered with means registering again, with its tasks.
// Epoch is the leader's epoch (0 if unknown): the same master elected
// again has a larger one.
type MasterDetected struct {
	Master *actor.PID
	Epoch  uint64
}

// Internal timer messages; gen ties them to the behaviour that armed them.
type (
	retryRegistration struct{ gen uint64 }
	// spreadOver: the agent's random wait before re-registering with a
	// new master (Config.ReregisterSpread) is over.
	spreadOver    struct{ gen uint64 }
	heartbeatTick struct{ gen uint64 }
)

type agent struct {
	cfg        Config
	log        *slog.Logger
	info       *messages.AgentInfo // replaced, never changed in place (setInfo): registration messages carry it
	behavior   actor.Behavior
	retryBound time.Duration   // the next registration retry waits up to this
	gen        uint64          // bumped on every behaviour change; stale timers are dropped
	genTimer   clockwork.Timer // the current behaviour's timer (armGen)
	interval   time.Duration
	seq        uint64
	unacked    int
	epoch      uint64               // highest master epoch seen
	drain      *messages.AgentDrain // the drain the master told of (nil: none); reported on re-registration
	session    string               // this agent process, for the master to spot retries
	tasks      map[taskKey]*taskRun
	executors  map[executorKey]*executorRun
	updates    *updateQueues
	// sending holds update copies for the master until a queued
	// flushUpdates sends them (sendArmed) as one message.
	sending   []*messages.StatusUpdate
	sendArmed bool
	// retryTimers are the deadlines of the resend timers pending
	// (armRetry): one, or a few while an earlier resend came to be due.
	retryTimers []time.Time
	// masterBatches: the master this agent registered with takes
	// StatusUpdates (AgentRegistered.takes_batches); until one says so, and
	// after a new master is detected, updates go one by one, which a master
	// of any version takes.
	masterBatches bool
	// heartbeatTo is where heartbeats go: the master's handler for this
	// agent (AgentRegistered.heartbeat_to), nil for the master itself.
	heartbeatTo *actor.PID
	sys         *actor.ActorSystem
	self        *actor.PID
	bg          *background
	disk        *disk
	// removing: sandboxes being garbage-collected, with the tasks waiting
	// to start in them.
	removing map[string][]func(actor.Context)
	// gcq: finished sandboxes waiting for the GC delay; gcArmed: when
	// its one timer is armed for (zero: none).
	gcq     gcQueue
	gcArmed time.Time
	// recovering counts what a restart still waits for: Docker containers
	// being looked for, and the ending of what lost tasks left running;
	// the agent registers when it reaches 0.
	recovering int
	// afterCleanup reports recovered tasks once what they left is ended.
	afterCleanup []func(actor.Context)
	// savingID is the AgentID the master gave while it is being persisted;
	// early holds the master's requests that came meanwhile, handled once
	// it is (the master acts on a registration as soon as it answers).
	savingID string
	early    []any
	// report is the last re-registration sent, resent as it is by a retry
	// while the agent has handled no other message since (nothing it names
	// can have changed: tasks, executors, drain, info and master all change
	// only in a message's turn). Cleared by any other message.
	report *messages.ReregisterAgent
}

// Props returns the props of the agent actor.
func Props(cfg Config) *actor.Props {
	if cfg.BackoffInitial <= 0 {
		cfg.BackoffInitial = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Minute
	}
	if cfg.MaxMissedAcks <= 0 {
		cfg.MaxMissedAcks = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Containerizer == nil {
		cfg.Containerizer = containerizer.Command{}
	}
	if cfg.StatusRetry <= 0 {
		cfg.StatusRetry = 2 * time.Second
	}
	if cfg.StatusRetryMax <= 0 {
		cfg.StatusRetryMax = time.Minute
	}
	return actor.PropsFromProducer(func() actor.Actor {
		a := &agent{cfg: cfg, info: proto.Clone(cfg.Info).(*messages.AgentInfo), behavior: actor.NewBehavior(), retryBound: 2 * cfg.BackoffInitial,
			tasks: map[taskKey]*taskRun{}, executors: map[executorKey]*executorRun{}, updates: newUpdateQueues(cfg.StatusRetry, cfg.StatusRetryMax),
			bg: newBackground(), disk: newDisk(), removing: map[string][]func(actor.Context){}}
		// This agent takes RunTasks and StatusUpdateAcknowledgements; a
		// master batches only for agents that say so.
		a.info.TakesBatches = true
		session := make([]byte, 8)
		_, _ = crand.Read(session)
		a.session = hex.EncodeToString(session)
		a.log = cfg.Logger.With("hostname", a.info.Hostname)
		cfg.Metrics.setCapacity(a.info.GetResources())
		a.behavior.Become(a.registering)
		return a
	}, append([]actor.PropsOption{actor.WithSenderMiddleware(cfg.SenderMiddleware...), actor.WithReceiverMiddleware(cfg.ReceiverMiddleware...)}, cfg.ActorOptions...)...)
}

// handleCommon handles what the agent does in every behaviour: its own
// tasks' progress and acknowledgements. It reports whether it handled msg.
func (a *agent) handleCommon(ctx actor.Context, msg any) bool {
	switch m := msg.(type) {
	case taskLaunched:
		a.handleLaunched(ctx, m)
	case taskExited:
		a.handleExited(ctx, m)
	case retryDue:
		a.handleRetryDue(ctx, m)
	case flushUpdates:
		a.handleFlushUpdates(ctx)
	case executorLaunched:
		a.handleExecutorLaunched(ctx, m)
	case executorExited:
		a.handleExecutorExited(ctx, m)
	case executorTimeout:
		a.handleExecutorTimeout(ctx, m)
	case flushExecutor:
		a.handleFlushExecutor(ctx, m)
	case *messages.RegisterExecutor:
		a.handleRegisterExecutor(ctx, m)
	case *messages.ReregisterExecutor:
		a.handleReregisterExecutor(ctx, m)
	case *messages.ExecutorStatusUpdate:
		if a.fromExecutor(ctx, m) {
			a.handleExecutorStatus(ctx, m)
		}
	case *messages.FrameworkToExecutor:
		if ex, ok := a.executors[executorKey{m.GetFrameworkId().GetValue(), m.GetExecutorId().GetValue()}]; ok && ex.ready && m.MasterEpoch >= a.epoch {
			ctx.Send(ex.pid, m)
		} else {
			a.log.Info("dropping a framework message for an executor not registered here", "executor_id", m.GetExecutorId().GetValue())
		}
	case *messages.KillExecutor:
		if m.MasterEpoch >= a.epoch {
			a.handleKillExecutor(ctx, m)
		}
	case executorShutdownDue:
		a.handleExecutorShutdownDue(ctx, m)
	case executorResized:
		a.handleExecutorResized(m)
	case *messages.ExecutorToFramework:
		if a.cfg.Master != nil {
			out := proto.Clone(m).(*messages.ExecutorToFramework) // the executor's message stays its own
			out.AgentId = a.agentID()
			ctx.Send(a.cfg.Master, out)
		}
	case healthProbe:
		a.handleHealthProbe(m)
	case healthProbed:
		a.handleHealthProbed(ctx, m)
	case checkProbe:
		a.handleCheckProbe(m)
	case checkProbed:
		a.handleCheckProbed(ctx, m)
	case diskDone:
		a.handleDiskDone(ctx, m)
	case diskWatchTick:
		a.handleDiskWatchTick()
	case diskMeasured:
		a.handleDiskMeasured(ctx, m)
	case *messages.AgentDrain:
		a.handleDrain(ctx, m)
	case *messages.CheckpointResources:
		a.handleCheckpointResources(ctx, m)
	case gcDue:
		a.handleGCDue(m)
	case sandboxRemoved:
		a.handleSandboxRemoved(ctx, m)
	case dockerReattached:
		a.handleDockerReattached(ctx, m)
	case executorReattached:
		a.handleExecutorReattached(ctx, m)
	case recoveryCleaned:
		a.handleRecoveryCleaned(ctx)
	case *actor.Touch:
		// A liveness probe (the agent's /health): the actor system answers
		// it once the agent has taken it from its mailbox.
	case *messages.StatusUpdateAcknowledgement:
		a.handleAck(ctx, m)
	case *messages.StatusUpdateAcknowledgements:
		for _, ack := range m.Acks {
			a.handleAck(ctx, ack)
		}
	case MasterDetected:
		if m.Master == nil || (a.cfg.Master != nil && a.cfg.Master.Equal(m.Master) && m.Epoch <= a.epoch) {
			return true
		}
		a.cfg.Master = m.Master
		a.masterBatches = false
		if a.recovering > 0 {
			return true // registers once recovery is over
		}
		if d := a.spread(); d > 0 {
			a.becomeWaiting(d)
			return true
		}
		a.becomeRegistering(ctx, "a new leading master was detected")
	default:
		return false
	}
	return true
}

func (a *agent) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Stopping, *actor.Restarting:
		// Nothing the agent started outlives it: its goroutines end (the
		// disk writer after its current write) before it is stopped.
		a.bg.stop()
	}
	if _, retry := ctx.Message().(retryRegistration); !retry {
		// Whatever this message changes, the next registration reports
		// anew. A retry changes nothing, so back to back retries resend
		// the same report: after a failover at 40,000 agents each agent
		// retried 0.5-1.4 times per rebuild, and rebuilding its report
		// each time was most of a retry's cost.
		a.report = nil
	}
	if !a.fromMaster(ctx) {
		return
	}
	a.behavior.Receive(ctx)
}

// fromMaster refuses what only a master may tell an agent (run or kill a
// task, acknowledge an update, answer a registration or a heartbeat, pass
// a framework's message on) from a sender whose certificate is not a
// master's; a sender in this process, or any on a node run --insecure,
// passes. Whether it is the current master is the epoch checks' job.
func (a *agent) fromMaster(ctx actor.Context) bool {
	switch ctx.Message().(type) {
	case *messages.RunTask, *messages.RunTasks, *messages.RunTaskGroup, *messages.KillTask, *messages.StatusUpdateAcknowledgement,
		*messages.StatusUpdateAcknowledgements, *messages.AgentRegistered,
		*messages.AgentHeartbeatAck, *messages.Error, *messages.FrameworkToExecutor, *messages.AgentDrain, *messages.CheckpointResources,
		*messages.KillExecutor:
	default:
		return true
	}
	from := security.SenderOf(ctx)
	if from.Acts(security.RoleMaster) {
		return true
	}
	a.log.Warn("agent: refused a master's message from a sender that is not a master", "type", fmt.Sprintf("%T", ctx.Message()),
		"sender", from.String(), "sender_pid", ctx.Sender().String())
	return false
}

// fromExecutor refuses an executor's update that its executor did not
// send: the task must be one of that executor's, and over the network the
// sender must be the executor's registered PID (the transport vouches that
// a sender PID is its connection's). Otherwise any peer could report a
// task finished, and the master would free what its process still uses.
func (a *agent) fromExecutor(ctx actor.Context, m *messages.ExecutorStatusUpdate) bool {
	key := taskKey{m.GetFrameworkId().GetValue(), m.GetStatus().GetTaskId().GetValue()}
	ex := a.executors[executorKey{key.framework, m.GetExecutorId().GetValue()}]
	from := security.SenderOf(ctx)
	switch {
	case ex == nil:
	case from.Authenticated() && (ex.pid == nil || !ex.pid.Equal(ctx.Sender())):
	case a.tasks[key] != nil && !messages.IsTerminal(a.tasks[key].state) && ex.tasks[key] == nil:
	default:
		return true
	}
	a.log.Warn("agent: refused an executor's update from a sender that is not the task's executor", "framework_id", key.framework,
		"task_id", key.task, "executor_id", m.GetExecutorId().GetValue(), "sender", from.String(), "sender_pid", ctx.Sender().String())
	return false
}

func (a *agent) id() string { return a.info.GetId().GetValue() }

// agentID is a copy of the agent's ID, for a message to carry.
func (a *agent) agentID() *messages.AgentID {
	if a.info.Id == nil {
		return nil
	}
	return &messages.AgentID{Value: a.info.Id.Value}
}

// becomeRegistering starts (re-)registration right away, then with backoff.
func (a *agent) becomeRegistering(ctx actor.Context, why string) {
	a.log.Info("agent registering with master", "agent_id", a.id(), "master", a.cfg.Master.GetAddress(), "why", why)
	a.unacked = 0
	a.gen++
	a.retryBound = 2 * a.cfg.BackoffInitial
	a.behavior.Become(a.registering)
	a.cfg.Metrics.setRegistered(false)
	a.sendRegistration(ctx)
	a.armGen(a.retryDelay(), retryRegistration{gen: a.gen})
}

// becomeWaiting leaves the old master behind (no heartbeats to it, no
// registration retries) and re-registers with the new one after d.
func (a *agent) becomeWaiting(d time.Duration) {
	a.log.Debug("agent waits before re-registering with a new master", "agent_id", a.id(), "master", a.cfg.Master.GetAddress(), "wait", d)
	a.unacked = 0
	a.gen++
	a.behavior.Become(a.registering)
	a.cfg.Metrics.setRegistered(false)
	a.armGen(d, spreadOver{gen: a.gen})
}

// spread is the wait before re-registering with a newly detected master:
// uniform in [0, ReregisterSpread) for an agent with an ID (a new agent
// has nothing for the master to rebuild and registers at once).
func (a *agent) spread() time.Duration {
	if a.cfg.ReregisterSpread <= 0 || a.id() == "" {
		return 0
	}
	n := int64(a.cfg.ReregisterSpread)
	if a.cfg.Rand != nil {
		return time.Duration(a.cfg.Rand.Int64N(n))
	}
	return time.Duration(rand.Int64N(n))
}

func (a *agent) registering(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case spreadOver:
		if msg.gen == a.gen {
			a.becomeRegistering(ctx, "a new leading master was detected")
		}
	case *actor.Started:
		a.sys, a.self = ctx.ActorSystem(), ctx.Self()
		a.recover(ctx)
		a.startDiskWatch()
		if a.recovering == 0 {
			a.becomeRegistering(ctx, "started")
		}
	case retryRegistration:
		if msg.gen != a.gen {
			return
		}
		a.sendRegistration(ctx)
		a.armGen(a.retryDelay(), retryRegistration{gen: a.gen})
	case *messages.AgentRegistered:
		a.handleRegistered(ctx, msg)
	case *messages.Error:
		a.log.Error("master refused registration; retrying with backoff", "code", msg.Code.String(), "err", msg.Message)
	case *messages.RunTask, *messages.RunTaskGroup, *messages.KillTask:
		a.keepEarly(msg)
	case *messages.RunTasks:
		// A batch is its tasks: each kept for when the ID is on disk.
		for _, t := range msg.Tasks {
			a.keepEarly(t)
		}
	default:
		if !a.handleCommon(ctx, msg) {
			a.ignore(msg)
		}
	}
}

// keepEarly keeps a request of the master that admitted the agent while its
// ID is being persisted (the master already acts on its answer; the agent
// acts once the ID is on disk), and drops one that came before any answer.
func (a *agent) keepEarly(msg any) {
	if a.savingID != "" {
		a.early = append(a.early, msg)
		return
	}
	a.refuseUnregistered(msg)
}

func (a *agent) sendRegistration(ctx actor.Context) {
	if a.cfg.Master == nil {
		return // no leader known yet: MasterDetected starts registration
	}
	// a.info itself, not a copy: it is never changed once made (setInfo).
	if a.id() == "" {
		ctx.Request(a.cfg.Master, &messages.RegisterAgent{Info: a.info, Pid: ctx.Self(), Session: a.session})
		return
	}
	if a.report == nil {
		// Never changed once sent (the master reads it in testkit, and a
		// retry resends it): a change makes the next one.
		tasks, frameworks := a.reportedTasks()
		a.report = &messages.ReregisterAgent{Info: a.info, Pid: ctx.Self(), MasterEpoch: a.epoch, Tasks: tasks, Frameworks: frameworks, Session: a.session, Drain: a.drain,
			RunningExecutors: a.runningExecutors()}
	}
	ctx.Request(a.cfg.Master, a.report)
}

func (a *agent) handleRegistered(ctx actor.Context, msg *messages.AgentRegistered) {
	if e := msg.GetMaster().GetEpoch(); e < a.epoch {
		a.log.Warn("ignoring registration from a deposed master", "epoch", e, "seen", a.epoch)
		return
	}
	a.epoch = msg.GetMaster().GetEpoch()
	id := msg.GetAgentId().GetValue()
	if a.id() != "" && a.id() != id {
		a.log.Error("master assigned a different AgentID than the one we re-registered with; ignoring", "ours", a.id(), "theirs", id)
		return
	}
	if a.id() != "" {
		a.becomeRegistered(ctx, msg)
		return
	}
	if a.savingID != "" {
		return // the answer to a retry, while the first answer's ID is being persisted
	}
	// The identity must be on disk before the agent acts as this agent
	// (heartbeats, status updates, tasks): a restart before that must not
	// find an agent that the master believes acknowledged its ID, or the
	// node would come back as a second agent. Written off the actor; the
	// agent stays registering (and retrying) until the write is done.
	a.savingID = id
	if a.cfg.WorkDir != "" {
		a.persist(agentIDOwner, filepath.Join(a.cfg.WorkDir, agentIDFile), agentIDContent(id))
	}
	gen := a.gen
	a.whenDurable(ctx, agentIDOwner, func(ctx actor.Context, err error) {
		early := a.early
		a.savingID, a.early = "", nil
		if err != nil {
			a.log.Error("cannot persist AgentID; registering again", "agent_id", id, "err", err)
			a.refuseAll(early)
			return // the next retry is answered with the same ID (same session)
		}
		a.setInfo(func(info *messages.AgentInfo) { info.Id = &messages.AgentID{Value: id} })
		if gen != a.gen {
			// Registering anew meanwhile (a new master), with this ID now:
			// that master reconciles what the old one asked.
			a.refuseAll(early)
			return
		}
		a.becomeRegistered(ctx, msg)
		for _, m := range early {
			switch m := m.(type) {
			case *messages.RunTask:
				a.handleRunTask(ctx, m)
			case *messages.RunTaskGroup:
				a.handleRunTaskGroup(ctx, m)
			case *messages.KillTask:
				a.handleKillTask(ctx, m)
			}
		}
	})
}

func (a *agent) refuseAll(msgs []any) {
	for _, m := range msgs {
		a.refuseUnregistered(m)
	}
}

// becomeRegistered acts on a registration whose AgentID is durable.
func (a *agent) becomeRegistered(ctx actor.Context, msg *messages.AgentRegistered) {
	a.interval = time.Duration(msg.HeartbeatIntervalNanos)
	if a.interval <= 0 {
		a.interval = 5 * time.Second
	}
	a.masterBatches = msg.TakesBatches
	a.heartbeatTo = nil
	if to := msg.HeartbeatTo; to != nil && a.cfg.Master != nil && to.Address == a.cfg.Master.Address {
		a.heartbeatTo = to // on the master's node: nowhere else is trusted
	}
	a.gen++
	a.unacked = 0
	a.behavior.Become(a.registered)
	a.cfg.Metrics.setRegistered(true)
	a.log.Info("agent registered", "agent_id", a.id(), "reregistered", msg.Reregistered, "heartbeat_interval", a.interval)
	a.resendPending(ctx) // a (new) master learns at once what it missed
	a.armGen(a.jittered(), heartbeatTick{gen: a.gen})
	// Published after the heartbeat timer is armed, so an observer that
	// advances a fake clock on this event sees the heartbeat fire.
	ctx.ActorSystem().EventStream.Publish(Registered{AgentID: a.id(), Reregistered: msg.Reregistered})
}

func (a *agent) registered(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case heartbeatTick:
		if msg.gen != a.gen {
			return
		}
		if a.unacked >= a.cfg.MaxMissedAcks {
			a.becomeRegistering(ctx, fmt.Sprintf("%d heartbeats unacknowledged", a.unacked))
			return
		}
		// After a heartbeat went unanswered the next goes to the master
		// itself: were the handler gone (the master forgot this agent),
		// the master tells the agent to re-register, one interval later
		// instead of MaxMissedAcks (a dead letter's answer is not to be
		// counted on over remoting).
		to := a.cfg.Master
		if a.heartbeatTo != nil && a.unacked == 0 {
			to = a.heartbeatTo
		}
		a.seq++
		a.unacked++
		ctx.Request(to, &messages.AgentHeartbeat{AgentId: a.agentID(), Seq: a.seq, MasterEpoch: a.epoch})
		a.armGen(a.jittered(), heartbeatTick{gen: a.gen})
	case *messages.AgentHeartbeatAck:
		if msg.GetMaster().GetEpoch() < a.epoch {
			return
		}
		a.unacked = 0
		if d := time.Duration(msg.HeartbeatIntervalNanos); d > 0 {
			a.interval = d
		}
		ctx.ActorSystem().EventStream.Publish(HeartbeatAcked{AgentID: a.id(), Seq: msg.Seq})
	case *messages.AgentRegistered:
		// A late answer to an earlier registration attempt.
	case *messages.Error:
		if msg.Code == messages.Error_UNKNOWN_AGENT {
			a.becomeRegistering(ctx, "master does not know this agent")
			return
		}
		a.log.Warn("master error", "code", msg.Code.String(), "err", msg.Message, "request", msg.Request)
	case *messages.RunTask:
		a.handleRunTask(ctx, msg)
	case *messages.RunTasks:
		for _, t := range msg.Tasks {
			a.handleRunTask(ctx, t)
		}
	case *messages.RunTaskGroup:
		a.handleRunTaskGroup(ctx, msg)
	case *messages.KillTask:
		a.handleKillTask(ctx, msg)
	default:
		if !a.handleCommon(ctx, msg) {
			a.ignore(msg)
		}
	}
}

func (a *agent) ignore(msg any) {
	switch msg.(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting, retryRegistration, spreadOver, heartbeatTick, *actor.DeadLetterResponse:
		return
	}
	a.log.Warn("agent: unexpected message", "type", fmt.Sprintf("%T", msg))
}

// retryDelay is the wait before the next registration retry, uniform in
// [0, bound) (Config.BackoffInitial), drawn from cfg.Rand when given; the
// bound doubles for the retry after, up to BackoffMax.
func (a *agent) retryDelay() time.Duration {
	d, next := registrationBackoff(a.retryBound, a.cfg.BackoffMax, a.draw())
	a.retryBound = next
	return d
}

// registrationBackoff is one step of Mesos' doReliableRegistration: given
// the current bound, the cap and a uniform draw u in [0, 1), the wait
// (u of the capped bound) and the next retry's bound (doubled, capped).
func registrationBackoff(bound, limit time.Duration, u float64) (wait, next time.Duration) {
	bound = max(min(bound, limit), 0)
	return time.Duration(u * float64(bound)), min(2*bound, limit)
}

// draw is a uniform number in [0, 1) from cfg.Rand, else the global source.
func (a *agent) draw() float64 {
	if a.cfg.Rand != nil {
		return a.cfg.Rand.Float64()
	}
	return rand.Float64()
}

// jittered is the heartbeat interval less up to 20 %: agents that started
// (or re-registered after a failover) together must not heartbeat in
// lockstep, and never later than the master expects.
func (a *agent) jittered() time.Duration {
	n := int64(a.interval)/5 + 1
	if a.cfg.Rand != nil {
		return a.interval - time.Duration(a.cfg.Rand.Int64N(n))
	}
	return a.interval - time.Duration(rand.Int64N(n))
}

// setInfo replaces the agent's AgentInfo with a copy that change has
// changed. The one it replaces is never changed: every registration message
// carries a.info itself (a retry after a failover no longer clones it: at
// 40,000 agents each retried 2-4 times, the clones were a third of their
// sends' CPU), and a master in the same process (testkit) reads it after
// the send.
func (a *agent) setInfo(change func(*messages.AgentInfo)) {
	info := proto.Clone(a.info).(*messages.AgentInfo)
	change(info)
	a.info = info
}

// armGen arms the current behaviour's one timer (a registration retry, the
// end of the re-registration spread, the next heartbeat) and stops the one
// it replaces. A stale timer would be dropped by its gen anyway, but each
// firing costs a goroutine (time.AfterFunc): 10,000 agents re-registering
// with a new leader left 10,000 retries behind, and creating their
// goroutines was a third of the CPU a rebuild took.
func (a *agent) armGen(d time.Duration, msg any) {
	if a.genTimer != nil {
		a.genTimer.Stop()
	}
	sys, self := a.sys, a.self
	a.genTimer = a.cfg.Clock.AfterFunc(d, func() { sys.Root.Send(self, msg) })
}

// later sends msg to the agent after d on the agent's clock.
func (a *agent) later(d time.Duration, msg any) {
	sys, self := a.sys, a.self
	a.cfg.Clock.AfterFunc(d, func() { sys.Root.Send(self, msg) })
}

// Package scheduler is the SDK for framework authors: spawn a scheduler
// actor with your Handler, and it subscribes with the master, delivers
// events to the handler, and carries out the handler's calls through a
// Driver.
//
// Events the handler receives (all from package messages unless noted):
//
//	*FrameworkSubscribed   registered (or re-registered after a failover)
//	*Offers                resources offered to the framework
//	*RescindOffer          an offer was withdrawn (timed out, agent gone, ...)
//	*StatusUpdate          a task changed state
//	*Error                 the master refused a call, and why
//	*FrameworkFailedOver   another scheduler took over this FrameworkID: stop
//	*AgentDraining         an operator drains an agent where the framework has
//	                       tasks: they are killed at the deadline; move them
//	*AgentDrainEnded       the drain of an agent was withdrawn (reactivated,
//	                       or its maintenance window is over)
//	*DemandUnfit           units stated with ReviveForUnits fit no agent of the
//	                       cluster: they will not be offered until one registers
//	*ExecutorExited        one of the framework's executors ended on an agent
//	                       (Mesos' executorLost): its status is the exit code
//	                       (128+N for signal N, then Signal is N; -1 unknown).
//	                       Its unfinished tasks end by their own status updates
//	*AgentLost             an agent left the cluster: unreachable, shut down or
//	                       removed (Mesos' slaveLost). Its tasks' fates come as
//	                       their status updates; an unreachable one may return
//	Disconnected           the connection to the master is lost (this package)
//	Unanswered             a subscription went unanswered; still trying (this package)
//
// The scheduler stays subscribed on its own (Mesos' v1 scheduler library
// does the same): when the connection to its master drops, or no message
// (heartbeats included) arrives for MaxMissedHeartbeats heartbeat
// intervals, or a new leader is detected, the handler receives
// Disconnected and the scheduler subscribes again with its FrameworkID,
// with backoff, until FrameworkSubscribed says it is back. The master
// takes that as a failover of the same framework: its tasks stay its own.
// Calls made while disconnected are sent to the last master known and may
// be lost; reconcile after FrameworkSubscribed.
//
// A master that refuses the subscription itself (an invalid FrameworkInfo,
// a role or principal the cluster does not allow, a removed framework) is
// not asked again: the handler gets the *Error with the master's reason
// and decides (a person has to change something). A master that does not
// answer at all is asked again with backoff, and the handler hears of each
// unanswered attempt (Unanswered), so a client can give up in time and say
// why instead of waiting silently.
//
// Status updates are acknowledged automatically after the handler returns,
// unless Config.ExplicitAcks is set; then call Driver.Acknowledge.
//
// A minimal framework that runs one command (see Example for a full,
// runnable one):
//
//	props := scheduler.Props(scheduler.Config{Master: masterPID, Info: info},
//		scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
//			switch ev := ev.(type) {
//			case *messages.Offers:
//				o := ev.Offers[0]
//				d.Launch([]*messages.Offer{o}, task)
//				d.Decline(scheduler.OfferIDs(ev.Offers[1:]), 5)
//			case *messages.StatusUpdate:
//				if messages.IsTerminal(ev.Status.State) { d.Stop() }
//			}
//		}))
//	system.Root.Spawn(props)
package scheduler

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/cenkalti/backoff/v5"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"
)

// Handler is the framework's logic. Receive runs on the scheduler actor's
// goroutine, one event at a time; d is valid only during the call.
type Handler interface {
	Receive(d *Driver, event any)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(d *Driver, event any)

// Receive implements Handler.
func (f HandlerFunc) Receive(d *Driver, event any) { f(d, event) }

// Config is what a scheduler actor is built from.
type Config struct {
	// Master is the master actor (its address and the name "master").
	Master *actor.PID
	// Info describes the framework. Set Info.Id to re-subscribe as an
	// existing framework (failover).
	Info  *messages.FrameworkInfo
	Clock clockwork.Clock
	// Logger; default slog.Default().
	Logger *slog.Logger
	// ExplicitAcks: the handler acknowledges status updates itself.
	ExplicitAcks bool
	// KeepSuppressed makes every subscription name the roles suppressed
	// (Suppress) and not revived since (SubscribeFramework.suppressed_roles,
	// as a Mesos v1 framework may put them in SUBSCRIBE): a new leader
	// then offers them nothing, even while every agent re-registers after
	// a failover. Off, a new leader knows nothing of the suppression and
	// offers the framework again until it suppresses again.
	KeepSuppressed bool
	// SubscribeBackoff and SubscribeBackoffMax bound subscription retries;
	// 0 means 1 s and 1 min.
	SubscribeBackoff, SubscribeBackoffMax time.Duration
	// MaxMissedHeartbeats heartbeat intervals (the master's, from
	// FrameworkSubscribed) without any message from the master mean the
	// connection is lost; 0 means 5 (mesos-go's choice).
	MaxMissedHeartbeats int
	// ActorOptions are added to the actor's props: testkit's simulations
	// run every actor on one serial dispatcher, and inject faults as
	// middleware.
	ActorOptions []actor.PropsOption
	// Rand draws the retry jitter; nil uses the global source (a
	// simulation gives a seeded one to replay).
	Rand *rand.Rand
}

// Disconnected tells the handler that the scheduler lost its master (the
// connection dropped, heartbeats stopped, or another master leads now).
// The scheduler is subscribing again with its FrameworkID meanwhile;
// FrameworkSubscribed says it is back.
type Disconnected struct {
	Reason string
}

// Unanswered tells the handler that no master has answered the
// subscription yet: Attempts subscriptions were sent to Master over Waited.
// The scheduler keeps trying; the handler may give up (Driver.Stop).
type Unanswered struct {
	Master   string
	Attempts int
	Waited   time.Duration
}

// Internal timer messages; gen ties them to the subscription that armed
// them.
type (
	retrySubscribe struct{ gen uint64 }
	heartbeatCheck struct{ gen uint64 }
)

// teardownAndWait asks the scheduler actor to tear its framework down and
// report when the master has removed it.
type teardownAndWait struct{ done chan error }

type schedulerActor struct {
	cfg     Config
	handler Handler
	// acks are held until a queued flushAcks sends them (acking) as one
	// Acknowledgements: the updates of a flood are acknowledged in a
	// message per mailbox turn, not one each.
	acks   []*messages.Acknowledge
	acking bool
	// masterBatches: the master this scheduler subscribed with takes
	// Acknowledgements (FrameworkSubscribed.takes_batches); until one says
	// so, acknowledgements go one by one, which a master of any version
	// takes.
	masterBatches bool
	log           *slog.Logger
	info          *messages.FrameworkInfo
	subscribed    bool
	gen           uint64
	epoch         uint64
	backoff       *backoff.ExponentialBackOff
	sys           *actor.ActorSystem
	self          *actor.PID
	seen          uuidSet // status updates already delivered
	session       string  // this scheduler process, for the master to spot retries
	// suppressed are the roles suppressed (Driver.Suppress) and not revived
	// since; with Config.KeepSuppressed every subscription names them.
	suppressed map[string]bool

	// watched is the master this scheduler watches (its connection's
	// loss arrives as Terminated); heard is when the master was last
	// heard from, and silence how long it may be quiet while subscribed.
	watched *actor.PID
	heard   time.Time
	silence time.Duration

	// attempts and since count subscriptions unanswered since the last
	// answer, for Unanswered; refused is set once the master refused the
	// subscription for good.
	attempts int
	since    time.Time
	refused  bool
	// removing are callers of TeardownAndWait, answered when the master
	// says the framework is gone.
	removing []chan error
}

// uuidSet remembers the last status update UUIDs delivered, in two
// generations so that it stays bounded: a repeat arrives within seconds.
type uuidSet struct{ cur, old map[string]struct{} }

const uuidGeneration = 50_000

func (u *uuidSet) has(id string) bool {
	_, inCur := u.cur[id]
	_, inOld := u.old[id]
	return inCur || inOld
}

func (u *uuidSet) add(id string) {
	if u.cur == nil || len(u.cur) >= uuidGeneration {
		u.old, u.cur = u.cur, make(map[string]struct{}, 1024)
	}
	u.cur[id] = struct{}{}
}

// Props returns the props of a scheduler actor running handler.
func Props(cfg Config, handler Handler) *actor.Props {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SubscribeBackoff <= 0 {
		cfg.SubscribeBackoff = time.Second
	}
	if cfg.SubscribeBackoffMax <= 0 {
		cfg.SubscribeBackoffMax = time.Minute
	}
	if cfg.MaxMissedHeartbeats <= 0 {
		cfg.MaxMissedHeartbeats = 5
	}
	return actor.PropsFromProducer(func() actor.Actor {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval, b.MaxInterval, b.Multiplier, b.RandomizationFactor = cfg.SubscribeBackoff, cfg.SubscribeBackoffMax, 2, 0.5
		if cfg.Rand != nil {
			b.RandomizationFactor = 0 // retryDelay jitters from cfg.Rand
		}
		session := make([]byte, 8)
		_, _ = crand.Read(session)
		return &schedulerActor{cfg: cfg, handler: handler, info: proto.Clone(cfg.Info).(*messages.FrameworkInfo), backoff: b,
			log: cfg.Logger.With("framework", cfg.Info.GetName()), session: hex.EncodeToString(session)}
	}, cfg.ActorOptions...)
}

func (s *schedulerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.sys, s.self = ctx.ActorSystem(), ctx.Self()
		s.subscribe(ctx)
	case retrySubscribe:
		if m.gen == s.gen && !s.subscribed && !s.refused {
			if s.attempts > 0 {
				s.deliver(ctx, Unanswered{Master: s.cfg.Master.GetAddress(), Attempts: s.attempts, Waited: s.cfg.Clock.Since(s.since)})
			}
			s.subscribe(ctx)
		}
	case flushAcks:
		s.flushAcks(ctx)
	case teardownAndWait:
		s.teardownAndWait(ctx, m)
	case MasterDetected:
		s.masterDetected(ctx, m)
	case heartbeatCheck:
		s.checkHeartbeat(ctx, m)
	case *actor.Terminated:
		if s.watched != nil && m.Who.Equal(s.watched) {
			s.watched = nil
			if s.subscribed {
				s.disconnected(ctx, "the connection to the master was lost ("+m.Why.String()+")")
			}
		}
	case *messages.FrameworkSubscribed:
		if !s.fresh(m.GetMaster().GetEpoch()) {
			return
		}
		s.subscribed = true
		s.gen++
		s.attempts = 0
		s.info.Id = m.FrameworkId
		s.log.Info("framework subscribed", "framework_id", m.FrameworkId.GetValue())
		s.masterBatches = m.TakesBatches
		s.watchMaster(ctx, m.HeartbeatIntervalNanos)
		s.deliver(ctx, m)
	case *messages.Offers, *messages.RescindOffer, *messages.AgentLost:
		// Passed on as they come, unless a deposed master sent them.
		if s.fresh(m.(interface{ GetMasterEpoch() uint64 }).GetMasterEpoch()) {
			s.deliver(ctx, m)
		}
	case *messages.ExecutorExited:
		if s.fresh(m.MasterEpoch) {
			s.log.Info("executor exited", "agent_id", m.GetAgentId().GetValue(), "executor_id", m.GetExecutorId().GetValue(), "status", m.Status)
			s.deliver(ctx, m)
		}
	case *messages.DemandUnfit:
		if s.fresh(m.MasterEpoch) {
			s.log.Info("demand fits no agent", "units", len(m.Unfit), "agents", m.Agents)
			s.deliver(ctx, m)
		}
	case *messages.StatusUpdate:
		s.statusUpdate(ctx, m)
	case *messages.StatusUpdates:
		for _, u := range m.Updates {
			s.statusUpdate(ctx, u)
		}
	case *messages.FrameworkHeartbeat:
		s.fresh(m.MasterEpoch)
	case *messages.FrameworkFailedOver:
		s.log.Warn("another scheduler took over this framework")
		s.subscribed = false
		s.deliver(ctx, m)
	case *messages.Error:
		if len(s.removing) > 0 && m.Code == messages.Error_UNKNOWN_FRAMEWORK {
			s.removed(ctx, nil)
			return
		}
		if !s.subscribed && m.Request == subscribeRequest && refusesForGood(m.Code) {
			s.refused = true
			s.gen++ // no more retries
			s.log.Error("the master refused the subscription; not retrying", "code", m.Code.String(), "err", m.Message)
		}
		s.deliver(ctx, m)
		if l := m.GetLeader(); m.Code == messages.Error_NOT_LEADER && l.GetAddress() != "" && l.GetEpoch() > s.epoch {
			// A standby names another master, newer than any we heard
			// from: go there without waiting for leader detection. (One
			// naming itself is still starting: the retry will do.)
			if named := actor.NewPID(l.Address, MasterName); s.cfg.Master == nil || !named.Equal(s.cfg.Master) {
				s.masterDetected(ctx, MasterDetected{Master: named, Epoch: l.Epoch})
			}
		}
	case *actor.Stopping, *actor.Stopped, *actor.Restarting, *actor.DeadLetterResponse:
	default:
		s.deliver(ctx, m)
	}
}

// subscribeRequest names a subscription in the master's Error.Request.
var subscribeRequest = string((&messages.SubscribeFramework{}).ProtoReflect().Descriptor().FullName())

// refusesForGood tells a refusal that asking again will not change (the
// request itself is wrong, or not allowed) from one about this master
// (not the leader, or an old epoch), after which another try may succeed.
func refusesForGood(code messages.Error_Code) bool {
	switch code {
	case messages.Error_NOT_LEADER, messages.Error_STALE_EPOCH, messages.Error_CODE_UNSPECIFIED:
		return false
	}
	return true
}

// teardownAndWait tears the framework down; the waiter hears when the
// master removed it (its tasks have ended), or at once if it never
// subscribed. The actor stops then: it has nothing left to schedule.
func (s *schedulerActor) teardownAndWait(ctx actor.Context, m teardownAndWait) {
	if s.info.GetId().GetValue() == "" {
		m.done <- nil
		ctx.Stop(ctx.Self())
		return
	}
	s.removing = append(s.removing, m.done)
	(&Driver{s: s, ctx: ctx}).Teardown()
}

func (s *schedulerActor) removed(ctx actor.Context, err error) {
	for _, done := range s.removing {
		done <- err
	}
	s.removing = nil
	ctx.Stop(ctx.Self())
}

// TeardownAndWait tears the framework of the scheduler actor pid down and
// waits until the master has removed it, which is after each of its tasks
// has ended (killed, with its status update delivered to the handler
// first). The scheduler actor stops then. It gives up when ctx ends; the
// master finishes the teardown anyway.
func TeardownAndWait(ctx context.Context, root *actor.RootContext, pid *actor.PID) error {
	done := make(chan error, 1)
	root.Send(pid, teardownAndWait{done: done})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("the framework's teardown was asked for but not confirmed by the master: %w", ctx.Err())
	}
}

// fresh drops messages from a master older than one already heard from;
// anything else is news from the master.
func (s *schedulerActor) fresh(epoch uint64) bool {
	if epoch < s.epoch {
		s.log.Warn("ignoring a message from a deposed master", "epoch", epoch, "seen", s.epoch)
		return false
	}
	s.epoch = epoch
	s.heard = s.cfg.Clock.Now()
	return true
}

func (s *schedulerActor) masterDetected(ctx actor.Context, m MasterDetected) {
	if m.Master == nil || (s.cfg.Master != nil && s.cfg.Master.Equal(m.Master) && m.Epoch <= s.epoch) {
		return
	}
	s.log.Info("a new leading master was detected; subscribing again", "master", m.Master.String(), "epoch", m.Epoch)
	s.cfg.Master = m.Master
	s.masterBatches = false // until the new master says it takes them
	if s.subscribed {
		s.disconnected(ctx, "a new leading master was detected: "+m.Master.Address)
		return
	}
	s.gen++
	s.backoff.Reset()
	s.subscribe(ctx)
}

// watchMaster starts watching the master a subscription was answered by,
// and the silence allowed from it.
func (s *schedulerActor) watchMaster(ctx actor.Context, heartbeatNanos int64) {
	if s.watched != nil && !s.watched.Equal(s.cfg.Master) {
		ctx.Unwatch(s.watched)
		s.watched = nil
	}
	if s.watched == nil && s.cfg.Master != nil {
		s.watched = s.cfg.Master
		ctx.Watch(s.watched)
	}
	s.silence = 0
	if heartbeatNanos > 0 {
		s.silence = time.Duration(heartbeatNanos) * time.Duration(s.cfg.MaxMissedHeartbeats)
		s.armHeartbeatCheck(s.silence)
	}
}

func (s *schedulerActor) armHeartbeatCheck(after time.Duration) {
	sys, self, gen := s.sys, s.self, s.gen
	s.cfg.Clock.AfterFunc(after, func() { sys.Root.Send(self, heartbeatCheck{gen: gen}) })
}

// checkHeartbeat: a subscribed scheduler that has not heard from its
// master for the allowed silence takes the connection as lost.
func (s *schedulerActor) checkHeartbeat(ctx actor.Context, m heartbeatCheck) {
	if m.gen != s.gen || !s.subscribed || s.silence <= 0 {
		return
	}
	quiet := s.cfg.Clock.Since(s.heard)
	if quiet < s.silence {
		s.armHeartbeatCheck(s.silence - quiet)
		return
	}
	s.disconnected(ctx, fmt.Sprintf("no message from the master for %v (%d heartbeats missed)", quiet.Round(time.Millisecond), s.cfg.MaxMissedHeartbeats))
}

// disconnected tells the handler and subscribes again at once, then
// with backoff until a subscription is answered.
func (s *schedulerActor) disconnected(ctx actor.Context, reason string) {
	s.subscribed = false
	s.gen++
	s.log.Warn("disconnected from the master; subscribing again", "reason", reason, "framework_id", s.info.GetId().GetValue())
	s.deliver(ctx, Disconnected{Reason: reason})
	s.backoff.Reset()
	s.subscribe(ctx)
}

// MasterDetected tells the scheduler which master leads now (leader
// detection in its process sends it): it subscribes again there with its
// FrameworkID, so its tasks stay its own.
// Epoch is the leader's epoch (0 if unknown): the same master elected
// again has a larger one.
type MasterDetected struct {
	Master *actor.PID
	Epoch  uint64
}

func (s *schedulerActor) subscribe(ctx actor.Context) {
	if s.cfg.Master == nil {
		return // no leader known yet: MasterDetected subscribes
	}
	// A copy: in one process the master reads the message while this
	// actor later sets s.info.Id.
	info := proto.Clone(s.info).(*messages.FrameworkInfo)
	// The SDK takes status updates in batches (StatusUpdates): the master
	// forwards those of one of its turns in one message.
	if !slices.Contains(info.Capabilities, messages.Capability_STATUS_UPDATE_BATCHES) {
		info.Capabilities = append(info.Capabilities, messages.Capability_STATUS_UPDATE_BATCHES)
	}
	if s.attempts == 0 {
		s.since = s.cfg.Clock.Now()
	}
	s.attempts++
	sub := &messages.SubscribeFramework{Info: info, Pid: ctx.Self(), MasterEpoch: s.epoch, Session: s.session}
	if s.cfg.KeepSuppressed {
		sub.SuppressedRoles = slices.Sorted(maps.Keys(s.suppressed))
	}
	ctx.Request(s.cfg.Master, sub)
	sys, self, gen := s.sys, s.self, s.gen
	s.cfg.Clock.AfterFunc(s.retryDelay(), func() { sys.Root.Send(self, retrySubscribe{gen: gen}) })
}

// retryDelay is the next subscription backoff, jittered by half either
// way; drawn from cfg.Rand when given (else the backoff jitters itself).
func (s *schedulerActor) retryDelay() time.Duration {
	d := s.backoff.NextBackOff()
	if s.cfg.Rand == nil {
		return d
	}
	return time.Duration(float64(d) * (0.5 + s.cfg.Rand.Float64()))
}

func (s *schedulerActor) deliver(ctx actor.Context, ev any) {
	s.handler.Receive(&Driver{s: s, ctx: ctx}, ev)
}

// Driver carries out a handler's calls. It is valid only during the
// Receive call it was passed to.
type Driver struct {
	s   *schedulerActor
	ctx actor.Context
}

// FrameworkID is the framework's ID ("" before subscription).
func (d *Driver) FrameworkID() string { return d.s.info.GetId().GetValue() }

func (d *Driver) id() *messages.FrameworkID { return d.s.info.GetId() }

func (d *Driver) call(msg proto.Message) {
	if d.s.cfg.Master == nil {
		d.s.log.Warn("no leading master known: call dropped", "call", fmt.Sprintf("%T", msg))
		return
	}
	d.ctx.Request(d.s.cfg.Master, msg)
}

// Launch accepts offers (all on one agent) and launches tasks on them;
// what the tasks leave unused goes back to the cluster. Tasks without an
// agent ID get the offers' agent.
func (d *Driver) Launch(offers []*messages.Offer, tasks ...*messages.TaskInfo) {
	d.LaunchWithFilters(offers, nil, tasks...)
}

// LaunchWithFilters is Launch with filters for the unused resources
// (nil: refuse them for the master's default 5 s).
func (d *Driver) LaunchWithFilters(offers []*messages.Offer, filters *messages.Filters, tasks ...*messages.TaskInfo) {
	if len(offers) > 0 {
		for _, t := range tasks {
			if t.AgentId == nil {
				t.AgentId = offers[0].AgentId
			}
		}
	}
	d.call(&messages.Accept{FrameworkId: d.id(), OfferIds: OfferIDs(offers), Filters: filters,
		Operations: []*messages.Operation{{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: tasks}}}}})
}

// LaunchGroup accepts offers (all on one agent) and launches tasks as one
// task group in executor: all start or none (a task the master refuses
// ends every task of the group TASK_ERROR, REASON_TASK_GROUP_INVALID). An
// executor without a command is the agent's default executor: it runs
// each task (a command, or a Docker container) under one cgroup parent,
// the Docker ones sharing the first one's network namespace, and kills
// the others when one fails or is killed. An executor with a command is
// the framework's own, given the tasks. Tasks name no executor of their
// own; tasks without an agent ID get the offers' agent.
func (d *Driver) LaunchGroup(offers []*messages.Offer, filters *messages.Filters, executor *messages.ExecutorInfo, tasks ...*messages.TaskInfo) {
	d.Accept(offers, filters, GroupOperation(executor, tasks...))
}

// GroupOperation is a LAUNCH_GROUP operation, for Accept with others.
func GroupOperation(executor *messages.ExecutorInfo, tasks ...*messages.TaskInfo) *messages.Operation {
	return &messages.Operation{Op: &messages.Operation_LaunchGroup{LaunchGroup: &messages.LaunchGroup{
		Executor: executor, TaskGroup: &messages.TaskGroupInfo{Tasks: tasks}}}}
}

// Accept accepts offers (all on one agent) with operations carried out
// in order (RESERVE, CREATE, LAUNCH, ...); tasks without an agent ID get
// the offers' agent.
func (d *Driver) Accept(offers []*messages.Offer, filters *messages.Filters, ops ...*messages.Operation) {
	for _, op := range ops {
		for _, t := range slices.Concat(op.GetLaunch().GetTasks(), op.GetLaunchGroup().GetTaskGroup().GetTasks()) {
			if t.AgentId == nil && len(offers) > 0 {
				t.AgentId = offers[0].AgentId
			}
		}
	}
	d.call(&messages.Accept{FrameworkId: d.id(), OfferIds: OfferIDs(offers), Filters: filters, Operations: ops})
}

// Decline returns offers whole and refuses their agents for refuseSeconds
// (negative: the master's default, 5 s).
func (d *Driver) Decline(offerIDs []*messages.OfferID, refuseSeconds float64) {
	d.DeclineWithReason(offerIDs, refuseSeconds, "")
}

// DeclineWithReason is Decline saying why, in a few words ("no gpu",
// "waiting for locality"): the master counts declines by reason (`agora
// frameworks describe`). At most messages.MaxDeclineReason bytes (a longer
// reason is cut here, at a character boundary); a framework's reasons past
// its first messages.MaxDeclineReasons count as "other".
func (d *Driver) DeclineWithReason(offerIDs []*messages.OfferID, refuseSeconds float64, reason string) {
	if len(offerIDs) == 0 {
		return
	}
	msg := &messages.Decline{FrameworkId: d.id(), OfferIds: offerIDs, Reason: cutReason(reason)}
	if refuseSeconds >= 0 {
		msg.Filters = &messages.Filters{RefuseSeconds: &refuseSeconds}
	}
	d.call(msg)
}

// SendFrameworkMessage sends data to one of the framework's executors on
// an agent (best effort: it may be lost).
func (d *Driver) SendFrameworkMessage(agentID, executorID string, data []byte) {
	d.call(&messages.FrameworkToExecutor{FrameworkId: d.id(), ExecutorId: &messages.ExecutorID{Value: executorID},
		AgentId: &messages.AgentID{Value: agentID}, Data: data})
}

// ShutdownExecutor asks for one of the framework's executors on an agent
// to be shut down (Mesos' SHUTDOWN call): its unfinished tasks end
// TASK_KILLED with REASON_EXECUTOR_TERMINATED. An executor the master does
// not know the framework to run there is answered with an *Error.
func (d *Driver) ShutdownExecutor(agentID, executorID string) {
	d.call(&messages.KillExecutor{FrameworkId: d.id(), ExecutorId: &messages.ExecutorID{Value: executorID}, AgentId: &messages.AgentID{Value: agentID}})
}

// Kill asks for a task to be killed.
func (d *Driver) Kill(taskID, agentID string) {
	d.call(&messages.KillTask{FrameworkId: d.id(), TaskId: &messages.TaskID{Value: taskID}, AgentId: &messages.AgentID{Value: agentID}})
}

// Reconcile asks for the latest state of the given tasks, or of every
// live task when none is given; answers arrive as status updates with
// REASON_RECONCILIATION.
func (d *Driver) Reconcile(tasks ...*messages.Reconcile_Task) {
	d.call(&messages.Reconcile{FrameworkId: d.id(), Tasks: tasks})
}

// Suppress stops offers for roles (all when none); Revive resumes them.
// With Config.KeepSuppressed the suppression outlives a failover: the next
// subscription, to this master or a new one, names the roles.
func (d *Driver) Suppress(roles ...string) {
	if len(roles) == 0 {
		roles = d.s.info.GetRoles()
	}
	if d.s.suppressed == nil {
		d.s.suppressed = map[string]bool{}
	}
	for _, r := range roles {
		d.s.suppressed[r] = true
	}
	d.call(&messages.Suppress{FrameworkId: d.id(), Roles: roles})
}

// Revive resumes offers for roles (all when none) and clears filters.
func (d *Driver) Revive(roles ...string) {
	d.revived(roles)
	d.call(&messages.Revive{FrameworkId: d.id(), Roles: roles})
}

// revived forgets the suppression of roles (all when none).
func (d *Driver) revived(roles []string) {
	if len(roles) == 0 {
		clear(d.s.suppressed)
	}
	for _, r := range roles {
		delete(d.s.suppressed, r)
	}
}

// ReviveFor revives roles (all when none) and says what the framework is
// waiting for in them, for example its pending tasks' resources added up:
// it is then offered about that much per allocation interval rather than
// every free agent it is first in line for (messages.Revive.demand). Call
// it again when the demand grows; suppress when nothing is pending.
func (d *Driver) ReviveFor(demand []*messages.Resource, roles ...string) {
	d.revived(roles)
	d.call(&messages.Revive{FrameworkId: d.id(), Roles: roles, Demand: demand})
}

// ReviveForUnits is ReviveFor with the demand given as its units (one
// task's resources each, for example; repeat a unit for each task of that
// shape): the demand is their sum, and the master checks each distinct
// unit against the cluster's agents. A unit larger than every agent's
// total comes back as a *messages.DemandUnfit event, once per demand (and
// again when the cluster shrinks): such a task would wait forever.
func (d *Driver) ReviveForUnits(units [][]*messages.Resource, roles ...string) {
	sum := map[string]float64{}
	var names []string
	var shapes []*messages.ResourceQuantities
	seen := map[string]bool{}
	for _, u := range units {
		key := ""
		for _, r := range u {
			if _, ok := sum[r.Name]; !ok {
				names = append(names, r.Name)
			}
			sum[r.Name] += r.Scalar
			key += fmt.Sprintf("%s:%g;", r.Name, r.Scalar)
		}
		if !seen[key] {
			seen[key] = true
			shapes = append(shapes, &messages.ResourceQuantities{Resources: u})
		}
	}
	demand := make([]*messages.Resource, 0, len(names))
	for _, n := range names {
		demand = append(demand, &messages.Resource{Name: n, Scalar: min(sum[n], messages.MaxScalar)})
	}
	d.revived(roles)
	d.call(&messages.Revive{FrameworkId: d.id(), Roles: roles, Demand: demand, DemandUnits: shapes})
}

// cutReason bounds a decline reason to messages.MaxDeclineReason bytes,
// at a character boundary.
func cutReason(reason string) string {
	if len(reason) <= messages.MaxDeclineReason {
		return reason
	}
	cut := messages.MaxDeclineReason
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}

// Acknowledge confirms a status update (only needed with ExplicitAcks).
// It goes out once the scheduler's current mailbox turn is over, with the
// other acknowledgements made meanwhile.
func (d *Driver) Acknowledge(st *messages.TaskStatus) {
	if len(st.GetUuid()) == 0 {
		return // master-generated updates need none
	}
	s := d.s
	s.acks = append(s.acks, &messages.Acknowledge{FrameworkId: d.id(), AgentId: st.AgentId, TaskId: st.TaskId, Uuid: st.Uuid})
	if !s.acking {
		s.acking = true
		d.ctx.Send(d.ctx.Self(), flushAcks{})
	}
}

// statusUpdate delivers one status update (alone or from a StatusUpdates)
// and acknowledges it.
func (s *schedulerActor) statusUpdate(ctx actor.Context, m *messages.StatusUpdate) {
	if !s.fresh(m.MasterEpoch) {
		return
	}
	if u := string(m.Status.GetUuid()); u != "" {
		// Updates are delivered at least once (an agent resends until
		// acknowledged, and an acknowledgement can cross a resend):
		// the handler sees each once; a repeat is only acknowledged.
		if s.seen.has(u) {
			if !s.cfg.ExplicitAcks { // else the handler's own ack covers it
				(&Driver{s: s, ctx: ctx}).Acknowledge(m.Status)
			}
			return
		}
		s.seen.add(u)
	}
	s.deliver(ctx, m)
	if !s.cfg.ExplicitAcks {
		(&Driver{s: s, ctx: ctx}).Acknowledge(m.Status)
	}
}

// flushAcks: the scheduler's turn to send the acknowledgements it holds.
type flushAcks struct{}

// flushAcks sends the acknowledgements held: one alone, more as their
// batch, to the master known now (an update a master that is gone never
// hears acknowledged is resent by its agent).
func (s *schedulerActor) flushAcks(ctx actor.Context) {
	acks := s.acks
	s.acks, s.acking = nil, false
	d := &Driver{s: s, ctx: ctx}
	switch {
	case len(acks) == 1 || !s.masterBatches:
		// One by one to a master that has not said it takes them (an
		// older version, mid-upgrade).
		for _, a := range acks {
			d.call(a)
		}
	default:
		d.call(&messages.Acknowledgements{Acks: acks})
	}
}

// Teardown removes the framework: its tasks are killed.
func (d *Driver) Teardown() { d.call(&messages.Teardown{FrameworkId: d.id()}) }

// Stop stops the scheduler actor (the master sees it disconnect; tasks run
// on until the failover timeout).
func (d *Driver) Stop() { d.ctx.Stop(d.ctx.Self()) }

// Self is the scheduler actor's PID.
func (d *Driver) Self() *actor.PID { return d.ctx.Self() }

// Send delivers msg to the scheduler actor itself later (timers, work
// finished elsewhere); it arrives at the handler as an event.
func (d *Driver) Send(msg any) { d.ctx.Send(d.ctx.Self(), msg) }

// After delivers msg to the handler after delay on the scheduler's clock.
func (d *Driver) After(delay time.Duration, msg any) {
	sys, self := d.s.sys, d.s.self
	d.s.cfg.Clock.AfterFunc(delay, func() { sys.Root.Send(self, msg) })
}

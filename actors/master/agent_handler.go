package master

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// handlerCheck: the agent handler's own liveness timer fired.
type handlerCheck struct{}

// agentHandler is the master's child for one agent, as Mesos'
// SlaveObserver: it answers the agent's heartbeats (the agent sends them
// here, AgentRegistered.heartbeat_to), restarts its liveness clock each time
// the agent or the master hears from it (messages.AgentObserved), and tells
// the master when the agent has missed too many heartbeats
// (messages.AgentMissedHeartbeats). One timer per agent lives here, not in
// the master.
//
// Heartbeats are answered here because the master's mailbox is where offers,
// declines and accepts queue: at 10,000 agents and 50 frameworks declining,
// a heartbeat waited there 124-426 ms (p99) for its answer. Only the plain
// case is answered here, though: a heartbeat from another identity, of
// another agent, or of an agent this handler has reported unreachable goes
// on to the master, which refuses it or tells the agent to re-register.
type agentHandler struct {
	cfg      Config
	id       string
	live     liveness
	log      *slog.Logger
	reported bool // unreachable already reported since last seen
	checking bool // a handlerCheck is armed
	sys      *actor.ActorSystem
	self     *actor.PID
	// interval is the heartbeat interval agents are told now, kept by the
	// master (it grows with the cluster).
	interval *atomic.Int64
	// role and principal: who the agent's connection authenticated as.
	role, principal string
}

func agentHandlerProps(cfg Config, id string, interval *atomic.Int64) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &agentHandler{cfg: cfg, id: id, log: cfg.Logger.With("agent_id", id), interval: interval}
	}, cfg.ActorOptions...)
}

func (h *agentHandler) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		h.sys, h.self = ctx.ActorSystem(), ctx.Self()
	case *messages.AgentObserved:
		// Only the master may say it heard from the agent: anyone else
		// could keep a dead agent reachable (the gate keeps remote
		// senders from naming a PID of this node).
		if !ctx.Parent().Equal(ctx.Sender()) {
			h.log.Warn("agent handler: an AgentObserved not from the master; ignored", "sender", ctx.Sender())
			return
		}
		h.role, h.principal = msg.Role, msg.Principal
		h.observe(time.Unix(0, msg.SeenUnixNano), time.Duration(msg.IntervalNanos))
	case *messages.AgentHeartbeat:
		h.heartbeat(ctx, msg)
	case handlerCheck:
		h.checking = false
		if h.reported {
			return
		}
		unreachable, next := h.live.check(h.cfg.Clock.Now(), h.cfg.Liveness.MaxMisses)
		if unreachable {
			h.reported = true
			ctx.Request(ctx.Parent(), &messages.AgentMissedHeartbeats{AgentId: h.id}) // Request: the master checks who reports
			return
		}
		h.armCheck(next)
	}
}

func (h *agentHandler) observe(seen time.Time, interval time.Duration) {
	h.live.observe(seen, interval)
	h.reported = false
	if !h.checking {
		h.armCheck(h.live.lastSeen.Add(h.live.interval * time.Duration(h.cfg.Liveness.MaxMisses)))
	}
}

// heartbeat answers the agent's heartbeat, or hands it to the master when
// it is not the plain case.
func (h *agentHandler) heartbeat(ctx actor.Context, msg *messages.AgentHeartbeat) {
	interval := time.Duration(h.interval.Load())
	if h.reported || h.live.interval == 0 || interval <= 0 || msg.GetAgentId().GetValue() != h.id || !h.fromAgent(ctx) {
		h.cfg.Metrics.heartbeatHanded()
		ctx.Forward(ctx.Parent())
		return
	}
	now := h.cfg.Clock.Now()
	h.observe(now, interval)
	ctx.Respond(&messages.AgentHeartbeatAck{AgentId: msg.AgentId, Seq: msg.Seq, Master: h.cfg.Info, HeartbeatIntervalNanos: int64(interval)})
	// The master keeps the time for /state and counts the heartbeat; the
	// agent's answer does not wait for it.
	ctx.Request(ctx.Parent(), &messages.AgentSeen{AgentId: h.id, SeenUnixNano: now.UnixNano()})
}

// fromAgent is the master core's check (fromAgent) for the plain case: an
// unauthenticated connection (local, or --insecure), or the identity the
// agent registered with.
func (h *agentHandler) fromAgent(ctx actor.Context) bool {
	id := security.SenderOf(ctx)
	return !id.Authenticated() || h.role != "" && string(id.Role) == h.role && id.Name == h.principal
}

func (h *agentHandler) armCheck(at time.Time) {
	h.checking = true
	sys, self := h.sys, h.self
	h.cfg.Clock.AfterFunc(at.Sub(h.cfg.Clock.Now()), func() { sys.Root.Send(self, handlerCheck{}) })
}

package master

import (
	"log/slog"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// Messages from the master to an agent handler. They are local (parent to
// child) and never cross a node boundary.
type (
	// handlerHeartbeat: the master accepted a heartbeat from the agent.
	handlerHeartbeat struct {
		hb       *messages.AgentHeartbeat
		from     *actor.PID
		now      time.Time
		interval time.Duration
	}
	// handlerAgentPID: the agent re-registered, maybe from a new address.
	handlerAgentPID struct {
		pid      *actor.PID
		now      time.Time
		interval time.Duration
	}
	// handlerCheck: the handler's own liveness timer fired.
	handlerCheck struct{}
)

// agentHandler is the master's child for one agent: it holds the agent's
// PID, answers its heartbeats, and tells the master when the agent has
// missed too many (Mesos' SlaveObserver).
type agentHandler struct {
	cfg      Config
	id       string
	agent    *actor.PID
	live     liveness
	log      *slog.Logger
	reported bool // unreachable already reported since last seen
	checking bool // a handlerCheck is armed
	sys      *actor.ActorSystem
	self     *actor.PID
}

func handlerProps(cfg Config, id string, agent *actor.PID, interval time.Duration) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		h := &agentHandler{cfg: cfg, id: id, agent: agent, log: cfg.Logger.With("agent_id", id)}
		h.live.observe(cfg.Clock.Now(), interval)
		return h
	}, cfg.ActorOptions...)
}

func (h *agentHandler) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		h.sys, h.self = ctx.ActorSystem(), ctx.Self()
		h.armCheck(h.live.lastSeen.Add(h.live.interval * time.Duration(h.cfg.Liveness.MaxMisses)))
	case handlerHeartbeat:
		h.live.observe(msg.now, msg.interval)
		h.reported = false
		to := msg.from
		if to == nil {
			to = h.agent
		}
		ctx.Send(to, &messages.AgentHeartbeatAck{
			AgentId:                msg.hb.AgentId,
			Seq:                    msg.hb.Seq,
			Master:                 h.cfg.Info,
			HeartbeatIntervalNanos: int64(msg.interval),
		})
		h.ensureCheck()
	case handlerAgentPID:
		h.agent = msg.pid
		h.live.observe(msg.now, msg.interval)
		h.reported = false
		h.ensureCheck()
	case handlerCheck:
		h.checking = false
		if h.reported {
			return
		}
		unreachable, next := h.live.check(h.cfg.Clock.Now(), h.cfg.Liveness.MaxMisses)
		if unreachable {
			h.reported = true
			ctx.Send(ctx.Parent(), agentUnreachable{id: h.id})
			return
		}
		h.armCheck(next)
	}
}

// ensureCheck arms the liveness timer if none is pending (after the agent
// came back from unreachable).
func (h *agentHandler) ensureCheck() {
	if !h.checking {
		h.armCheck(h.live.lastSeen.Add(h.live.interval * time.Duration(h.cfg.Liveness.MaxMisses)))
	}
}

func (h *agentHandler) armCheck(at time.Time) {
	h.checking = true
	sys, self := h.sys, h.self
	h.cfg.Clock.AfterFunc(at.Sub(h.cfg.Clock.Now()), func() { sys.Root.Send(self, handlerCheck{}) })
}

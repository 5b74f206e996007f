package master

import (
	"log/slog"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// handlerCheck: the agent handler's own liveness timer fired.
type handlerCheck struct{}

// agentHandler is the master's child for one agent: it restarts its
// liveness clock each time the master hears from the agent
// (messages.AgentObserved), and tells the master when the agent has missed
// too many heartbeats (messages.AgentMissedHeartbeats), as Mesos'
// SlaveObserver does. One timer per agent lives here, not in the master.
type agentHandler struct {
	cfg      Config
	id       string
	live     liveness
	log      *slog.Logger
	reported bool // unreachable already reported since last seen
	checking bool // a handlerCheck is armed
	sys      *actor.ActorSystem
	self     *actor.PID
}

func agentHandlerProps(cfg Config, id string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &agentHandler{cfg: cfg, id: id, log: cfg.Logger.With("agent_id", id)}
	}, cfg.ActorOptions...)
}

func (h *agentHandler) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		h.sys, h.self = ctx.ActorSystem(), ctx.Self()
	case *messages.AgentObserved:
		h.live.observe(time.Unix(0, msg.SeenUnixNano), time.Duration(msg.IntervalNanos))
		h.reported = false
		if !h.checking {
			h.armCheck(h.live.lastSeen.Add(h.live.interval * time.Duration(h.cfg.Liveness.MaxMisses)))
		}
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

func (h *agentHandler) armCheck(at time.Time) {
	h.checking = true
	sys, self := h.sys, h.self
	h.cfg.Clock.AfterFunc(at.Sub(h.cfg.Clock.Now()), func() { sys.Root.Send(self, handlerCheck{}) })
}

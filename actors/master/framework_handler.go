package master

import (
	"log/slog"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// fwHeartbeat is the framework handler's own heartbeat timer.
type fwHeartbeat struct{}

// frameworkHandler is the master's child for one framework: it watches the
// connection of the scheduler that holds the framework
// (messages.SchedulerConnected), reports its loss
// (messages.SchedulerLost), and sends the scheduler heartbeats meanwhile.
// A scheduler that misses them knows its connection is gone and subscribes
// again. Everything else the master sends the scheduler itself.
type frameworkHandler struct {
	cfg       Config
	id        string
	scheduler *actor.PID
	interval  time.Duration
	ticking   bool
	log       *slog.Logger
	sys       *actor.ActorSystem
	self      *actor.PID
}

func frameworkHandlerProps(cfg Config, id string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &frameworkHandler{cfg: cfg, id: id, log: cfg.Logger.With("framework_id", id)}
	}, cfg.ActorOptions...)
}

func (h *frameworkHandler) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		h.sys, h.self = ctx.ActorSystem(), ctx.Self()
	case *messages.SchedulerConnected:
		if h.scheduler != nil && !h.scheduler.Equal(m.Scheduler) {
			ctx.Unwatch(h.scheduler)
		}
		h.scheduler, h.interval = m.Scheduler, time.Duration(m.HeartbeatIntervalNanos)
		// Watched again even if it is the same PID: proto.actor does not
		// re-establish a watch after its connection dropped.
		ctx.Watch(m.Scheduler)
		if !h.ticking && h.interval > 0 {
			h.ticking = true
			h.later(h.interval, fwHeartbeat{})
		}
	case fwHeartbeat:
		if h.scheduler == nil {
			h.ticking = false // started again by the next connection
			return
		}
		if admit(h.cfg.Fence) {
			ctx.Send(h.scheduler, &messages.FrameworkHeartbeat{MasterEpoch: h.cfg.Info.Epoch})
		}
		h.later(h.interval, fwHeartbeat{})
	case *actor.Terminated:
		if h.scheduler != nil && m.Who.Equal(h.scheduler) {
			h.log.Warn("scheduler disconnected", "pid", h.scheduler.String(), "why", m.Why.String())
			ctx.Request(ctx.Parent(), &messages.SchedulerLost{FrameworkId: h.id, Scheduler: h.scheduler, Reason: m.Why.String()})
			h.scheduler = nil
		}
	}
}

func (h *frameworkHandler) later(d time.Duration, msg any) {
	sys, self := h.sys, h.self
	h.cfg.Clock.AfterFunc(d, func() { sys.Root.Send(self, msg) })
}

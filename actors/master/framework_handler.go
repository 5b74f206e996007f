package master

import (
	"log/slog"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// Messages from the master to a framework handler (local, parent to child).
type (
	// fwConnect: a scheduler (re)subscribed from pid. If another pid held
	// the framework, it is told it failed over.
	fwConnect struct{ pid *actor.PID }
	// fwOffers: send these offers and time them out.
	fwOffers struct{ offers []*messages.Offer }
	// fwRescind: the offer is gone (accepted, declined, expired,
	// rescinded); stop its timer and, if tell, tell the scheduler.
	fwRescind struct {
		offerID string
		tell    bool
		reason  string
	}
	// fwSend: forward a message to the scheduler.
	fwSend struct{ msg proto.Message }
	// fwOfferTimeout and fwHeartbeat are the handler's own timers.
	// One timer per batch of offers that expire together: a framework
	// offered 10,000 agents at once needs one timer, not 10,000.
	fwOfferTimeout struct{ offerIDs []string }
	fwHeartbeat    struct{}
)

// Messages from a framework handler to the master.
type (
	frameworkDisconnected struct {
		frameworkID string
		pid         *actor.PID
	}
	offerExpired struct{ frameworkID, offerID string }
)

// frameworkHandler is the master's child for one framework: it holds the
// scheduler's PID and watches it, sends it offers, status updates and
// heartbeats, and times out offers it sits on.
type frameworkHandler struct {
	cfg       Config
	id        string
	scheduler *actor.PID
	offers    map[string]bool // outstanding offers with a timer armed
	log       *slog.Logger
	sys       *actor.ActorSystem
	self      *actor.PID
}

func frameworkHandlerProps(cfg Config, id string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &frameworkHandler{cfg: cfg, id: id, offers: map[string]bool{}, log: cfg.Logger.With("framework_id", id)}
	}, cfg.ActorOptions...)
}

func (h *frameworkHandler) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		h.sys, h.self = ctx.ActorSystem(), ctx.Self()
		h.later(h.cfg.FrameworkHeartbeat, fwHeartbeat{})
	case fwConnect:
		if h.scheduler != nil && !h.scheduler.Equal(m.pid) {
			h.log.Info("scheduler failed over; telling the old one", "old", h.scheduler.String(), "new", m.pid.String())
			ctx.Send(h.scheduler, &messages.FrameworkFailedOver{FrameworkId: &messages.FrameworkID{Value: h.id}, MasterEpoch: h.cfg.Info.Epoch})
			ctx.Unwatch(h.scheduler)
		}
		h.scheduler = m.pid
		ctx.Watch(m.pid)
	case fwOffers:
		var batch []string
		var at int64
		for _, o := range m.offers {
			if o.ExpiresUnixNano == 0 {
				continue // offers do not time out
			}
			h.offers[o.Id.Value] = true
			if len(batch) > 0 && o.ExpiresUnixNano != at {
				h.later(time.Unix(0, at).Sub(h.cfg.Clock.Now()), fwOfferTimeout{offerIDs: batch})
				batch = nil
			}
			at = o.ExpiresUnixNano
			batch = append(batch, o.Id.Value)
		}
		if len(batch) > 0 {
			h.later(time.Unix(0, at).Sub(h.cfg.Clock.Now()), fwOfferTimeout{offerIDs: batch})
		}
		h.send(ctx, &messages.Offers{Offers: m.offers, MasterEpoch: h.cfg.Info.Epoch})
	case fwRescind:
		delete(h.offers, m.offerID)
		if m.tell {
			h.send(ctx, &messages.RescindOffer{OfferId: &messages.OfferID{Value: m.offerID}, Reason: m.reason, MasterEpoch: h.cfg.Info.Epoch})
		}
	case fwOfferTimeout:
		for _, id := range m.offerIDs {
			if h.offers[id] {
				delete(h.offers, id)
				ctx.Send(ctx.Parent(), offerExpired{frameworkID: h.id, offerID: id})
			}
		}
	case fwSend:
		h.send(ctx, m.msg)
	case fwHeartbeat:
		h.send(ctx, &messages.FrameworkHeartbeat{MasterEpoch: h.cfg.Info.Epoch})
		h.later(h.cfg.FrameworkHeartbeat, fwHeartbeat{})
	case *actor.Terminated:
		if h.scheduler != nil && m.Who.Equal(h.scheduler) {
			h.log.Warn("scheduler disconnected", "pid", h.scheduler.String(), "why", m.Why.String())
			ctx.Send(ctx.Parent(), frameworkDisconnected{frameworkID: h.id, pid: h.scheduler})
			h.scheduler = nil
		}
	}
}

func (h *frameworkHandler) send(ctx actor.Context, msg proto.Message) {
	if h.scheduler != nil {
		ctx.Send(h.scheduler, msg)
	}
}

func (h *frameworkHandler) later(d time.Duration, msg any) {
	sys, self := h.sys, h.self
	h.cfg.Clock.AfterFunc(d, func() { sys.Root.Send(self, msg) })
}

package mesosapi

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// stream is one subscription: the HTTP response its events are written
// to, and the bridge actor that holds the framework for it.
type stream struct {
	id     string
	codec  Codec
	who    security.Identity // the subscriber; later calls must be theirs
	header map[string]string // who, for the master
	master *actor.PID
	bridge *actor.PID
	// out holds encoded records for the HTTP response, bounded: a client
	// that falls that far behind is cut off (it subscribes again).
	out *outbox
	// result answers the subscription once: nil (subscribed) or why not.
	result chan *subscribeError
	// done is closed when the bridge ends the stream.
	done     chan struct{}
	doneOnce sync.Once

	mu          sync.Mutex
	frameworkID string // set once subscribed
}

func (s *stream) end() { s.doneOnce.Do(func() { close(s.done) }) }

func (s *stream) framework() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frameworkID
}

// subscribeError is a refused subscription as an HTTP status.
type subscribeError struct {
	status int
	text   string
}

// Messages the bridge takes from the HTTP side and its timers.
type (
	// streamClosed: the client went away.
	streamClosed struct{}
	// subscribeExpired: the master did not answer SUBSCRIBE in time.
	subscribeExpired struct{}
)

// bridge acts towards the master as a native framework's scheduler actor
// does (it subscribes, receives offers, updates and heartbeats, and its
// PID is the framework's connection, watched by the master), and writes
// what it receives as Mesos events to its stream. Calls of the stream go
// to the master straight from the HTTP handler, sent as from the bridge.
type bridge struct {
	srv        *Server
	st         *stream
	fw         framework
	suppressed []string
	log        *slog.Logger
	subscribed bool
	// scratch is where events are encoded, reused from one to the next
	// (or swapped with the outbox's emptied buffer: outbox.putRecord).
	scratch []byte
	// inverse is the inverse offer outstanding on this stream for each
	// draining agent, by agent ID: what RESCIND_INVERSE_OFFER names when
	// the drain ends or is replaced.
	inverse map[string]string
	// updating answers the UPDATE_FRAMEWORK in progress (nil: none) when
	// the master answers the re-subscription it sent.
	updating chan error
}

func (b *bridge) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Watch(b.st.master)
		b.toMaster(ctx, &messages.SubscribeFramework{Info: b.fw.info, Pid: ctx.Self(), Session: b.st.id})
		self, sys := ctx.Self(), ctx.ActorSystem()
		b.srv.cfg.Clock.AfterFunc(b.srv.cfg.SubscribeTimeout, func() { sys.Root.Send(self, subscribeExpired{}) })
	case subscribeExpired:
		if !b.subscribed {
			b.refuse(ctx, &subscribeError{503, "the master did not answer the subscription in time; retry"})
		}
	case *messages.FrameworkSubscribed:
		b.handleSubscribed(ctx, m)
	case *messages.Offers:
		b.handleOffers(ctx, m)
	case *messages.RescindOffer:
		b.emit(ctx, &sched.Event{Type: sched.Event_RESCIND.Enum(), Rescind: &sched.Event_Rescind{OfferId: &mesos.OfferID{Value: proto.String(m.GetOfferId().GetValue())}}})
	case *messages.StatusUpdate:
		b.handleUpdate(ctx, m)
	case *messages.FrameworkHeartbeat:
		b.emit(ctx, &sched.Event{Type: sched.Event_HEARTBEAT.Enum()})
	case *messages.ExecutorToFramework:
		b.emit(ctx, &sched.Event{Type: sched.Event_MESSAGE.Enum(), Message: &sched.Event_Message{
			AgentId: &mesos.AgentID{Value: proto.String(m.GetAgentId().GetValue())}, ExecutorId: &mesos.ExecutorID{Value: proto.String(m.GetExecutorId().GetValue())}, Data: m.Data}})
	case *messages.FrameworkFailedOver:
		b.fail(ctx, "Framework failed over")
	case *messages.ExecutorExited:
		b.emit(ctx, executorFailureOut(m))
	case *messages.AgentLost:
		b.emit(ctx, agentFailureOut(m))
	case *messages.AgentDraining:
		b.handleDraining(ctx, m)
	case *messages.AgentDrainEnded:
		b.rescindInverse(ctx, m.GetAgentId().GetValue())
	case *messages.Error:
		b.handleError(ctx, m)
	case *frameworkUpdate:
		b.handleFrameworkUpdate(ctx, m)
	case streamClosed:
		if b.subscribed && b.fw.removeOnDisconnect {
			// Mesos' failover_timeout 0: a framework whose scheduler
			// disconnects is removed at once, its tasks killed.
			b.log.Info("stream closed; failover_timeout is 0, so the framework is torn down")
			b.toMaster(ctx, &messages.Teardown{FrameworkId: b.fw.info.Id})
		} else {
			b.log.Info("stream closed; the framework is disconnected until it subscribes again or its failover timeout passes")
		}
		ctx.Stop(ctx.Self())
	case *actor.Terminated:
		if m.Who.Equal(b.st.master) {
			// The master's term ended: close the stream, as a Mesos
			// master's connection drops; the client subscribes again
			// (a standby answers 307 to the leader).
			b.log.Info("the master stopped; closing the stream")
			b.refuse(ctx, &subscribeError{503, "the master stepped down; retry"})
			ctx.Stop(ctx.Self())
		}
	case *actor.Stopped:
		b.srv.forget(b.st)
		b.st.end()
	case *actor.Stopping, *actor.Restarting:
	default:
		b.log.Warn("mesosapi bridge: unexpected message", "type", fmt.Sprintf("%T", m))
	}
}

// handleDraining sends the inverse offer for a drain, once: a framework
// told again (it re-subscribed, or the drain's deadline changed) holds one
// inverse offer per agent, as in Mesos, so one it holds for an earlier
// deadline is rescinded first.
func (b *bridge) handleDraining(ctx actor.Context, m *messages.AgentDraining) {
	ev := inverseOfferOut(m, b.fw.info.GetId().GetValue(), b.srv.cfg.Clock.Now())
	agent, id := m.GetAgentId().GetValue(), ev.GetInverseOffers().GetInverseOffers()[0].GetId().GetValue()
	if b.inverse[agent] == id {
		return
	}
	b.rescindInverse(ctx, agent)
	if b.inverse == nil {
		b.inverse = map[string]string{}
	}
	b.inverse[agent] = id
	b.emit(ctx, ev)
}

// rescindInverse withdraws the inverse offer outstanding for an agent, if
// this stream sent one (Mesos' RESCIND_INVERSE_OFFER).
func (b *bridge) rescindInverse(ctx actor.Context, agent string) {
	id, ok := b.inverse[agent]
	if !ok {
		return
	}
	delete(b.inverse, agent)
	b.emit(ctx, &sched.Event{Type: sched.Event_RESCIND_INVERSE_OFFER.Enum(),
		RescindInverseOffer: &sched.Event_RescindInverseOffer{InverseOfferId: &mesos.OfferID{Value: proto.String(id)}}})
}

// toMaster sends msg to the master as from this bridge, with the
// subscriber's identity where remoting would put a remote sender's.
func (b *bridge) toMaster(ctx actor.Context, msg proto.Message) {
	ctx.Send(b.st.master, &actor.MessageEnvelope{Message: msg, Sender: ctx.Self(), Header: b.st.header})
}

func (b *bridge) handleSubscribed(ctx actor.Context, m *messages.FrameworkSubscribed) {
	first := !b.subscribed
	b.subscribed = true
	b.fw.info.Id = m.FrameworkId
	b.st.mu.Lock()
	b.st.frameworkID = m.GetFrameworkId().GetValue()
	b.st.mu.Unlock()
	b.log = b.log.With("framework_id", m.GetFrameworkId().GetValue())
	ev := &sched.Event{Type: sched.Event_SUBSCRIBED.Enum(), Subscribed: &sched.Event_Subscribed{
		FrameworkId:              &mesos.FrameworkID{Value: proto.String(m.GetFrameworkId().GetValue())},
		HeartbeatIntervalSeconds: proto.Float64(time.Duration(m.HeartbeatIntervalNanos).Seconds()),
	}}
	if !first {
		// The master answered a retry again, or UPDATE_FRAMEWORK's
		// re-subscription: the master holds the new FrameworkInfo.
		b.updateAnswered(nil)
		return
	}
	b.srv.register(b.st)
	b.emit(ctx, ev)
	answer(b.st.result, nil)
	if len(b.suppressed) > 0 {
		b.toMaster(ctx, &messages.Suppress{FrameworkId: m.FrameworkId, Roles: b.suppressed})
	}
	b.log.Info("Mesos framework subscribed over HTTP", "stream", b.st.id)
}

func (b *bridge) handleUpdate(ctx actor.Context, m *messages.StatusUpdate) {
	st := m.GetStatus()
	if st.GetState() == messages.TaskState_TASK_KILLING && !b.fw.killingState {
		// Mesos sends TASK_KILLING only to frameworks that declare
		// TASK_KILLING_STATE; acknowledge it here so the agent's
		// reliable queue moves on to the terminal update.
		if len(st.Uuid) > 0 {
			b.toMaster(ctx, &messages.Acknowledge{FrameworkId: b.fw.info.Id, AgentId: st.AgentId, TaskId: st.TaskId, Uuid: st.Uuid})
		}
		return
	}
	if b.st.codec.MediaType == MediaJSON {
		if buf, ok := appendUpdateJSON(recordBuffer(b.scratch), st); ok {
			b.put(ctx, buf, "UPDATE")
			return
		}
	}
	b.emit(ctx, &sched.Event{Type: sched.Event_UPDATE.Enum(), Update: &sched.Event_Update{Status: statusOut(st)}})
}

// handleOffers writes an OFFERS event straight from Agora's offers
// (codec_offers.go), or through the Mesos messages for what the direct
// encoders leave to the generic ones.
func (b *bridge) handleOffers(ctx actor.Context, m *messages.Offers) {
	direct := appendOffersProto
	if b.st.codec.MediaType == MediaJSON {
		direct = appendOffersJSON
	}
	buf := b.scratch
	if len(m.Offers) > largeOffers {
		buf = largeBuffer(buf, len(m.Offers)*offerBytes)
	}
	if buf, ok := direct(recordBuffer(buf), m.Offers, b.fw.multiRole, b.fw.refinement); ok {
		b.put(ctx, buf, "OFFERS")
		return
	}
	b.emit(ctx, &sched.Event{Type: sched.Event_OFFERS.Enum(), Offers: &sched.Event_Offers{Offers: offersOut(m.Offers, b.fw.multiRole, b.fw.refinement)}})
}

// largeOffers is how many offers make an OFFERS event worth a buffer of
// largeBuffers, and offerBytes about what one offer takes encoded (a
// few scalar resources and attributes; JSON's is larger).
const largeOffers, offerBytes = 64, 1024

// subscribeFrameworkName is how the master's Error names the request it
// refuses when it refuses a subscription.
var subscribeFrameworkName = string((&messages.SubscribeFramework{}).ProtoReflect().Descriptor().FullName())

func (b *bridge) handleError(ctx actor.Context, m *messages.Error) {
	if !b.subscribed {
		status := 400
		switch m.Code {
		case messages.Error_PERMISSION_DENIED, messages.Error_UNKNOWN_FRAMEWORK:
			status = 403
		case messages.Error_NOT_LEADER:
			status = 503
		}
		b.refuse(ctx, &subscribeError{status, m.Message})
		ctx.Stop(ctx.Self())
		return
	}
	if m.GetRequest() == subscribeFrameworkName {
		b.updateAnswered(fmt.Errorf("%w: the master refused the update: %s", ErrInvalid, m.Message))
	}
	if m.Code == messages.Error_UNKNOWN_FRAMEWORK {
		b.fail(ctx, m.Message) // removed, or held by another scheduler
		return
	}
	// A call the master refused after it was answered 202: Mesos has no
	// event for that (it reports failed launches as task updates).
	b.log.Warn("the master refused a call", "code", m.Code.String(), "request", m.Request, "err", m.Message)
}

// fail sends an ERROR event and ends the stream: the framework is no
// longer this subscription's.
func (b *bridge) fail(ctx actor.Context, text string) {
	b.emit(ctx, &sched.Event{Type: sched.Event_ERROR.Enum(), Error: &sched.Event_Error{Message: proto.String(text)}})
	b.subscribed = false // not torn down by the closing stream
	ctx.Stop(ctx.Self())
}

// refuse answers a subscription that failed (once; later no-ops).
func (b *bridge) refuse(ctx actor.Context, e *subscribeError) {
	if b.subscribed {
		return
	}
	answer(b.st.result, e)
	ctx.Stop(ctx.Self())
}

// answer answers a subscription once: the HTTP handler reads one answer,
// and a second (a late reply after a timeout) is dropped, never blocking
// the bridge.
func answer(result chan *subscribeError, e *subscribeError) {
	select {
	case result <- e:
	default:
	}
}

// emit encodes ev onto the stream; a client too slow to keep up is cut
// off.
func (b *bridge) emit(ctx actor.Context, ev *sched.Event) {
	buf, err := b.st.codec.Append(recordBuffer(b.scratch), ev)
	if err != nil {
		b.log.Error("mesosapi: cannot encode an event; dropped", "type", ev.GetType().String(), "err", err)
		return
	}
	b.put(ctx, buf, ev.GetType().String())
}

// put queues an event encoded behind recordRoom (recordBuffer) on the
// stream, and keeps its buffer for the next one, or the one the outbox
// handed back for it (a large one goes back to largeBuffers).
func (b *bridge) put(ctx actor.Context, buf []byte, event string) {
	old, adopted, ok := b.st.out.putRecord(frame(buf))
	if adopted {
		buf = old // buf is the outbox's now
	}
	b.scratch = release(buf)
	if !ok {
		b.log.Warn("Mesos framework's stream is too far behind; closing it (the framework subscribes again)", "buffered", b.st.out.max, "event", event)
		b.subscribed = false
		ctx.Stop(ctx.Self())
	}
}

package mesosapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// A drain of an agent running the framework's tasks reaches a Mesos
// framework as an inverse offer for that agent, unavailable from the
// drain's deadline; the framework's answer (ACCEPT_INVERSE_OFFERS or
// DECLINE_INVERSE_OFFERS) is taken (202) and changes nothing: the drain
// goes on, as Mesos' maintenance does whatever frameworks answer.
func TestDrainIsAnInverseOffer(t *testing.T) {
	h := newHarness(t)
	res := h.post(ProtobufCodec, "alice", "", subscribeCall(0), "Accept", MediaProtobuf)
	defer res.Body.Close()
	stream := res.Header.Get(StreamIDHeader)
	ev := &events{t: t, r: NewRecordReader(res.Body, 1<<20), c: ProtobufCodec}
	sub, _ := next[*messages.SubscribeFramework](h)
	if e := ev.next(); e.GetType() != sched.Event_SUBSCRIBED {
		t.Fatalf("first event: %v", e)
	}
	deadline := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	h.sys.Root.Send(sub.Pid, &messages.AgentDraining{AgentId: &messages.AgentID{Value: "A1"}, DeadlineUnixNano: deadline.UnixNano()})
	e := ev.next()
	if e.GetType() != sched.Event_INVERSE_OFFERS || len(e.GetInverseOffers().GetInverseOffers()) != 1 {
		t.Fatalf("a drain: %v; want one inverse offer", e)
	}
	io := e.GetInverseOffers().GetInverseOffers()[0]
	if io.GetAgentId().GetValue() != "A1" || io.GetFrameworkId().GetValue() != "F1" || io.GetId().GetValue() == "" ||
		io.GetUnavailability().GetStart().GetNanoseconds() != deadline.UnixNano() {
		t.Fatalf("the inverse offer: %v; want agent A1, framework F1, unavailable from the deadline", io)
	}
	for _, call := range []*sched.Call{
		{FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")}, Type: sched.Call_ACCEPT_INVERSE_OFFERS.Enum(),
			AcceptInverseOffers: &sched.Call_AcceptInverseOffers{InverseOfferIds: []*mesos.OfferID{io.Id}}},
		{FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")}, Type: sched.Call_DECLINE_INVERSE_OFFERS.Enum(),
			DeclineInverseOffers: &sched.Call_DeclineInverseOffers{InverseOfferIds: []*mesos.OfferID{io.Id}}},
	} {
		status(t, h.post(ProtobufCodec, "alice", stream, call), http.StatusAccepted, "")
	}
	// Nothing reached the master for them: a REVIVE sent after them is the
	// next message it gets.
	revive := &sched.Call{FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")}, Type: sched.Call_REVIVE.Enum()}
	status(t, h.post(ProtobufCodec, "alice", stream, revive), http.StatusAccepted, "")
	select {
	case r := <-h.got:
		if _, ok := r.msg.(*messages.Revive); !ok {
			t.Fatalf("the master got %T after the inverse offers' answers; want the REVIVE", r.msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the master never got the REVIVE")
	}
}

// When the drain ends (the operator reactivates the agent, or its
// maintenance window is over), the framework's inverse offer is rescinded
// (Mesos' RESCIND_INVERSE_OFFER), naming the inverse offer it was sent; a
// drain given a new deadline replaces the inverse offer, rescinding the old
// one first; an end the stream sent no inverse offer for sends nothing.
func TestDrainEndRescindsTheInverseOffer(t *testing.T) {
	h := newHarness(t)
	res := h.post(ProtobufCodec, "alice", "", subscribeCall(0), "Accept", MediaProtobuf)
	defer res.Body.Close()
	ev := &events{t: t, r: NewRecordReader(res.Body, 1<<20), c: ProtobufCodec}
	sub, _ := next[*messages.SubscribeFramework](h)
	if e := ev.next(); e.GetType() != sched.Event_SUBSCRIBED {
		t.Fatalf("first event: %v", e)
	}
	deadline := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	inverseOffer := func(deadline time.Time) string {
		t.Helper()
		h.sys.Root.Send(sub.Pid, &messages.AgentDraining{AgentId: &messages.AgentID{Value: "A1"}, DeadlineUnixNano: deadline.UnixNano()})
		e := ev.next()
		if e.GetType() != sched.Event_INVERSE_OFFERS {
			t.Fatalf("a drain: %v; want an inverse offer", e)
		}
		return e.GetInverseOffers().GetInverseOffers()[0].GetId().GetValue()
	}
	rescinded := func(id string) {
		t.Helper()
		if e := ev.next(); e.GetType() != sched.Event_RESCIND_INVERSE_OFFER || e.GetRescindInverseOffer().GetInverseOfferId().GetValue() != id {
			t.Fatalf("got %v; want RESCIND_INVERSE_OFFER of %s", e, id)
		}
	}
	first := inverseOffer(deadline)
	// The same drain told again (a maintenance window and its drain) is
	// not a second inverse offer: the next event is the rescind below.
	h.sys.Root.Send(sub.Pid, &messages.AgentDraining{AgentId: &messages.AgentID{Value: "A1"}, DeadlineUnixNano: deadline.UnixNano()})
	h.sys.Root.Send(sub.Pid, &messages.AgentDrainEnded{AgentId: &messages.AgentID{Value: "A9"}})
	h.sys.Root.Send(sub.Pid, &messages.AgentDraining{AgentId: &messages.AgentID{Value: "A1"}, DeadlineUnixNano: deadline.Add(time.Hour).UnixNano()})
	rescinded(first)
	e := ev.next()
	if e.GetType() != sched.Event_INVERSE_OFFERS {
		t.Fatalf("a drain with a new deadline: %v; want a new inverse offer", e)
	}
	second := e.GetInverseOffers().GetInverseOffers()[0].GetId().GetValue()
	if second == first {
		t.Fatalf("the inverse offer for a new deadline kept the old ID %s", first)
	}
	h.sys.Root.Send(sub.Pid, &messages.AgentDrainEnded{AgentId: &messages.AgentID{Value: "A1"}})
	rescinded(second)
	// Drained again after the end: a fresh inverse offer.
	if third := inverseOffer(deadline); third != first {
		t.Fatalf("the inverse offer for a new drain: %s; want %s (named by agent and deadline)", third, first)
	}
}

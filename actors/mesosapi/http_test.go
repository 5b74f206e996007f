package mesosapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// received is a message the fake master got, with who sent it.
type received struct {
	msg    proto.Message
	sender *actor.PID
	who    security.Identity
}

// fakeMaster answers subscriptions as the master does (FrameworkSubscribed,
// or PERMISSION_DENIED for principal "mallory") and reports everything.
func fakeMaster(got chan<- received) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		msg, ok := ctx.Message().(proto.Message)
		if !ok {
			return
		}
		who := security.SenderOf(ctx)
		got <- received{msg: msg, sender: ctx.Sender(), who: who}
		if sub, ok := msg.(*messages.SubscribeFramework); ok {
			if who.Name == "mallory" {
				ctx.Send(sub.Pid, &messages.Error{Code: messages.Error_PERMISSION_DENIED, Message: "principal mallory may not register frameworks in role *"})
				return
			}
			ctx.Send(sub.Pid, &messages.FrameworkSubscribed{FrameworkId: &messages.FrameworkID{Value: "F1"}, HeartbeatIntervalNanos: int64(15 * time.Second)})
		}
	})
}

type harness struct {
	t      testing.TB
	sys    *actor.ActorSystem
	master *actor.PID
	got    chan received
	url    string
}

func newHarness(t *testing.T) *harness { return newHarnessBuffered(t, 0) }

func newHarnessBuffered(t *testing.T, streamBuffer int) *harness {
	return newHarnessWith(t, streamBuffer, 0)
}

func newHarnessWith(t testing.TB, streamBuffer, maxStreams int) *harness {
	h := &harness{t: t, sys: actor.NewActorSystem(), got: make(chan received, 100)}
	h.master = h.sys.Root.Spawn(fakeMaster(h.got))
	srv := New(Config{System: h.sys, Master: func() *actor.PID { return h.master }, Streams: Streams{StreamBuffer: streamBuffer}, MaxStreams: maxStreams,
		// The hook for HTTP credentials: here a header names the principal.
		Authenticate: func(r *http.Request) (security.Identity, error) {
			p := r.Header.Get("X-Principal")
			if p == "" {
				return security.Identity{}, errors.New("no credentials")
			}
			return security.Identity{Role: security.RoleFramework, Name: p}, nil
		}})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); h.sys.Shutdown() })
	h.url = hs.URL + Path
	return h
}

// next is the next message the master got of type T, skipping others.
func next[T proto.Message](h *harness) (T, received) {
	h.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r := <-h.got:
			if m, ok := r.msg.(T); ok {
				return m, r
			}
		case <-timeout:
			var zero T
			h.t.Fatalf("the master never got a %T", zero)
			return zero, received{}
		}
	}
}

func (h *harness) post(c Codec, principal, streamID string, call *sched.Call, header ...string) *http.Response {
	h.t.Helper()
	body, err := c.Marshal(call)
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", c.MediaType)
	req.Header.Set("X-Principal", principal)
	if streamID != "" {
		req.Header.Set(StreamIDHeader, streamID)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

func status(t *testing.T, res *http.Response, want int, text string) {
	t.Helper()
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != want || !strings.Contains(string(b), text) {
		t.Fatalf("%d %q; want %d with %q", res.StatusCode, b, want, text)
	}
}

func subscribeCall(failover float64) *sched.Call {
	info := &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("f")}
	if failover > 0 {
		info.FailoverTimeout = proto.Float64(failover)
	}
	return &sched.Call{Type: sched.Call_SUBSCRIBE.Enum(), Subscribe: &sched.Call_Subscribe{FrameworkInfo: info}}
}

// events reads a subscription's stream.
type events struct {
	t   *testing.T
	r   *RecordReader
	c   Codec
	res *http.Response
}

func (e *events) next() *sched.Event {
	e.t.Helper()
	_, ev := e.nextRecord()
	return ev
}

// nextRecord is next with the record as it came, for tests of its bytes.
func (e *events) nextRecord() ([]byte, *sched.Event) {
	e.t.Helper()
	rec, err := e.r.Next()
	if err != nil {
		e.t.Fatalf("reading the stream: %v", err)
	}
	ev := &sched.Event{}
	if err := e.c.Unmarshal(rec, ev); err != nil {
		e.t.Fatalf("decoding %q: %v", rec, err)
	}
	return rec, ev
}

func TestSubscribeStreamAndCalls(t *testing.T) {
	h := newHarness(t)
	res := h.post(JSONCodec, "alice", "", subscribeCall(0), "Accept", MediaJSON)
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != MediaJSON || res.Header.Get(StreamIDHeader) == "" {
		t.Fatalf("SUBSCRIBE answered %d %v", res.StatusCode, res.Header)
	}
	stream := res.Header.Get(StreamIDHeader)
	ev := &events{t: t, r: NewRecordReader(res.Body, 1<<20), c: JSONCodec}
	sub, r := next[*messages.SubscribeFramework](h)
	if r.who != (security.Identity{Role: security.RoleFramework, Name: "alice"}) || sub.Info.GetRoles()[0] != "*" || !r.sender.Equal(sub.Pid) {
		t.Fatalf("the master saw the subscription from %v as %v (pid %v)", r.who, sub.Info, sub.Pid)
	}
	bridge := sub.Pid
	if e := ev.next(); e.GetType() != sched.Event_SUBSCRIBED || e.GetSubscribed().GetFrameworkId().GetValue() != "F1" || e.GetSubscribed().GetHeartbeatIntervalSeconds() != 15 {
		t.Fatalf("first event: %v", e)
	}

	// Events from the master reach the stream as Mesos events.
	h.sys.Root.Send(bridge, &messages.Offers{Offers: []*messages.Offer{{Id: &messages.OfferID{Value: "O1"}, FrameworkId: &messages.FrameworkID{Value: "F1"},
		AgentId: &messages.AgentID{Value: "A1"}, Hostname: "h", Role: "*", Resources: []*messages.Resource{{Name: "cpus", Scalar: 2}}}}})
	if e := ev.next(); e.GetType() != sched.Event_OFFERS || e.GetOffers().GetOffers()[0].GetId().GetValue() != "O1" {
		t.Fatalf("offers: %v", e)
	}
	h.sys.Root.Send(bridge, &messages.FrameworkHeartbeat{})
	if e := ev.next(); e.GetType() != sched.Event_HEARTBEAT {
		t.Fatalf("heartbeat: %v", e)
	}
	// TASK_KILLING goes only to frameworks with TASK_KILLING_STATE; the
	// bridge acknowledges it for the others.
	h.sys.Root.Send(bridge, &messages.StatusUpdate{Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: "t"}, State: messages.TaskState_TASK_KILLING, Uuid: []byte("u1")}})
	h.sys.Root.Send(bridge, &messages.StatusUpdate{Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: "t"}, State: messages.TaskState_TASK_KILLED, Uuid: []byte("u2")}})
	if e := ev.next(); e.GetType() != sched.Event_UPDATE || e.GetUpdate().GetStatus().GetState() != mesos.TaskState_TASK_KILLED {
		t.Fatalf("update: %v", e)
	}
	if ack, _ := next[*messages.Acknowledge](h); string(ack.Uuid) != "u1" {
		t.Fatalf("acknowledged %q; want the TASK_KILLING update's", ack.Uuid)
	}

	// Calls: 202, and the master gets them as from the bridge, with the
	// caller's identity.
	decline := &sched.Call{FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")}, Type: sched.Call_DECLINE.Enum(),
		Decline: &sched.Call_Decline{OfferIds: []*mesos.OfferID{{Value: proto.String("O1")}}, Filters: &mesos.Filters{RefuseSeconds: proto.Float64(30)}}}
	status(t, h.post(ProtobufCodec, "alice", stream, decline), http.StatusAccepted, "")
	d, r := next[*messages.Decline](h)
	if !r.sender.Equal(bridge) || r.who.Name != "alice" || d.GetFrameworkId().GetValue() != "F1" || d.GetFilters().GetRefuseSeconds() != 30 || d.OfferIds[0].Value != "O1" {
		t.Fatalf("decline reached the master as %v from %v (%v)", d, r.sender, r.who)
	}

	// SHUTDOWN (of a custom executor) reaches the master as KillExecutor.
	shutdown := &sched.Call{FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")}, Type: sched.Call_SHUTDOWN.Enum(),
		Shutdown: &sched.Call_Shutdown{AgentId: &mesos.AgentID{Value: proto.String("A1")}, ExecutorId: &mesos.ExecutorID{Value: proto.String("E1")}}}
	status(t, h.post(JSONCodec, "alice", stream, shutdown), http.StatusAccepted, "")
	if k, r := next[*messages.KillExecutor](h); !r.sender.Equal(bridge) || k.GetFrameworkId().GetValue() != "F1" || k.GetAgentId().GetValue() != "A1" || k.GetExecutorId().GetValue() != "E1" {
		t.Fatalf("shutdown reached the master as %v from %v", k, r.sender)
	}

	// Refusals, as Mesos answers them.
	status(t, h.post(JSONCodec, "alice", "", decline), http.StatusBadRequest, "Mesos-Stream-Id")
	status(t, h.post(JSONCodec, "alice", "not-the-stream", decline), http.StatusForbidden, "didn't match")
	status(t, h.post(JSONCodec, "bob", stream, decline), http.StatusForbidden, "subscribed by alice")
	status(t, h.post(JSONCodec, "", stream, decline), http.StatusUnauthorized, "no credentials")
	group := &sched.Call{FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")}, Type: sched.Call_ACCEPT.Enum(),
		Accept: &sched.Call_Accept{Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_GROW_VOLUME.Enum()}}}}
	status(t, h.post(JSONCodec, "alice", stream, group), http.StatusBadRequest, "not supported by Agora yet: ACCEPT with a GROW_VOLUME operation")
	shutdown.Shutdown = nil
	status(t, h.post(JSONCodec, "alice", stream, shutdown), http.StatusBadRequest, "SHUTDOWN needs an agent_id and an executor_id")
	req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "text/plain")
	res2, _ := http.DefaultClient.Do(req)
	status(t, res2, http.StatusUnsupportedMediaType, "Content-Type")
	res3, _ := http.Get(h.url)
	status(t, res3, http.StatusMethodNotAllowed, "POST")
	status(t, h.post(JSONCodec, "alice", "", subscribeCall(0), "Accept", "text/html"), http.StatusNotAcceptable, "Accept")

	// The client goes away: with failover_timeout 0 the framework is torn
	// down, as Mesos removes it at once.
	res.Body.Close()
	if td, r := next[*messages.Teardown](h); td.GetFrameworkId().GetValue() != "F1" || !r.sender.Equal(bridge) {
		t.Fatalf("teardown %v from %v", td, r.sender)
	}
}

func TestSubscribeRecordIOProtobufAndRefusal(t *testing.T) {
	h := newHarness(t)
	res := h.post(ProtobufCodec, "alice", "", subscribeCall(3600), "Accept", MediaRecordIO, "Message-Accept", MediaProtobuf)
	if res.Header.Get("Content-Type") != MediaRecordIO || res.Header.Get("Message-Content-Type") != MediaProtobuf {
		t.Fatalf("headers %v", res.Header)
	}
	ev := &events{t: t, r: NewRecordReader(res.Body, 1<<20), c: ProtobufCodec}
	if e := ev.next(); e.GetType() != sched.Event_SUBSCRIBED {
		t.Fatalf("first event %v", e)
	}
	sub, _ := next[*messages.SubscribeFramework](h)
	if sub.Info.FailoverTimeoutNanos != int64(time.Hour) {
		t.Fatalf("failover timeout %v", sub.Info.FailoverTimeoutNanos)
	}
	// Another scheduler took the framework over: ERROR, and the stream ends.
	h.sys.Root.Send(sub.Pid, &messages.FrameworkFailedOver{FrameworkId: &messages.FrameworkID{Value: "F1"}})
	if e := ev.next(); e.GetType() != sched.Event_ERROR || e.GetError().GetMessage() != "Framework failed over" {
		t.Fatalf("failover: %v", e)
	}
	if _, err := ev.r.Next(); err != io.EOF {
		t.Fatalf("stream after ERROR: %v; want its end", err)
	}
	res.Body.Close()

	// The master refuses the principal: 403 with its reason.
	status(t, h.post(JSONCodec, "mallory", "", subscribeCall(0)), http.StatusForbidden, "may not register")
}

// A client that stops reading is cut off once its buffer is full, rather
// than holding events without bound.
func TestSlowClientIsCutOff(t *testing.T) {
	h := newHarnessBuffered(t, 16)
	body, _ := ProtobufCodec.Marshal(subscribeCall(60))
	req, _ := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", MediaProtobuf)
	req.Header.Set("X-Principal", "alice")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sub, _ := next[*messages.SubscribeFramework](h)
	stopped := watch(h.sys, sub.Pid)
	// 100 MB of offers: more than the sockets' buffers and the stream's
	// 16 events hold.
	big := &messages.Offers{Offers: []*messages.Offer{{Id: &messages.OfferID{Value: "O"}, Hostname: strings.Repeat("h", 100_000)}}}
	for i := 0; i < 1000; i++ {
		h.sys.Root.Send(sub.Pid, big)
	}
	// The bridge stops (the master's watch of it reports the scheduler
	// lost, as for a closed stream).
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the bridge of a client that reads nothing still runs")
	}
}

// watch is closed when pid stops.
func watch(sys *actor.ActorSystem, pid *actor.PID) <-chan struct{} {
	stopped := make(chan struct{})
	sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			ctx.Watch(pid)
		case *actor.Terminated:
			if m.Who.Equal(pid) {
				close(stopped)
				ctx.Stop(ctx.Self())
			}
		}
	}))
	return stopped
}

// Subscriptions past MaxStreams are answered 503; a closed one frees its
// place.
func TestMaxStreams(t *testing.T) {
	h := newHarnessWith(t, 0, 1)
	first := h.post(JSONCodec, "alice", "", subscribeCall(60))
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first SUBSCRIBE: %d", first.StatusCode)
	}
	sub, _ := next[*messages.SubscribeFramework](h)
	stopped := watch(h.sys, sub.Pid)
	status(t, h.post(JSONCodec, "alice", "", subscribeCall(60)), http.StatusServiceUnavailable, "1 subscriptions already")
	first.Body.Close()
	<-stopped
	// The handler has returned once the bridge stopped and the stream
	// ended; the place is free for the next subscription.
	for i := 0; ; i++ {
		res := h.post(JSONCodec, "alice", "", subscribeCall(60))
		if res.StatusCode == http.StatusOK {
			res.Body.Close()
			return
		}
		res.Body.Close()
		if i == 100 {
			t.Fatalf("the place of a closed stream is never freed: %d", res.StatusCode)
		}
	}
}

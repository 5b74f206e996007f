package mesosapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	mmaster "github.com/agora-sched/agora/messages/mesos/v1/master"
	"github.com/agora-sched/agora/messages/mesos/v1/quota"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"
)

// operatorHarness serves the operator API over a state it publishes
// itself, a master that answers task listings a page at a time and
// applies role changes to that state, and an event stream.
type operatorHarness struct {
	t      *testing.T
	url    string
	events *eventstream.EventStream
	clock  *clockwork.FakeClock

	mu      sync.Mutex
	state   *messages.MasterState
	changed chan struct{}
	asked   []proto.Message
	// maint is the master's maintenance schedule.
	maint *messages.MaintenanceSchedule
}

func newOperatorHarness(t *testing.T, access *master.HTTPAccess, buffer int) *operatorHarness {
	h := &operatorHarness{t: t, events: eventstream.NewEventStream(), clock: clockwork.NewFakeClock(), state: operatorState(), changed: make(chan struct{})}
	tasks := operatorTasks()
	srv := NewOperator(OperatorConfig{
		State:   func() *messages.MasterState { h.mu.Lock(); defer h.mu.Unlock(); return h.state },
		Changed: func() <-chan struct{} { h.mu.Lock(); defer h.mu.Unlock(); return h.changed },
		Events:  h.events, Access: access,
		Ask: func(_ context.Context, req proto.Message) (any, error) {
			h.mu.Lock()
			h.asked = append(h.asked, req)
			h.mu.Unlock()
			switch req := req.(type) {
			case *messages.ListTasks:
				// Two tasks a page, as the master pages its listing.
				from := 0
				for i, t := range tasks {
					if t.GetTaskId().GetValue() == req.After {
						from = i + 1
					}
				}
				to := min(from+2, len(tasks))
				page := &messages.TaskList{Tasks: tasks[from:to]}
				if to < len(tasks) {
					page.Next = tasks[to-1].GetTaskId().GetValue()
				}
				return page, nil
			case *messages.DrainAgent:
				if req.GetAgentId().GetValue() != "A2" {
					return &messages.Error{Code: messages.Error_UNKNOWN_AGENT, Message: "no agent " + req.GetAgentId().GetValue()}, nil
				}
				h.publish(func(st *messages.MasterState) {
					st.Agents[1].Drain = &messages.DrainInfo{State: messages.DrainInfo_DRAINING}
				})
				return &messages.OperatorAccepted{Message: "draining"}, nil
			case *messages.GetMaintenanceSchedule:
				h.mu.Lock()
				defer h.mu.Unlock()
				if h.maint == nil {
					return &messages.MaintenanceSchedule{}, nil
				}
				return proto.Clone(h.maint), nil
			case *messages.UpdateMaintenanceSchedule:
				h.mu.Lock()
				defer h.mu.Unlock()
				h.maint = req.GetSchedule()
				return &messages.OperatorAccepted{Message: "scheduled"}, nil
			}
			return nil, nil
		},
		Flags:   func() map[string]string { return map[string]string{"max-agents": "10000", "allocator": "drf"} },
		Metrics: operatorMetrics(),
		Update: func(_ context.Context, u *messages.UpdateRole) (*messages.RoleConfig, error) {
			if u.Role == "forbidden" {
				return nil, &master.Refused{Code: messages.Error_PERMISSION_DENIED, Message: "principal may not update quotas"}
			}
			var cfg *messages.RoleConfig
			h.publish(func(st *messages.MasterState) {
				st.Roles.Roles = append(st.Roles.Roles, &messages.RoleSettings{Role: u.Role, Weight: u.GetWeight(), Quota: u.GetQuota()})
				cfg = st.Roles
			})
			return cfg, nil
		},
		Streams:   Streams{Clock: h.clock, StreamBuffer: buffer},
		Heartbeat: time.Second,
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	h.url = hs.URL + OperatorPath
	return h
}

// publish publishes a changed copy of the state, as the master does after
// a change (in a moment, not before answering).
func (h *operatorHarness) publish(change func(*messages.MasterState)) {
	h.mu.Lock()
	st := proto.Clone(h.state).(*messages.MasterState)
	change(st)
	h.mu.Unlock()
	go func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.state = st
		close(h.changed)
		h.changed = make(chan struct{})
	}()
}

func (h *operatorHarness) post(call *mmaster.Call, codec Codec, header ...string) *http.Response {
	h.t.Helper()
	body, err := codec.Marshal(call)
	if err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.MediaType)
	req.Header.Set("Accept", codec.MediaType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

// read sends a read call and decodes its Response.
func (h *operatorHarness) read(call *mmaster.Call, codec Codec) *mmaster.Response {
	h.t.Helper()
	res := h.post(call, codec)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != codec.MediaType {
		h.t.Fatalf("%s answered %d %s: %s", call.GetType(), res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	out := &mmaster.Response{}
	if err := codec.Unmarshal(b, out); err != nil {
		h.t.Fatalf("%s: %v in %s", call.GetType(), err, b)
	}
	return out
}

// status sends a call and returns its status and body.
func (h *operatorHarness) status(call *mmaster.Call, codec Codec) (int, string) {
	h.t.Helper()
	res := h.post(call, codec)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func callOf(t mmaster.Call_Type) *mmaster.Call { return &mmaster.Call{Type: t.Enum()} }

// Reads in both codecs; GET_TASKS reads every page the master lists.
func TestOperatorReads(t *testing.T) {
	h := newOperatorHarness(t, nil, 0)
	for _, codec := range []Codec{ProtobufCodec, JSONCodec} {
		st := h.read(callOf(mmaster.Call_GET_STATE), codec)
		if st.GetType() != mmaster.Response_GET_STATE || len(st.GetGetState().GetGetTasks().GetTasks()) != 3 ||
			len(st.GetGetState().GetGetAgents().GetAgents()) != 2 {
			t.Fatalf("%s GET_STATE: %v", codec.MediaType, st)
		}
		tasks := h.read(callOf(mmaster.Call_GET_TASKS), codec).GetGetTasks()
		if n := len(tasks.GetTasks()) + len(tasks.GetUnreachableTasks()) + len(tasks.GetCompletedTasks()); n != len(operatorTasks()) {
			t.Errorf("%s GET_TASKS: %d tasks; want every page's %d", codec.MediaType, n, len(operatorTasks()))
		}
		if q := h.read(callOf(mmaster.Call_GET_QUOTA), codec); len(q.GetGetQuota().GetStatus().GetConfigs()) != 1 {
			t.Errorf("%s GET_QUOTA: %v", codec.MediaType, q)
		}
		if v := h.read(callOf(mmaster.Call_GET_VERSION), codec); v.GetGetVersion().GetVersionInfo().GetVersion() != "v1.2.3" {
			t.Errorf("%s GET_VERSION: %v", codec.MediaType, v)
		}
		if m := h.read(callOf(mmaster.Call_GET_HEALTH), codec); !m.GetGetHealth().GetHealthy() {
			t.Errorf("%s GET_HEALTH: %v", codec.MediaType, m)
		}
		for _, c := range []mmaster.Call_Type{mmaster.Call_GET_AGENTS, mmaster.Call_GET_FRAMEWORKS, mmaster.Call_GET_EXECUTORS,
			mmaster.Call_GET_ROLES, mmaster.Call_GET_WEIGHTS, mmaster.Call_GET_MASTER} {
			if r := h.read(callOf(c), codec); r.GetType().String() != c.String() {
				t.Errorf("%s %s answered %s", codec.MediaType, c, r.GetType())
			}
		}
	}
	// Mesos' JSON: 64-bit integers as numbers.
	res := h.post(callOf(mmaster.Call_GET_AGENTS), JSONCodec)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if want := fmt.Sprintf(`"registered_time":{"nanoseconds":%d}`, operatorT0.UnixNano()); !strings.Contains(string(b), want) {
		t.Errorf("GET_AGENTS JSON: %s", b)
	}
}

// What the API does not serve, and malformed calls, are refused as Mesos
// refuses them, naming what.
func TestOperatorRefusals(t *testing.T) {
	h := newOperatorHarness(t, nil, 0)
	for _, tc := range []struct {
		call   *mmaster.Call
		status int
		text   string
	}{
		{callOf(mmaster.Call_GET_LOGGING_LEVEL), http.StatusBadRequest, "GET_LOGGING_LEVEL"},
		{callOf(mmaster.Call_RESERVE_RESOURCES), http.StatusBadRequest, "Expecting 'reserve_resources.agent_id'"},
		{callOf(mmaster.Call_START_MAINTENANCE), http.StatusBadRequest, "no machines named"},
		{&mmaster.Call{}, http.StatusBadRequest, "Expecting 'type'"},
		{callOf(mmaster.Call_UPDATE_QUOTA), http.StatusBadRequest, "quota_configs"},
		{&mmaster.Call{Type: mmaster.Call_DRAIN_AGENT.Enum(), DrainAgent: &mmaster.Call_DrainAgent{AgentId: &mesos.AgentID{Value: proto.String("A9")}}}, http.StatusNotFound, "no agent A9"},
		{&mmaster.Call{Type: mmaster.Call_UPDATE_QUOTA.Enum(), UpdateQuota: &mmaster.Call_UpdateQuota{QuotaConfigs: []*quota.QuotaConfig{{Role: proto.String("forbidden")}}}},
			http.StatusForbidden, "may not update quotas"},
	} {
		if status, body := h.status(tc.call, JSONCodec); status != tc.status || !strings.Contains(body, tc.text) {
			t.Errorf("%s answered %d %q; want %d with %q", tc.call.GetType(), status, body, tc.status, tc.text)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, h.url, nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", res, err)
	}
	req, _ = http.NewRequest(http.MethodPost, h.url, strings.NewReader(`{"type":"GET_STATE"}`))
	req.Header.Set("Content-Type", "text/plain")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %v %v", res, err)
	}
	if res := h.post(callOf(mmaster.Call_GET_STATE), JSONCodec, "Accept", "text/html"); res.StatusCode != http.StatusNotAcceptable {
		t.Errorf("Accept text/html: %d", res.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, h.url, strings.NewReader(`{"type":"GET_STATE"`))
	req.Header.Set("Content-Type", MediaJSON)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Errorf("truncated JSON: %v %v", res, err)
	}
}

// Changes answer 200 with no body, once the published state shows them:
// the client's next read sees its change.
func TestOperatorChangesAreReadBack(t *testing.T) {
	h := newOperatorHarness(t, nil, 0)
	update := &mmaster.Call{Type: mmaster.Call_UPDATE_QUOTA.Enum(), UpdateQuota: &mmaster.Call_UpdateQuota{QuotaConfigs: []*quota.QuotaConfig{{
		Role: proto.String("dev"), Guarantees: map[string]*mesos.Value_Scalar{"cpus": {Value: proto.Float64(1)}}}}}}
	res := h.post(update, ProtobufCodec)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || len(b) != 0 || res.Header.Get("Content-Type") != "" {
		t.Fatalf("UPDATE_QUOTA answered %d %q %q; want 200, no body, no Content-Type (mesos-go checks)", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	roles := map[string]bool{}
	for _, c := range h.read(callOf(mmaster.Call_GET_QUOTA), ProtobufCodec).GetGetQuota().GetStatus().GetConfigs() {
		roles[c.GetRole()] = true
	}
	if !roles["dev"] {
		t.Errorf("GET_QUOTA right after UPDATE_QUOTA: %v", roles)
	}
	drain := &mmaster.Call{Type: mmaster.Call_DRAIN_AGENT.Enum(), DrainAgent: &mmaster.Call_DrainAgent{AgentId: &mesos.AgentID{Value: proto.String("A2")}}}
	if status, body := h.status(drain, ProtobufCodec); status != http.StatusOK {
		t.Fatalf("DRAIN_AGENT: %d %s", status, body)
	}
	if a := h.read(callOf(mmaster.Call_GET_AGENTS), ProtobufCodec).GetGetAgents().GetAgents()[1]; !a.GetDeactivated() {
		t.Errorf("GET_AGENTS right after DRAIN_AGENT: %v", a)
	}
	// A1 drains already: deactivating it leaves its drain as it is.
	h.mu.Lock()
	before := len(h.asked)
	h.mu.Unlock()
	deactivate := &mmaster.Call{Type: mmaster.Call_DEACTIVATE_AGENT.Enum(), DeactivateAgent: &mmaster.Call_DeactivateAgent{AgentId: &mesos.AgentID{Value: proto.String("A1")}}}
	if status, _ := h.status(deactivate, ProtobufCodec); status != http.StatusOK {
		t.Errorf("DEACTIVATE_AGENT of a draining agent: %d", status)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.asked) != before {
		t.Errorf("DEACTIVATE_AGENT of a draining agent asked the master: %v", h.asked[before:])
	}
}

// Reads are the view_state list's, as GET /state is; health is open.
func TestOperatorReadsNeedViewState(t *testing.T) {
	list, err := acl.Parse([]byte(`{"view_state": [{"principals": ["ops"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := newOperatorHarness(t, &master.HTTPAccess{ACLs: func() *acl.List { return list }}, 0)
	if status, body := h.status(callOf(mmaster.Call_GET_STATE), JSONCodec); status != http.StatusForbidden || !strings.Contains(body, "view_state") {
		t.Errorf("GET_STATE without view_state: %d %s", status, body)
	}
	if status, _ := h.status(callOf(mmaster.Call_SUBSCRIBE), JSONCodec); status != http.StatusForbidden {
		t.Errorf("SUBSCRIBE without view_state: %d", status)
	}
	if status, _ := h.status(callOf(mmaster.Call_GET_HEALTH), JSONCodec); status != http.StatusOK {
		t.Errorf("GET_HEALTH: %d", status)
	}
}

// subscribe opens a SUBSCRIBE stream and returns its records as events.
func (h *operatorHarness) subscribe(codec Codec, header ...string) (<-chan *mmaster.Event, *http.Response) {
	h.t.Helper()
	res := h.post(callOf(mmaster.Call_SUBSCRIBE), codec, header...)
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		h.t.Fatalf("SUBSCRIBE answered %d: %s", res.StatusCode, b)
	}
	h.t.Cleanup(func() { res.Body.Close() })
	events := make(chan *mmaster.Event, 16)
	go func() {
		defer close(events)
		rr := NewRecordReader(res.Body, 1<<20)
		for {
			rec, err := rr.Next()
			if err != nil {
				return
			}
			e := &mmaster.Event{}
			if err := codec.Unmarshal(rec, e); err != nil {
				h.t.Errorf("a record that is no event: %v", err)
				return
			}
			events <- e
		}
	}()
	return events, res
}

func nextEvent(t *testing.T, events <-chan *mmaster.Event) *mmaster.Event {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return nil
	}
}

// SUBSCRIBE: the state first, then the master's events as they are
// published, and a heartbeat every interval.
func TestOperatorSubscribe(t *testing.T) {
	for _, tc := range []struct {
		codec       Codec
		header      []string
		contentType string
	}{
		{ProtobufCodec, nil, MediaProtobuf},
		{JSONCodec, []string{"Accept", MediaRecordIO, "Message-Accept", MediaJSON}, MediaRecordIO},
	} {
		h := newOperatorHarness(t, nil, 0)
		events, res := h.subscribe(tc.codec, tc.header...)
		if ct := res.Header.Get("Content-Type"); ct != tc.contentType {
			t.Errorf("Content-Type %q; want %q", ct, tc.contentType)
		}
		first := nextEvent(t, events)
		if first.GetType() != mmaster.Event_SUBSCRIBED || len(first.GetSubscribed().GetGetState().GetGetTasks().GetTasks()) != 3 ||
			first.GetSubscribed().GetHeartbeatIntervalSeconds() != 1 {
			t.Fatalf("first event: %v", first)
		}
		h.events.Publish(core.TaskAdded{Task: operatorTasks()[0]})
		h.events.Publish(core.ReclaimChecked{}) // no Mesos event
		h.events.Publish(core.TaskUpdated{FrameworkID: "F1", TaskID: "t1", State: messages.TaskState_TASK_FINISHED})
		if e := nextEvent(t, events); e.GetType() != mmaster.Event_TASK_ADDED || e.GetTaskAdded().GetTask().GetTaskId().GetValue() != "t1" {
			t.Errorf("after TaskAdded: %v", e)
		}
		if e := nextEvent(t, events); e.GetType() != mmaster.Event_TASK_UPDATED || e.GetTaskUpdated().GetState() != mesos.TaskState_TASK_FINISHED {
			t.Errorf("after TaskUpdated: %v", e)
		}
		h.clock.BlockUntil(1) // the stream's heartbeat ticker
		h.clock.Advance(time.Second)
		if e := nextEvent(t, events); e.GetType() != mmaster.Event_HEARTBEAT {
			t.Errorf("after a heartbeat interval: %v", e)
		}
	}
}

// A subscriber that falls behind is cut off, never slowing the publisher
// (the master's goroutine) nor growing without bound.
func TestOperatorSubscriberFallingBehindIsCutOff(t *testing.T) {
	h := newOperatorHarness(t, nil, 4)
	events, _ := h.subscribe(ProtobufCodec)
	nextEvent(t, events) // SUBSCRIBED
	// Nobody reads while many events are published: more than the
	// buffer, and more than the socket's buffers hold.
	big := operatorTasks()[0]
	big.Name = strings.Repeat("x", 64<<10)
	for range 200 {
		h.events.Publish(core.TaskAdded{Task: big})
	}
	n := 0
	for range events {
		n++
	}
	if n >= 200 {
		t.Errorf("%d of 200 events arrived to a subscriber with a buffer of 4: not cut off", n)
	}
}

// The operator call decoder and the mapping of changes, on any bytes in
// either codec: no panic, and a change let through names a valid role
// with valid resources.
func FuzzOperatorCall(f *testing.F) {
	for _, c := range []*mmaster.Call{
		callOf(mmaster.Call_GET_STATE),
		{Type: mmaster.Call_UPDATE_QUOTA.Enum(), UpdateQuota: &mmaster.Call_UpdateQuota{QuotaConfigs: []*quota.QuotaConfig{{
			Role: proto.String("ops"), Guarantees: map[string]*mesos.Value_Scalar{"cpus": {Value: proto.Float64(1)}}, Limits: map[string]*mesos.Value_Scalar{"mem": {Value: proto.Float64(64)}}}}}},
		{Type: mmaster.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &mmaster.Call_UpdateWeights{WeightInfos: []*mesos.WeightInfo{{Role: proto.String("eng"), Weight: proto.Float64(2)}}}},
		{Type: mmaster.Call_DRAIN_AGENT.Enum(), DrainAgent: &mmaster.Call_DrainAgent{AgentId: &mesos.AgentID{Value: proto.String("A1")}}},
	} {
		for _, codec := range []Codec{ProtobufCodec, JSONCodec} {
			b, err := codec.Marshal(c)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, codec.MediaType == MediaJSON)
		}
	}
	f.Add([]byte(`{"type":"SET_QUOTA","set_quota":{"quota_request":{"role":"x","guarantee":[{"name":"cpus","type":"SCALAR","scalar":{"value":1e308}}]}}}`), true)
	f.Fuzz(func(t *testing.T, body []byte, json bool) {
		codec := ProtobufCodec
		if json {
			codec = JSONCodec
		}
		call, err := decodeOperatorCall(codec, body)
		if err != nil {
			return
		}
		if changes, err := roleChangesIn(call); err == nil {
			for _, u := range changes {
				if err := messages.ValidateRoleName(u.Role); err != nil {
					t.Fatalf("a change of an invalid role %q let through: %v", u.Role, err)
				}
				for _, rs := range [][]*messages.Resource{u.GetQuota().GetGuarantee(), u.GetQuota().GetLimit()} {
					if err := messages.ValidateResources(rs); err != nil {
						t.Fatalf("a quota of invalid resources let through: %v", err)
					}
				}
			}
		}
		_, _ = agentCallIn(call)
	})
}

package mesosapi

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	mmaster "github.com/agora-sched/agora/messages/mesos/v1/master"
	"google.golang.org/protobuf/proto"
)

// Mesos' operator SUBSCRIBE: SUBSCRIBED with the state, then the master's
// changes as they happen (TASK_ADDED, TASK_UPDATED, AGENT_ADDED,
// AGENT_REMOVED, FRAMEWORK_ADDED, FRAMEWORK_UPDATED, FRAMEWORK_REMOVED)
// and a HEARTBEAT every Heartbeat. The changes come from the events the
// master publishes on its actor system's event stream. Those that lend
// the books' records (TaskAdded, AgentAdmitted, FrameworkSubscribed) or
// need the state as it is when they happen (a framework's end) are turned
// into Mesos' events right there, on the master's goroutine; the others,
// plain values, and among them the most frequent (TaskUpdated), are queued
// as they are and mapped on the stream's goroutine, which also encodes
// and writes them. A subscriber that falls
// StreamBuffer events behind is cut off (it re-subscribes and starts from
// a fresh state) rather than slowing the master or growing without bound.

// operatorEventOut is a master event as Mesos' operator event, or nil for
// an event Mesos has none for. state is the latest published state, for
// what an event does not carry (a disconnected or removed framework's
// info); it must not block.
func operatorEventOut(ev any, state func() *messages.MasterState) *mmaster.Event {
	switch ev := ev.(type) {
	case core.TaskAdded:
		return &mmaster.Event{Type: mmaster.Event_TASK_ADDED.Enum(), TaskAdded: &mmaster.Event_TaskAdded{Task: taskRecordOut(ev.Task)}}
	case core.TaskUpdated:
		st := taskStateOut(ev.State)
		return &mmaster.Event{Type: mmaster.Event_TASK_UPDATED.Enum(), TaskUpdated: &mmaster.Event_TaskUpdated{
			FrameworkId: &mesos.FrameworkID{Value: proto.String(ev.FrameworkID)},
			Status:      &mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String(ev.TaskID)}, State: st.Enum()},
			State:       st.Enum()}}
	case core.AgentAdmitted:
		info := ev.Info
		if info == nil {
			info = &messages.AgentInfo{Id: &messages.AgentID{Value: ev.AgentID}, Hostname: ev.Hostname}
		}
		return &mmaster.Event{Type: mmaster.Event_AGENT_ADDED.Enum(), AgentAdded: &mmaster.Event_AgentAdded{Agent: &mmaster.Response_GetAgents_Agent{
			AgentInfo: agentInfoOut(info), Active: proto.Bool(true), Version: proto.String(info.GetVersion()),
			TotalResources: resourcesOut(info.GetResources(), "", false)}}}
	case core.AgentRemoved:
		return agentRemovedOut(ev.AgentID)
	case core.AgentMarkedUnreachable:
		// Mesos removes an unreachable agent from its registered ones.
		return agentRemovedOut(ev.AgentID)
	case core.FrameworkSubscribed:
		info := ev.Info
		if info == nil {
			info = &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: ev.FrameworkID}}
		}
		fw := &mmaster.Response_GetFrameworks_Framework{FrameworkInfo: frameworkOut(info, ev.FrameworkID),
			Active: proto.Bool(true), Connected: proto.Bool(true), Recovered: proto.Bool(false)}
		if ev.Resubscribed {
			return &mmaster.Event{Type: mmaster.Event_FRAMEWORK_UPDATED.Enum(), FrameworkUpdated: &mmaster.Event_FrameworkUpdated{Framework: fw}}
		}
		return &mmaster.Event{Type: mmaster.Event_FRAMEWORK_ADDED.Enum(), FrameworkAdded: &mmaster.Event_FrameworkAdded{Framework: fw}}
	case core.FrameworkDisconnected:
		info := frameworkInfoIn(state(), ev.FrameworkID)
		return &mmaster.Event{Type: mmaster.Event_FRAMEWORK_UPDATED.Enum(), FrameworkUpdated: &mmaster.Event_FrameworkUpdated{
			Framework: &mmaster.Response_GetFrameworks_Framework{FrameworkInfo: frameworkOut(info, ev.FrameworkID),
				Active: proto.Bool(false), Connected: proto.Bool(false), Recovered: proto.Bool(false)}}}
	case core.FrameworkRemoved:
		return &mmaster.Event{Type: mmaster.Event_FRAMEWORK_REMOVED.Enum(), FrameworkRemoved: &mmaster.Event_FrameworkRemoved{
			FrameworkInfo: frameworkOut(frameworkInfoIn(state(), ev.FrameworkID), ev.FrameworkID)}}
	}
	return nil
}

func agentRemovedOut(id string) *mmaster.Event {
	return &mmaster.Event{Type: mmaster.Event_AGENT_REMOVED.Enum(), AgentRemoved: &mmaster.Event_AgentRemoved{AgentId: &mesos.AgentID{Value: proto.String(id)}}}
}

// frameworkInfoIn is a framework's info in st, or one that names only its
// ID (a framework the state has not shown yet).
func frameworkInfoIn(st *messages.MasterState, id string) *messages.FrameworkInfo {
	for _, f := range st.GetFrameworks() {
		if f.GetInfo().GetId().GetValue() == id {
			return f.GetInfo()
		}
	}
	return &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: id}}
}

// operatorQueue holds a subscriber's events between the master's
// goroutine, which adds them, and the stream's, which writes them.
type operatorQueue struct {
	state func() *messages.MasterState
	// events holds *mmaster.Event, or a master event still to map.
	events   chan any
	overflow chan struct{}
	once     sync.Once
}

// add is the event stream's handler: it runs on the publisher's goroutine
// and never blocks it.
func (q *operatorQueue) add(ev any) {
	var item any
	switch ev.(type) {
	case core.TaskUpdated, core.AgentRemoved, core.AgentMarkedUnreachable:
		item = ev
	case core.TaskAdded, core.AgentAdmitted, core.FrameworkSubscribed, core.FrameworkDisconnected, core.FrameworkRemoved:
		item = operatorEventOut(ev, q.state)
	default:
		return // no Mesos event
	}
	select {
	case q.events <- item:
	default:
		q.once.Do(func() { close(q.overflow) })
	}
}

// streamAccepts is the codec a stream's records are written in, and
// whether the client asked for application/recordio (mesos-go does, with
// the codec in Message-Accept; older clients name the codec in Accept).
func streamAccepts(r *http.Request, in Codec) (out Codec, recordio, ok bool) {
	accept := r.Header.Get("Accept")
	for _, part := range strings.Split(accept, ",") {
		if strings.HasPrefix(strings.TrimSpace(part), MediaRecordIO) {
			recordio, accept = true, r.Header.Get("Message-Accept")
		}
	}
	out, ok = accepts(accept, in)
	return out, recordio, ok
}

// subscribe streams the master's events until the client leaves, falls
// behind, or this master stops leading.
func (s *OperatorServer) subscribe(w http.ResponseWriter, r *http.Request, in Codec) {
	out, recordio, ok := streamAccepts(r, in)
	if !ok {
		http.Error(w, fmt.Sprintf("Expecting 'Accept' to allow %s or %s", MediaProtobuf, MediaJSON), http.StatusNotAcceptable)
		return
	}
	if !s.cfg.Access.Allows(w, r, acl.ViewState) {
		return
	}
	if s.cfg.Events == nil || s.cfg.State == nil {
		http.Error(w, "this master streams no events", http.StatusNotImplemented)
		return
	}
	if n := s.open.Add(1); n > int64(s.cfg.MaxStreams) {
		s.open.Add(-1)
		http.Error(w, fmt.Sprintf("this master serves %d operator streams already; retry later", s.cfg.MaxStreams), http.StatusServiceUnavailable)
		return
	}
	defer s.open.Add(-1)
	rc := http.NewResponseController(w)
	// Subscribed before the state is read: a change made in between comes
	// as an event after the state that may already hold it, never lost.
	q := &operatorQueue{state: s.cfg.State, events: make(chan any, s.cfg.StreamBuffer), overflow: make(chan struct{})}
	sub := s.cfg.Events.Subscribe(q.add)
	defer s.cfg.Events.Unsubscribe(sub)
	st := s.cfg.State()
	if st == nil {
		http.Error(w, "master starting: no state yet, retry shortly", http.StatusServiceUnavailable)
		return
	}
	tasks, status, err := s.tasks(r.Context())
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	log := s.cfg.Logger.With("call", "SUBSCRIBE", "remote", r.RemoteAddr)
	subscribed := &mmaster.Event{Type: mmaster.Event_SUBSCRIBED.Enum(), Subscribed: &mmaster.Event_Subscribed{
		GetState: stateOut(st, tasks), HeartbeatIntervalSeconds: proto.Float64(s.cfg.Heartbeat.Seconds())}}
	h := w.Header()
	if recordio {
		h.Set("Content-Type", MediaRecordIO)
		h.Set("Message-Content-Type", out.MediaType)
	} else {
		h.Set("Content-Type", out.MediaType)
	}
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	heartbeat := s.cfg.Clock.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	write := func(ev *mmaster.Event) bool {
		b, err := out.Marshal(ev)
		if err != nil {
			log.Error("Mesos operator event not encoded; ending the stream", "event", ev.GetType().String(), "err", err)
			return false
		}
		// The stream outlives the server's write timeout: each write gets
		// its own deadline (a socket's, in real time).
		_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := w.Write(AppendRecord(nil, b)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	log.Info("Mesos operator stream subscribed", "agents", len(st.GetAgents()), "tasks", len(tasks))
	if !write(subscribed) {
		return
	}
	for {
		select {
		case item := <-q.events:
			ev, mapped := item.(*mmaster.Event)
			if !mapped {
				ev = operatorEventOut(item, s.cfg.State)
			}
			if !write(ev) {
				return
			}
		case <-heartbeat.Chan():
			if !s.cfg.Leading() {
				log.Info("Mesos operator stream ended: this master no longer leads")
				return
			}
			if !write(&mmaster.Event{Type: mmaster.Event_HEARTBEAT.Enum()}) {
				return
			}
		case <-q.overflow:
			log.Warn("Mesos operator stream ended: the subscriber fell behind", "buffered", s.cfg.StreamBuffer)
			return
		case <-r.Context().Done():
			return
		}
	}
}

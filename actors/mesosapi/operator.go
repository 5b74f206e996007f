package mesosapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	mmaster "github.com/agora-sched/agora/messages/mesos/v1/master"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// OperatorPath is where Mesos' v1 operator API is served.
const OperatorPath = "/api/v1"

// Defaults for OperatorConfig.
const (
	// DefaultOperatorHeartbeat is how often a SUBSCRIBE stream gets a
	// HEARTBEAT (Mesos' DEFAULT_HEARTBEAT_INTERVAL).
	DefaultOperatorHeartbeat = 15 * time.Second
	// DefaultMaxOperatorStreams bounds the SUBSCRIBE streams served at
	// once (each costs a connection, a goroutine and the master's time to
	// copy every event for it).
	DefaultMaxOperatorStreams = 256
	// DefaultMaxOperatorCallBytes bounds a call's body: the largest is an
	// UPDATE_QUOTA of many roles.
	DefaultMaxOperatorCallBytes = 1 << 20
	// publishWait bounds how long a change's answer waits for the
	// published state to show it (the master publishes within 100 ms).
	publishWait = 5 * time.Second
	// maxTaskPages bounds the pages of tasks one read asks the master for
	// (core.MaxTaskPage tasks each).
	maxTaskPages = 1000
)

// OperatorConfig is what the operator API is built from. Reads are served
// from the master's published state (State) and never wait on the master
// actor, except the tasks, which the master publishes in no snapshot and
// lists a page at a time (Ask, as GET /tasks does); changes go to the
// master actor through the same paths as the master's own HTTP API
// (Update for weights and quotas, Ask for drains), so the same access
// control lists decide them there.
type OperatorConfig struct {
	// State is the master's latest published state (nil before the first).
	State func() *messages.MasterState
	// Changed returns a channel closed when a newer state is published
	// (nil: a change is answered without waiting to be readable).
	Changed func() <-chan struct{}
	// Leading reports whether this node's master leads: a SUBSCRIBE
	// stream ends when it stops (the client follows the 307 to the new
	// leader). nil: always.
	Leading func() bool
	// Events is the event stream the master publishes its changes on
	// (the actor system's): SUBSCRIBE's events come from there.
	Events *eventstream.EventStream
	// Access decides reads (view_state), as for GET /state.
	Access *master.HTTPAccess
	Update master.UpdateRoleFunc
	Ask    master.AskFunc
	// Health probes the master's actors for GET_HEALTH (nil: healthy
	// while there is state).
	Health master.HealthFunc
	// Flags is the master's command-line flags by name, for GET_FLAGS
	// (nil: refused as unsupported).
	Flags func() map[string]string
	// Metrics is what /metrics serves, for GET_METRICS (nil: refused as
	// unsupported).
	Metrics prometheus.Gatherer
	Streams
	// Heartbeat is how often a SUBSCRIBE stream gets a HEARTBEAT.
	Heartbeat time.Duration
	// MaxStreams bounds the SUBSCRIBE streams open at once (more are
	// answered 503).
	MaxStreams int
}

// OperatorServer serves Mesos' v1 operator API on the master: POST /api/v1.
type OperatorServer struct {
	cfg  OperatorConfig
	open atomic.Int64 // SUBSCRIBE streams being served
}

// NewOperator returns the operator API's handler.
func NewOperator(cfg OperatorConfig) *OperatorServer {
	if cfg.MaxCallBytes <= 0 {
		cfg.MaxCallBytes = DefaultMaxOperatorCallBytes
	}
	cfg.Streams = cfg.Streams.withDefaults()
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultOperatorHeartbeat
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxOperatorStreams
	}
	if cfg.Leading == nil {
		cfg.Leading = func() bool { return true }
	}
	return &OperatorServer{cfg: cfg}
}

// decodeOperatorCall reads a call's body in codec in, as the server does.
func decodeOperatorCall(in Codec, body []byte) (*mmaster.Call, error) {
	call := &mmaster.Call{}
	if err := in.Unmarshal(body, call); err != nil {
		return nil, fmt.Errorf("Failed to parse body into Call: %w", err)
	}
	if call.Type == nil || call.GetType() == mmaster.Call_UNKNOWN {
		return nil, errors.New("Expecting 'type' to be present")
	}
	return call, nil
}

// ServeHTTP answers as Mesos' master does: 200 with the Response for a
// read, 200 and an empty body for a change, 200 and a RecordIO stream for
// SUBSCRIBE; 400 for a malformed call or one Agora does not serve (named),
// 403 refused by the access control lists, 404 an unknown agent, 405
// another method, 406 an Accept it cannot answer, 415 a body in a codec it
// does not speak, 503 while no master leads here or it does not answer.
func (s *OperatorServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in, ok := postedCodec(w, r)
	if !ok {
		return
	}
	body, ok := postedCall(w, r, s.cfg.MaxCallBytes)
	if !ok {
		return
	}
	call, err := decodeOperatorCall(in, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	log := s.cfg.Logger.With("call", call.GetType().String())
	switch t := call.GetType(); t {
	case mmaster.Call_SUBSCRIBE:
		s.subscribe(w, r, in)
	case mmaster.Call_UPDATE_WEIGHTS, mmaster.Call_UPDATE_QUOTA, mmaster.Call_SET_QUOTA, mmaster.Call_REMOVE_QUOTA:
		s.changeRoles(w, r, call)
	case mmaster.Call_DRAIN_AGENT, mmaster.Call_DEACTIVATE_AGENT, mmaster.Call_REACTIVATE_AGENT:
		s.agentCall(w, r, call)
	case mmaster.Call_GET_MAINTENANCE_SCHEDULE, mmaster.Call_GET_MAINTENANCE_STATUS, mmaster.Call_UPDATE_MAINTENANCE_SCHEDULE,
		mmaster.Call_START_MAINTENANCE, mmaster.Call_STOP_MAINTENANCE:
		s.maintenanceCall(w, r, in, call)
	case mmaster.Call_GET_FLAGS, mmaster.Call_GET_METRICS:
		s.flagsAndMetrics(w, r, in, call)
	case mmaster.Call_RESERVE_RESOURCES, mmaster.Call_UNRESERVE_RESOURCES, mmaster.Call_CREATE_VOLUMES, mmaster.Call_DESTROY_VOLUMES:
		s.resourceCall(w, r, call)
	case mmaster.Call_GET_HEALTH, mmaster.Call_GET_VERSION, mmaster.Call_GET_MASTER, mmaster.Call_GET_STATE, mmaster.Call_GET_AGENTS,
		mmaster.Call_GET_FRAMEWORKS, mmaster.Call_GET_EXECUTORS, mmaster.Call_GET_TASKS, mmaster.Call_GET_ROLES, mmaster.Call_GET_WEIGHTS, mmaster.Call_GET_QUOTA:
		out, ok := accepts(r.Header.Get("Accept"), in)
		if !ok {
			http.Error(w, fmt.Sprintf("Expecting 'Accept' to allow %s or %s", MediaProtobuf, MediaJSON), http.StatusNotAcceptable)
			return
		}
		res, status, err := s.read(w, r, call)
		if err != nil {
			log.Warn("Mesos operator call refused", "status", status, "err", err)
			http.Error(w, err.Error(), status)
			return
		}
		if res == nil {
			return // refused by the access control lists, and answered
		}
		b, err := out.Marshal(res)
		if err != nil {
			log.Error("Mesos operator response not encoded", "err", err)
			http.Error(w, "encoding the response: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", out.MediaType)
		_, _ = w.Write(b)
	default:
		log.Info("Mesos operator call refused: not supported")
		http.Error(w, fmt.Sprintf("%s: the operator call %s", ErrUnsupported, t), http.StatusBadRequest)
	}
}

// read answers a read call. A nil Response with no error means the access
// control lists refused it and the refusal is written.
func (s *OperatorServer) read(w http.ResponseWriter, r *http.Request, call *mmaster.Call) (*mmaster.Response, int, error) {
	t := call.GetType()
	// Health and version are open to every client the transport lets in,
	// as /health is (Mesos authorizes neither).
	if t != mmaster.Call_GET_HEALTH && t != mmaster.Call_GET_VERSION && !s.cfg.Access.Allows(w, r, acl.ViewState) {
		return nil, 0, nil
	}
	st := s.cfg.State()
	if st == nil {
		if t == mmaster.Call_GET_HEALTH {
			return &mmaster.Response{Type: mmaster.Response_GET_HEALTH.Enum(), GetHealth: &mmaster.Response_GetHealth{Healthy: proto.Bool(false)}}, 0, nil
		}
		return nil, http.StatusServiceUnavailable, errors.New("master starting: no state yet, retry shortly")
	}
	res := &mmaster.Response{}
	switch t {
	case mmaster.Call_GET_HEALTH:
		healthy := s.cfg.Health == nil || s.cfg.Health(r.Context()) == nil
		res.Type, res.GetHealth = mmaster.Response_GET_HEALTH.Enum(), &mmaster.Response_GetHealth{Healthy: proto.Bool(healthy)}
	case mmaster.Call_GET_VERSION:
		res.Type = mmaster.Response_GET_VERSION.Enum()
		res.GetVersion = &mmaster.Response_GetVersion{VersionInfo: &mesos.VersionInfo{Version: proto.String(st.GetMaster().GetVersion())}}
	case mmaster.Call_GET_MASTER:
		res.Type, res.GetMaster = mmaster.Response_GET_MASTER.Enum(), masterOut(st)
	case mmaster.Call_GET_AGENTS:
		res.Type, res.GetAgents = mmaster.Response_GET_AGENTS.Enum(), agentsOut(st)
	case mmaster.Call_GET_FRAMEWORKS:
		res.Type, res.GetFrameworks = mmaster.Response_GET_FRAMEWORKS.Enum(), frameworksOut(st)
	case mmaster.Call_GET_ROLES:
		res.Type, res.GetRoles = mmaster.Response_GET_ROLES.Enum(), rolesOut(st)
	case mmaster.Call_GET_WEIGHTS:
		res.Type, res.GetWeights = mmaster.Response_GET_WEIGHTS.Enum(), weightsOut(st)
	case mmaster.Call_GET_QUOTA:
		res.Type, res.GetQuota = mmaster.Response_GET_QUOTA.Enum(), quotaOut(st)
	case mmaster.Call_GET_TASKS, mmaster.Call_GET_EXECUTORS, mmaster.Call_GET_STATE:
		tasks, status, err := s.tasks(r.Context())
		if err != nil {
			return nil, status, err
		}
		switch t {
		case mmaster.Call_GET_TASKS:
			res.Type, res.GetTasks = mmaster.Response_GET_TASKS.Enum(), tasksOut(tasks)
		case mmaster.Call_GET_EXECUTORS:
			res.Type, res.GetExecutors = mmaster.Response_GET_EXECUTORS.Enum(), executorsOut(tasks)
		default:
			res.Type, res.GetState = mmaster.Response_GET_STATE.Enum(), stateOut(st, tasks)
		}
	}
	return res, 0, nil
}

// tasks lists the master's live and recently finished tasks, a page at a
// time; status is the HTTP status of an error.
func (s *OperatorServer) tasks(ctx context.Context) (_ []*messages.Task, status int, _ error) {
	if s.cfg.Ask == nil {
		return nil, http.StatusNotImplemented, errors.New("this master lists no tasks")
	}
	var tasks []*messages.Task
	after := ""
	for range maxTaskPages {
		res, err := s.cfg.Ask(ctx, &messages.ListTasks{Limit: core.MaxTaskPage, After: after})
		if err != nil {
			return nil, http.StatusServiceUnavailable, fmt.Errorf("the master did not answer: %w", err)
		}
		switch res := res.(type) {
		case *messages.TaskList:
			tasks = append(tasks, res.GetTasks()...)
			if res.GetNext() == "" {
				return tasks, 0, nil
			}
			after = res.GetNext()
		case *messages.Error:
			return nil, master.ErrorStatus(res.GetCode()), &master.Refused{Code: res.GetCode(), Message: res.GetMessage()}
		default:
			return nil, http.StatusInternalServerError, fmt.Errorf("unexpected answer %T from the master", res)
		}
	}
	return nil, http.StatusInternalServerError, fmt.Errorf("the master holds more than %d tasks: read them with GET /tasks, a page at a time", maxTaskPages*core.MaxTaskPage)
}

// changeRoles applies UPDATE_WEIGHTS, UPDATE_QUOTA, SET_QUOTA or
// REMOVE_QUOTA, one role at a time through the master (each change is
// written before it applies). All are checked first; a refusal of the
// master stops at the role refused, the earlier ones made, and says so.
func (s *OperatorServer) changeRoles(w http.ResponseWriter, r *http.Request, call *mmaster.Call) {
	changes, err := roleChangesIn(call)
	if err != nil {
		s.cfg.Logger.Warn("Mesos operator call refused", "call", call.GetType().String(), "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.cfg.Update == nil {
		http.Error(w, "this master does not take changes", http.StatusNotImplemented)
		return
	}
	for i, u := range changes {
		cfg, err := s.cfg.Update(r.Context(), u)
		if err == nil {
			s.awaitPublished(r.Context(), func(st *messages.MasterState) bool { return sameRole(st.GetRoles(), cfg, u.Role) })
		}
		if err != nil {
			status := http.StatusServiceUnavailable
			var refused *master.Refused
			if errors.As(err, &refused) {
				status = master.ErrorStatus(refused.Code)
			}
			if i > 0 {
				err = fmt.Errorf("role %q: %w (the %d roles before it were changed)", u.Role, err, i)
			}
			s.cfg.Logger.Warn("Mesos operator call refused by the master", "call", call.GetType().String(), "role", u.Role, "err", err)
			http.Error(w, err.Error(), status)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// agentCall drains, deactivates or reactivates an agent through the
// master. Deactivating an agent that drains already leaves its drain as
// it is (it is offered to nobody either way).
func (s *OperatorServer) agentCall(w http.ResponseWriter, r *http.Request, call *mmaster.Call) {
	msg, err := agentCallIn(call)
	if err != nil {
		s.cfg.Logger.Warn("Mesos operator call refused", "call", call.GetType().String(), "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if call.GetType() == mmaster.Call_DEACTIVATE_AGENT && s.cfg.State != nil {
		id := call.GetDeactivateAgent().GetAgentId().GetValue()
		for _, a := range s.cfg.State().GetAgents() {
			if a.GetInfo().GetId().GetValue() == id && a.GetDrain() != nil {
				w.WriteHeader(http.StatusOK)
				return
			}
		}
	}
	if s.cfg.Ask == nil {
		http.Error(w, "this master takes no operations", http.StatusNotImplemented)
		return
	}
	if !s.apply(w, r, call.GetType().String(), msg) {
		return
	}
	id, draining := agentCallTarget(msg)
	s.awaitPublished(r.Context(), func(st *messages.MasterState) bool {
		for _, a := range st.GetAgents() {
			if a.GetInfo().GetId().GetValue() == id {
				return (a.GetDrain() != nil) == draining
			}
		}
		return true // gone: nothing to wait for
	})
	w.WriteHeader(http.StatusOK)
}

// apply asks the master to carry out an operation for the call named
// call and answers any refusal itself; true when the master applied it
// (the caller answers then, once the change is published).
func (s *OperatorServer) apply(w http.ResponseWriter, r *http.Request, call string, msg proto.Message) bool {
	res, err := s.cfg.Ask(r.Context(), msg)
	if err != nil {
		http.Error(w, "the master did not answer: "+err.Error(), http.StatusServiceUnavailable)
		return false
	}
	switch res := res.(type) {
	case *messages.OperatorAccepted:
		s.cfg.Logger.Info("Mesos operator call applied", "call", call, "result", res.GetMessage())
		return true
	case *messages.Error:
		s.cfg.Logger.Warn("Mesos operator call refused by the master", "call", call, "err", res.GetMessage())
		http.Error(w, res.GetCode().String()+": "+res.GetMessage(), master.ErrorStatus(res.GetCode()))
	default:
		http.Error(w, fmt.Sprintf("unexpected answer %T from the master", res), http.StatusInternalServerError)
	}
	return false
}

// awaitPublished waits (bounded by publishWait) until the published state
// satisfies shown: a client that reads right after its change gets the
// state with the change, as from Mesos' master. On timeout the change,
// made, is answered as such.
func (s *OperatorServer) awaitPublished(ctx context.Context, shown func(*messages.MasterState) bool) {
	if s.cfg.Changed == nil {
		return
	}
	timeout := s.cfg.Clock.After(publishWait)
	for {
		changed := s.cfg.Changed()
		if st := s.cfg.State(); st != nil && shown(st) {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			s.cfg.Logger.Warn("the master's published state did not show a change in time; answering anyway", "waited", publishWait)
			return
		case <-ctx.Done():
			return
		}
	}
}

// sameRole reports whether role's settings in have are those in want.
func sameRole(have, want *messages.RoleConfig, role string) bool {
	find := func(c *messages.RoleConfig) *messages.RoleSettings {
		for _, r := range c.GetRoles() {
			if r.GetRole() == role {
				return r
			}
		}
		return nil
	}
	return proto.Equal(find(have), find(want))
}

// agentCallTarget is the agent a drain call acts on, and whether it
// drains after it.
func agentCallTarget(msg proto.Message) (id string, draining bool) {
	switch m := msg.(type) {
	case *messages.DrainAgent:
		return m.GetAgentId().GetValue(), true
	case *messages.ReactivateAgent:
		return m.GetAgentId().GetValue(), false
	}
	return "", false
}

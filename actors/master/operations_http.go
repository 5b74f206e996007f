package master

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// AskFunc sends an operator's request to the leading master actor with
// the HTTP client's identity and returns its answer.
type AskFunc func(ctx context.Context, req proto.Message) (any, error)

// WithOperations adds the operators' task and framework operations to h:
//
//	GET  /tasks?framework=&agent=&state=&limit=&after=   a page of tasks (TaskList)
//	POST /tasks/{task}/kill?framework=ID                  kill a task of any framework
//	POST /frameworks/{id}/teardown                        remove a framework
//	POST /teardown  (form frameworkId=ID)                 the same, as Mesos' endpoint
//	POST /agents/{id}/drain?deadline=10m                  drain an agent (deadline: Go duration, default 0)
//	POST /agents/{id}/reactivate                          end an agent's drain
//	POST /agents/{id}/remove                              remove an agent for good
//	GET  /maintenance/schedule                            the maintenance schedule (MaintenanceSchedule)
//	POST /maintenance/schedule  (body: MaintenanceSchedule JSON)  replace it ({} clears it)
//	POST /reserve   (form agentId=ID resources=cpus(prod):2;mem(prod):1024 [label=k:v ...])
//	POST /unreserve (the same)                            Mesos' operator reservations
//	POST /create-volumes  (form agentId=ID role=R volume=ID:PATH:MIB ... [shared=true])  persistent volumes
//	POST /destroy-volumes (the same, each volume as it was created)          on reserved disk
//
// Unlike the state, these go through the master actor: the access control
// lists (view_state, kill_tasks, teardown_frameworks, drain_agents,
// reserve_resources, unreserve_resources, create_volumes,
// destroy_volumes) decide there.
func WithOperations(h http.Handler, ask AskFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET /tasks", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req := &messages.ListTasks{FrameworkId: q.Get("framework"), AgentId: q.Get("agent"), State: q.Get("state"), After: q.Get("after")}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.ParseUint(l, 10, 32)
			if err != nil {
				http.Error(w, "limit must be a number of tasks", http.StatusBadRequest)
				return
			}
			req.Limit = uint32(n)
		}
		if res, ok := answer[*messages.TaskList](w, r, ask, req); ok {
			writeJSON(w, res)
		}
	})
	mux.HandleFunc("POST /tasks/{task}/kill", func(w http.ResponseWriter, r *http.Request) {
		task, fw := r.PathValue("task"), r.URL.Query().Get("framework")
		if fw == "" {
			// Task IDs are unique per framework: find the one it is in.
			loc, ok := answer[*messages.TaskLocation](w, r, ask, &messages.GetTask{TaskId: &messages.TaskID{Value: task}})
			if !ok {
				return
			}
			fw = loc.GetTask().GetFrameworkId().GetValue()
		}
		if res, ok := answer[*messages.OperatorAccepted](w, r, ask, &messages.OperatorKillTask{
			FrameworkId: &messages.FrameworkID{Value: fw}, TaskId: &messages.TaskID{Value: task}}); ok {
			writeJSON(w, res)
		}
	})
	teardown := func(w http.ResponseWriter, r *http.Request, id string) {
		if id == "" {
			http.Error(w, "name the framework: POST /frameworks/ID/teardown, or frameworkId=ID", http.StatusBadRequest)
			return
		}
		if res, ok := answer[*messages.OperatorAccepted](w, r, ask, &messages.OperatorTeardown{FrameworkId: &messages.FrameworkID{Value: id}}); ok {
			writeJSON(w, res)
		}
	}
	mux.HandleFunc("POST /frameworks/{id}/teardown", func(w http.ResponseWriter, r *http.Request) { teardown(w, r, r.PathValue("id")) })
	mux.HandleFunc("POST /teardown", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		teardown(w, r, r.Form.Get("frameworkId"))
	})
	mux.HandleFunc("POST /agents/{id}/drain", func(w http.ResponseWriter, r *http.Request) {
		var deadline time.Duration
		if s := r.URL.Query().Get("deadline"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				http.Error(w, fmt.Sprintf("deadline %q: want a duration such as 10m (0 kills at once)", s), http.StatusBadRequest)
				return
			}
			deadline = d
		}
		if res, ok := answer[*messages.OperatorAccepted](w, r, ask, &messages.DrainAgent{
			AgentId: &messages.AgentID{Value: r.PathValue("id")}, DeadlineNanos: int64(deadline)}); ok {
			writeJSON(w, res)
		}
	})
	mux.HandleFunc("POST /agents/{id}/reactivate", func(w http.ResponseWriter, r *http.Request) {
		if res, ok := answer[*messages.OperatorAccepted](w, r, ask, &messages.ReactivateAgent{AgentId: &messages.AgentID{Value: r.PathValue("id")}}); ok {
			writeJSON(w, res)
		}
	})
	mux.HandleFunc("POST /agents/{id}/remove", func(w http.ResponseWriter, r *http.Request) {
		if res, ok := answer[*messages.OperatorAccepted](w, r, ask, &messages.RemoveAgent{AgentId: &messages.AgentID{Value: r.PathValue("id")}}); ok {
			writeJSON(w, res)
		}
	})
	mux.HandleFunc("GET /maintenance/schedule", func(w http.ResponseWriter, r *http.Request) {
		if res, ok := answer[*messages.MaintenanceSchedule](w, r, ask, &messages.GetMaintenanceSchedule{}); ok {
			writeJSON(w, res)
		}
	})
	mux.HandleFunc("POST /maintenance/schedule", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxScheduleBytes))
		if err != nil {
			http.Error(w, fmt.Sprintf("schedule: %v (at most %d bytes)", err, MaxScheduleBytes), http.StatusRequestEntityTooLarge)
			return
		}
		s := &messages.MaintenanceSchedule{}
		if err := protojson.Unmarshal(body, s); err != nil {
			http.Error(w, `schedule: not a MaintenanceSchedule as JSON ({"windows": [{"machines": ["host"], "start_unix_nano": N, "duration_nanos": N}]}): `+err.Error(), http.StatusBadRequest)
			return
		}
		if res, ok := answer[*messages.OperatorAccepted](w, r, ask, &messages.UpdateMaintenanceSchedule{Schedule: s}); ok {
			writeJSON(w, res)
		}
	})
	reserve := func(unreserve bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
				return
			}
			rs, err := messages.ParseResources(r.Form.Get("resources"))
			if err != nil || len(rs) == 0 {
				http.Error(w, fmt.Sprintf("resources %q: want resources reserved for a role, such as cpus(prod):2;mem(prod):1024 (%v)", r.Form.Get("resources"), err), http.StatusBadRequest)
				return
			}
			req := &messages.OperatorReserve{AgentId: &messages.AgentID{Value: r.Form.Get("agentId")}, Resources: rs, Unreserve: unreserve}
			for _, l := range r.Form["label"] {
				k, v, ok := strings.Cut(l, ":")
				if !ok || k == "" {
					http.Error(w, fmt.Sprintf("label %q: want key:value", l), http.StatusBadRequest)
					return
				}
				if req.Labels == nil {
					req.Labels = map[string]string{}
				}
				req.Labels[k] = v
			}
			if res, ok := answer[*messages.OperatorAccepted](w, r, ask, req); ok {
				writeJSON(w, res)
			}
		}
	}
	mux.HandleFunc("POST /reserve", reserve(false))
	mux.HandleFunc("POST /unreserve", reserve(true))
	volumes := func(destroy bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
				return
			}
			role := r.Form.Get("role")
			if role == "" || len(r.Form["volume"]) == 0 {
				http.Error(w, "name the role and at least one volume: role=prod volume=ID:PATH:MIB (db:data:512)", http.StatusBadRequest)
				return
			}
			req := &messages.OperatorVolumes{AgentId: &messages.AgentID{Value: r.Form.Get("agentId")}, Destroy: destroy}
			shared := false
			if s := r.Form.Get("shared"); s != "" {
				var err error
				if shared, err = strconv.ParseBool(s); err != nil {
					http.Error(w, fmt.Sprintf("shared %q: want true or false", s), http.StatusBadRequest)
					return
				}
			}
			for _, s := range r.Form["volume"] {
				v, err := messages.ParseVolume(s, role)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				// Shared volumes (Mesos' Resource.shared): tasks of the
				// role use them at once.
				v.Shared = shared
				req.Volumes = append(req.Volumes, v)
			}
			if res, ok := answer[*messages.OperatorAccepted](w, r, ask, req); ok {
				writeJSON(w, res)
			}
		}
	}
	mux.HandleFunc("POST /create-volumes", volumes(false))
	mux.HandleFunc("POST /destroy-volumes", volumes(true))
	return mux
}

// MaxScheduleBytes bounds a maintenance schedule sent over HTTP: room for
// core.MaxMaintenanceMachines machines of ordinary hostnames.
const MaxScheduleBytes = 2 << 20

// answer asks the master and writes a refusal as its HTTP status; ok is
// false when it did.
func answer[T any](w http.ResponseWriter, r *http.Request, ask AskFunc, req proto.Message) (T, bool) {
	var zero T
	if ask == nil {
		http.Error(w, "this master takes no operations", http.StatusNotImplemented)
		return zero, false
	}
	res, err := ask(r.Context(), req)
	if err != nil {
		http.Error(w, "the master did not answer: "+err.Error(), http.StatusServiceUnavailable)
		return zero, false
	}
	switch res := res.(type) {
	case T:
		return res, true
	case *messages.Error:
		http.Error(w, res.Message, ErrorStatus(res.Code))
	default:
		http.Error(w, fmt.Sprintf("unexpected answer %T from the master", res), http.StatusInternalServerError)
	}
	return zero, false
}

// ErrorStatus is the HTTP status of a master's refusal.
func ErrorStatus(code messages.Error_Code) int {
	switch code {
	case messages.Error_PERMISSION_DENIED:
		return http.StatusForbidden
	case messages.Error_UNKNOWN_AGENT, messages.Error_UNKNOWN_FRAMEWORK, messages.Error_UNKNOWN_TASK, messages.Error_UNKNOWN_OFFER:
		return http.StatusNotFound
	case messages.Error_NOT_LEADER, messages.Error_STALE_EPOCH:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

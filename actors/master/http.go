package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/actors/master/webui"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxStateWait bounds a /state long poll.
const maxStateWait = 60 * time.Second

// HTTPHandler serves the master's operator API from published snapshots:
//
//	GET /state            the cluster state as JSON (proto field names);
//	                      gzip-compressed for a client that accepts it,
//	                      with an ETag per snapshot (If-None-Match: 304)
//	GET /state?since=N&wait=D
//	                      long poll: wait up to D for a snapshot newer than
//	                      snapshot_unix_nano N, then answer as /state
//	GET /state/summary    the cluster in numbers, for dashboards: agents
//	                      counted, resources totalled, frameworks and
//	                      roles (no entry per agent or task); since and
//	                      wait as /state
//	GET /health           200 once the master serves state and health
//	                      says its actors answer, else 503 and why
//	GET /metrics          Prometheus metrics
//	GET /roles            the role configuration (weights, quotas)
//	PUT /weights/{role}   body: the weight, such as 2
//	PUT /quota/{role}     body: {"guarantee": "cpus:4;mem:4096", "limit": "cpus:8"}
//	DELETE /quota/{role}  remove the role's quota
//	GET /tasks/{task}?framework=F
//	                      where a live or recently finished task runs or
//	                      ran: the task and its agent (for its sandbox)
//	GET /acls             the access control list in force (update_acls)
//	PUT /acls             body: a new list, stored where the masters load
//	                      it from (Consul KV; update_acls)
//
// Reads never touch the master actor, so polling cannot slow it down;
// changes go to it through update (nil: changes are refused). health probes
// the master's actors (the master and the allocator: health.Check); nil
// answers from the snapshots alone. access decides who may read /state,
// /roles and /tasks (view_state); /health and /metrics stay open to every
// client the transport lets in, as monitoring polls them without a
// principal of the cluster (the metrics hold counts, not the cluster's
// tasks or roles).
func HTTPHandler(pub *Publisher, gatherer prometheus.Gatherer, update UpdateRoleFunc, lookup TaskLookupFunc, health HealthFunc, access *HTTPAccess) http.Handler {
	mux := http.NewServeMux()
	access.handleACLs(mux)
	mux.HandleFunc("GET /tasks/{task}", func(w http.ResponseWriter, r *http.Request) {
		if !access.allows(w, r, acl.ViewState) {
			return
		}
		if lookup == nil {
			http.Error(w, "this master does not look tasks up", http.StatusNotImplemented)
			return
		}
		loc, err := lookup(r.Context(), &messages.GetTask{
			FrameworkId: &messages.FrameworkID{Value: r.URL.Query().Get("framework")}, TaskId: &messages.TaskID{Value: r.PathValue("task")},
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		writeJSON(w, loc)
	})
	mux.HandleFunc("GET /roles", func(w http.ResponseWriter, r *http.Request) {
		if !access.allows(w, r, acl.ViewState) {
			return
		}
		snap := pub.Latest()
		if snap == nil {
			http.Error(w, "master starting: no state yet, retry shortly", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, snap.State.GetRoles())
	})
	change := func(w http.ResponseWriter, r *http.Request, u *messages.UpdateRole) {
		if update == nil {
			http.Error(w, "this master does not take changes", http.StatusNotImplemented)
			return
		}
		cfg, err := update(r.Context(), u)
		if err != nil {
			status := http.StatusBadRequest
			var refused *Refused
			if errors.As(err, &refused) {
				switch refused.Code {
				case messages.Error_PERMISSION_DENIED:
					status = http.StatusForbidden
				case messages.Error_LIMIT_EXCEEDED:
					status = http.StatusTooManyRequests
				}
			}
			http.Error(w, err.Error(), status)
			return
		}
		writeJSON(w, cfg)
	}
	mux.HandleFunc("PUT /weights/{role...}", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r, 1<<10)
		if !ok || !validRole(w, r.PathValue("role")) {
			return
		}
		weight, err := strconv.ParseFloat(strings.TrimSpace(string(body)), 64)
		if err != nil {
			http.Error(w, "body must be the weight, a positive number such as 2", http.StatusBadRequest)
			return
		}
		change(w, r, &messages.UpdateRole{Role: r.PathValue("role"), Weight: &weight})
	})
	mux.HandleFunc("PUT /quota/{role...}", func(w http.ResponseWriter, r *http.Request) {
		raw, ok := readBody(w, r, 1<<16)
		if !ok || !validRole(w, r.PathValue("role")) {
			return
		}
		var body struct{ Guarantee, Limit string }
		if err := json.Unmarshal(raw, &body); err != nil {
			http.Error(w, `body must be JSON: {"guarantee": "cpus:4;mem:4096", "limit": "cpus:8"}`, http.StatusBadRequest)
			return
		}
		g, err := messages.ParseResources(body.Guarantee)
		if err != nil {
			http.Error(w, messages.Error_INVALID_ARGUMENT.String()+": guarantee: "+err.Error(), http.StatusBadRequest)
			return
		}
		l, err := messages.ParseResources(body.Limit)
		if err != nil {
			http.Error(w, messages.Error_INVALID_ARGUMENT.String()+": limit: "+err.Error(), http.StatusBadRequest)
			return
		}
		change(w, r, &messages.UpdateRole{Role: r.PathValue("role"), Quota: &messages.RoleQuota{Guarantee: g, Limit: l}})
	})
	mux.HandleFunc("DELETE /quota/{role...}", func(w http.ResponseWriter, r *http.Request) {
		if !validRole(w, r.PathValue("role")) {
			return
		}
		change(w, r, &messages.UpdateRole{Role: r.PathValue("role"), ClearQuota: true})
	})
	// /state answers from Serving (past 256 KiB a reader need not wait
	// for the newest render); /state/summary always from the newest
	// snapshot: its summary is a pass over the agents and about 2 KB of
	// JSON per framework, which the first reader renders for all (never
	// the master actor).
	mux.HandleFunc("GET /state", readState(pub, access, pub.Serving, false))
	mux.HandleFunc("GET /state/summary", readState(pub, access, func(bool) *Snapshot { return pub.Latest() }, true))
	mux.HandleFunc("GET /events/state", serveStateEvents(pub, access, new(atomic.Int64)))
	// The web UI reads only what its stream and /tasks give it, so it
	// needs no guard of its own.
	mux.Handle("GET /ui/", webui.Handler("/ui/"))
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if pub.Latest() == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		if health != nil {
			if err := health(r.Context()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

// Refused is the master's Error answer to a request, as an error: its
// text leads with the code (LIMIT_EXCEEDED: ...), so that a client sees
// which kind of refusal it got.
type Refused struct {
	Code    messages.Error_Code
	Message string
}

func (e *Refused) Error() string { return e.Code.String() + ": " + e.Message }

// readBody reads a request's body whole, at most limit bytes: a body cut
// short (the client stalled past the server's read timeout, or closed
// early) or too large is refused, and nothing of it is applied.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		http.Error(w, fmt.Sprintf("body over %d bytes: refused", limit), http.StatusRequestEntityTooLarge)
		return nil, false
	case err != nil:
		http.Error(w, "body not read whole ("+err.Error()+"): nothing applied", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// validRole refuses a malformed role name before it reaches the master.
func validRole(w http.ResponseWriter, role string) bool {
	if err := messages.ValidateRoleName(role); err != nil {
		http.Error(w, messages.Error_INVALID_ARGUMENT.String()+": "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// UpdateRoleFunc carries a role change to the master and returns the new
// configuration, or why it was refused.
type UpdateRoleFunc func(ctx context.Context, u *messages.UpdateRole) (*messages.RoleConfig, error)

// HealthFunc says why the master cannot serve (an actor of it stopped, or
// is stuck), or nil.
type HealthFunc func(ctx context.Context) error

// TaskLookupFunc asks the master actor where a task is.
type TaskLookupFunc func(ctx context.Context, q *messages.GetTask) (*messages.TaskLocation, error)

func writeJSON(w http.ResponseWriter, m proto.Message) {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true, Indent: "  "}.Marshal(m)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// serveSnapshot answers with snap's JSON, rendered once per snapshot and,
// for a client that accepts gzip, compressed once per snapshot: at 10,000
// agents the JSON is 10 MB, and twenty pollers would otherwise each make
// the master encrypt (TLS) and write all of it. A client that already has
// the snapshot (If-None-Match naming its ETag, of either encoding) gets 304
// and no body. The JSON is the same bytes whichever way it travels.
func serveSnapshot(w http.ResponseWriter, r *http.Request, snap *Snapshot, summary bool) {
	v := view{summary: summary, gzip: acceptsGzip(r.Header.Values("Accept-Encoding"))}
	h := w.Header()
	// The body depends on Accept-Encoding: a cache must not give a client
	// that cannot decompress the gzip body stored for another.
	h.Add("Vary", "Accept-Encoding")
	// A snapshot is superseded within a second on a busy cluster: a cache
	// may keep one but must ask (If-None-Match) before using it.
	h.Set("Cache-Control", "no-cache")
	if tag, ok := noneMatch(r.Header.Get("If-None-Match"), snap.etag(v), snap.etag(view{summary: summary, gzip: !v.gzip})); ok {
		h.Set("ETag", tag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := snap.body(v)
	if v.gzip {
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", snap.etag(v))
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// noneMatch reports which of tags an If-None-Match header names (weak
// comparison, as RFC 9110 13.1.2 has it for GET), or the first for "*".
func noneMatch(header string, tags ...string) (string, bool) {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" {
			return tags[0], true
		}
		for _, tag := range tags {
			if t == tag {
				return tag, true
			}
		}
	}
	return "", false
}

// acceptsGzip reports whether Accept-Encoding header values accept gzip
// (RFC 9110 12.5.3): named, or covered by "*", with a q-value above 0.
// x-gzip is gzip's old alias.
func acceptsGzip(values []string) bool {
	gzip, star := -1.0, -1.0
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(item, ";")
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					} else {
						q = 0 // a q-value we cannot read: do not guess
					}
				}
			}
			switch name = strings.TrimSpace(name); {
			case strings.EqualFold(name, "gzip"), strings.EqualFold(name, "x-gzip"):
				gzip = max(gzip, q)
			case name == "*":
				star = max(star, q)
			}
		}
	}
	if gzip >= 0 {
		return gzip > 0
	}
	return star > 0
}

// readState serves a view of the published snapshots: serving picks
// the snapshot of a plain read.
func readState(pub *Publisher, access *HTTPAccess, serving func(gz bool) *Snapshot, summary bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !access.allows(w, r, acl.ViewState) {
			return
		}
		if r.URL.Query().Get("wait") != "" {
			// A long poll outlasts the server's write timeout: give it its
			// wait and the time an answer takes.
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(maxStateWait + time.Minute))
		}
		snap, err := waitSnapshot(r, serving, pub)
		if err != "" {
			http.Error(w, err, http.StatusBadRequest)
			return
		}
		if snap == nil {
			http.Error(w, "master starting: no state yet, retry shortly", http.StatusServiceUnavailable)
			return
		}
		if !summary {
			// A long poll's snapshot is encoded here if not yet: recorded,
			// so that no later plain read is answered with an older one.
			pub.encodedNow(snap, acceptsGzip(r.Header.Values("Accept-Encoding")))
		}
		serveSnapshot(w, r, snap, summary)
	}
}

// waitSnapshot is the snapshot a read of r is answered with: for a long
// poll (since=N&wait=D) the first newer than N, or the newest when D is
// over; otherwise serving's.
func waitSnapshot(r *http.Request, serving func(gz bool) *Snapshot, pub *Publisher) (*Snapshot, string) {
	q := r.URL.Query()
	if q.Get("since") == "" {
		return serving(acceptsGzip(r.Header.Values("Accept-Encoding"))), ""
	}
	since, err := strconv.ParseInt(q.Get("since"), 10, 64)
	if err != nil {
		return nil, "since must be a snapshot_unix_nano integer"
	}
	wait := 10 * time.Second
	if s := q.Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil || wait < 0 {
			return nil, "wait must be a duration such as 5s"
		}
	}
	wait = min(wait, maxStateWait)
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		changed := pub.Changed()
		if s := pub.Latest(); s != nil && s.State.SnapshotUnixNano > since {
			return s, ""
		}
		select {
		case <-changed:
		case <-timeout.C:
			return pub.Latest(), ""
		case <-r.Context().Done():
			return pub.Latest(), ""
		}
	}
}

package master

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/cluster/filewatch"
	"github.com/agora-sched/agora/cluster/security"
)

// HTTPAccess is who may read through the master's HTTP API, and the API
// to the access control list itself. The zero value (or nil) allows every
// authenticated client to read, and serves no /acls.
//
// Reads are checked here, against the list in force, rather than in the
// core: they are served from snapshots and never reach the master actor.
// Changes (weights, quotas) go to the actor and are checked by the core.
type HTTPAccess struct {
	// ACLs is the list in force (nil, or a nil list: none configured,
	// everything allowed). Called on every request; it must not block.
	ACLs func() *acl.List
	// Metrics counts refusals in agora_permission_denied_total (nil: not
	// counted).
	Metrics *Metrics
	// Logger logs refusals (nil: slog.Default).
	Logger *slog.Logger
	// Text is the list in force as its source holds it, and where that is
	// (a file, a Consul key; "" and nil: no list is loaded), for GET /acls.
	Text func() (text []byte, source string)
	// Set stores a new list where the masters load it from (Consul KV),
	// or says why this master cannot (a file: edit it on every master).
	// nil refuses every PUT /acls.
	Set func(ctx context.Context, text []byte) error
}

// allows checks action for the request's client; on refusal it answers
// 403 with why, logs and counts it.
func (a *HTTPAccess) allows(w http.ResponseWriter, r *http.Request, action acl.Action) bool {
	if a == nil || a.ACLs == nil {
		return true
	}
	id, _ := security.IdentityFrom(r.Context())
	if a.ACLs().Allows(id.Principal(), action, "") {
		return true
	}
	logger := a.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Warn("HTTP request refused: permission denied", "client", id.String(), "method", r.Method, "path", r.URL.Path, "action", action)
	if a.Metrics != nil {
		a.Metrics.Count(core.PermissionDenied, string(action), 1)
	}
	who := fmt.Sprintf("principal %q", id.Principal())
	if id.Principal() == "" {
		who = "an unauthenticated client"
	}
	http.Error(w, fmt.Sprintf("permission denied: %s may not %s (access control list: %s)", who, actionText[action], action), http.StatusForbidden)
	return false
}

// Allows is allows for the master's APIs served outside this package
// (Mesos' operator API): the same check, answer, log and count.
func (a *HTTPAccess) Allows(w http.ResponseWriter, r *http.Request, action acl.Action) bool {
	return a.allows(w, r, action)
}

var actionText = map[acl.Action]string{
	acl.ViewState:  "read the cluster's state",
	acl.UpdateACLs: "read or replace the access control list",
}

// handleACLs serves GET and PUT /acls.
func (a *HTTPAccess) handleACLs(mux *http.ServeMux) {
	mux.HandleFunc("GET /acls", func(w http.ResponseWriter, r *http.Request) {
		if a == nil || a.Text == nil {
			http.Error(w, "this master loads no access control list (start it with --acls FILE, or --acls consul with --election)", http.StatusNotFound)
			return
		}
		if !a.allows(w, r, acl.UpdateACLs) {
			return
		}
		text, source := a.Text()
		if source == "" {
			http.Error(w, "this master loads no access control list (start it with --acls FILE, or --acls consul with --election)", http.StatusNotFound)
			return
		}
		if len(text) == 0 {
			http.Error(w, fmt.Sprintf("no access control list is stored yet (%s): everything is allowed; store one with agora acls set FILE", source), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Agora-ACL-Source", source)
		_, _ = w.Write(text)
	})
	mux.HandleFunc("PUT /acls", func(w http.ResponseWriter, r *http.Request) {
		if a == nil || a.Set == nil {
			http.Error(w, "this master loads no access control list it can store (start masters with --acls consul and --election)", http.StatusConflict)
			return
		}
		id, _ := security.IdentityFrom(r.Context())
		if id.Authenticated() && id.Role != security.RoleOperator {
			if a.Metrics != nil {
				a.Metrics.Count(core.PermissionDenied, core.DeniedIdentity, 1)
			}
			http.Error(w, fmt.Sprintf("permission denied: only operators replace the access control list; this client is %s", id), http.StatusForbidden)
			return
		}
		if !a.allows(w, r, acl.UpdateACLs) {
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, filewatch.MaxSize+1))
		if err != nil || len(body) > filewatch.MaxSize {
			http.Error(w, fmt.Sprintf("the body must be the list, at most %d bytes, sent whole", filewatch.MaxSize), http.StatusBadRequest)
			return
		}
		if _, err := acl.Parse(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := a.Set(r.Context(), body); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		_, _ = w.Write([]byte("access control list stored; every master applies it as it sees it change\n"))
	})
}

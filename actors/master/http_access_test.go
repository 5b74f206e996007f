package master

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/prometheus/client_golang/prometheus"
)

// With a list, reading the state takes view_state (issue 14: ACLs decide
// who may read state); /health and /metrics stay open for monitoring. The
// list is read on every request, so a new one applies at once.
func TestHTTPReadsNeedViewState(t *testing.T) {
	pub := &Publisher{}
	pub.publish(&messages.MasterState{Master: &messages.MasterInfo{Id: "m1"}, SnapshotUnixNano: 1})
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	list, err := acl.Parse([]byte(`{"view_state": [{"principals": ["alice"]}], "update_acls": [{"principals": ["ops"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	access := &HTTPAccess{ACLs: func() *acl.List { return list }, Metrics: m,
		Text: func() ([]byte, string) { return []byte("the list"), "file /etc/agora/acls.json" },
		Set:  func(_ context.Context, b []byte) error { stored = b; return nil }}
	h := HTTPHandler(pub, reg, nil, nil, nil, access)
	// As RequireIdentity does: the client's identity in the context.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, name, _ := strings.Cut(r.Header.Get("X-Test-Identity"), "/")
		h.ServeHTTP(w, r.WithContext(security.WithIdentity(r.Context(), security.Identity{Role: security.Role(role), Name: name})))
	}))
	defer srv.Close()
	do := func(method, path, who, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-Test-Identity", who)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/state", "/state/summary", "/roles", "/tasks/t1?framework=f"} {
		if code, body := do("GET", path, "operator/bob", ""); code != http.StatusForbidden || !strings.Contains(body, `principal "bob" may not read the cluster's state (access control list: view_state)`) {
			t.Errorf("bob GET %s: %d %q; want 403 naming view_state", path, code, body)
		}
	}
	if code, _ := do("GET", "/state", "operator/alice", ""); code != http.StatusOK {
		t.Errorf("alice GET /state: %d", code)
	}
	for _, path := range []string{"/health", "/metrics"} {
		if code, _ := do("GET", path, "operator/bob", ""); code != http.StatusOK {
			t.Errorf("bob GET %s: %d; monitoring paths stay open", path, code)
		}
	}
	if _, body := do("GET", "/metrics", "operator/bob", ""); !strings.Contains(body, `agora_permission_denied_total{action="view_state"} 4`) {
		t.Errorf("view_state refusals not counted 4 times:\n%s", body)
	}

	// The list itself: update_acls to read or replace it, an operator's
	// certificate to replace it, and only a valid list is stored.
	if code, _ := do("GET", "/acls", "operator/alice", ""); code != http.StatusForbidden {
		t.Errorf("alice GET /acls: %d", code)
	}
	if code, body := do("GET", "/acls", "operator/ops", ""); code != http.StatusOK || body != "the list" {
		t.Errorf("ops GET /acls: %d %q", code, body)
	}
	if code, _ := do("PUT", "/acls", "framework/ops", `{"view_state": [{"principals": ["*"]}]}`); code != http.StatusForbidden || stored != nil {
		t.Errorf("a framework certificate replaced the list: %d", code)
	}
	if code, body := do("PUT", "/acls", "operator/ops", `{"view_state": [{}]}`); code != http.StatusBadRequest || !strings.Contains(body, "names no principals") || stored != nil {
		t.Errorf("an invalid list: %d %q", code, body)
	}
	if code, _ := do("PUT", "/acls", "operator/ops", `{"view_state": [{"principals": ["*"]}]}`); code != http.StatusOK || string(stored) != `{"view_state": [{"principals": ["*"]}]}` {
		t.Errorf("ops PUT /acls: %d, stored %q", code, stored)
	}

	// A new list applies to the next request.
	list, _ = acl.Parse(stored)
	if code, _ := do("GET", "/state", "operator/bob", ""); code != http.StatusOK {
		t.Errorf("bob GET /state under the new list: %d", code)
	}
	list = nil // none configured: everything allowed
	if code, _ := do("GET", "/roles", "operator/bob", ""); code != http.StatusOK {
		t.Errorf("bob GET /roles with no list: %d", code)
	}
}

// The ACL comes before the cache: a principal refused view_state gets 403
// even naming the current snapshot's ETag (a 304 would confirm what the
// state is) or asking for the gzip encoding already made.
func TestStateCacheAfterViewState(t *testing.T) {
	pub := &Publisher{}
	pub.publish(&messages.MasterState{Master: &messages.MasterInfo{Id: "m1"}, SnapshotUnixNano: 1})
	reg := prometheus.NewRegistry()
	list, err := acl.Parse([]byte(`{"view_state": [{"principals": ["alice"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	h := HTTPHandler(pub, reg, nil, nil, nil, &HTTPAccess{ACLs: func() *acl.List { return list }, Metrics: NewMetrics(reg)})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(security.WithIdentity(r.Context(), security.Identity{Role: security.RoleOperator, Name: r.Header.Get("X-Test-Name")})))
	}))
	defer srv.Close()
	tag := pub.Latest().ETag()
	_ = pub.Latest().Gzip() // the cache holds both encodings
	for _, who := range []string{"alice", "bob"} {
		for _, header := range [][2]string{{"If-None-Match", tag}, {"If-None-Match", pub.Latest().etag(view{gzip: true})}, {"Accept-Encoding", "gzip"}} {
			resp, body := rawGet(t, srv.URL+"/state", "X-Test-Name", who, header[0], header[1])
			switch {
			case who == "bob" && (resp.StatusCode != http.StatusForbidden || resp.Header.Get("ETag") != "" || resp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(body), "view_state")):
				t.Errorf("bob with %s: %s %v %q; want 403 and nothing of the state", header, resp.Status, resp.Header, body)
			case who == "alice" && resp.StatusCode != http.StatusNotModified && resp.StatusCode != http.StatusOK:
				t.Errorf("alice with %s: %s", header, resp.Status)
			}
		}
	}
}

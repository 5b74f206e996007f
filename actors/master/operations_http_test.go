package master

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// POST /create-volumes and /destroy-volumes (Mesos' operator endpoints,
// agora volumes) ask the master for OperatorVolumes of one role; a
// malformed volume is refused before the master is asked.
func TestVolumeEndpoints(t *testing.T) {
	var asked []proto.Message
	h := WithOperations(http.NotFoundHandler(), func(_ context.Context, req proto.Message) (any, error) {
		asked = append(asked, req)
		return &messages.OperatorAccepted{Message: "ok"}, nil
	})
	post := func(path string, form url.Values) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := post("/create-volumes", url.Values{"agentId": {"A1"}, "role": {"prod"}, "volume": {"db:data:512", "logs:logs:64"}})
	if w.Code != http.StatusOK || len(asked) != 1 {
		t.Fatalf("create: %d %s, asked %v", w.Code, w.Body, asked)
	}
	want := &messages.OperatorVolumes{AgentId: &messages.AgentID{Value: "A1"}, Volumes: []*messages.Resource{
		{Name: "disk", Scalar: 512, Role: "prod", Disk: &messages.DiskInfo{PersistenceId: "db", ContainerPath: "data"}},
		{Name: "disk", Scalar: 64, Role: "prod", Disk: &messages.DiskInfo{PersistenceId: "logs", ContainerPath: "logs"}}}}
	if !proto.Equal(asked[0], want) {
		t.Fatalf("create asked %v, want %v", asked[0], want)
	}
	if w := post("/destroy-volumes", url.Values{"agentId": {"A1"}, "role": {"prod"}, "volume": {"db:data:512"}}); w.Code != http.StatusOK || !asked[1].(*messages.OperatorVolumes).Destroy {
		t.Fatalf("destroy: %d %s, asked %v", w.Code, w.Body, asked[1])
	}
	for _, form := range []url.Values{
		{"agentId": {"A1"}, "volume": {"db:data:512"}},                     // no role
		{"agentId": {"A1"}, "role": {"prod"}},                              // no volume
		{"agentId": {"A1"}, "role": {"prod"}, "volume": {"db:/etc:512"}},   // outside the sandbox
		{"agentId": {"A1"}, "role": {"prod"}, "volume": {"db:data:lots"}},  // no size
		{"agentId": {"A1"}, "role": {"prod"}, "volume": {"../x:data:512"}}, // not a directory name
	} {
		if w := post("/create-volumes", form); w.Code != http.StatusBadRequest {
			t.Errorf("create %v: %d %s; want 400", form, w.Code, w.Body)
		}
	}
	if len(asked) != 2 {
		t.Fatalf("malformed requests reached the master: %v", asked[2:])
	}
}

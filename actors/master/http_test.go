package master

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestHTTPServesSnapshotsWithoutTheActor(t *testing.T) {
	pub := &Publisher{}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.agents.WithLabelValues("reachable").Set(3)
	srv := httptest.NewServer(HTTPHandler(pub, reg, nil, nil, nil, nil))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/health"); code != http.StatusServiceUnavailable {
		t.Fatalf("health before any snapshot: %d", code)
	}
	if code, _ := get("/state"); code != http.StatusServiceUnavailable {
		t.Fatalf("state before any snapshot: %d", code)
	}
	pub.publish(&messages.MasterState{Master: &messages.MasterInfo{Id: "m1"}, SnapshotUnixNano: 1})
	masterID := func(body string) string {
		st := &messages.MasterState{}
		if err := protojson.Unmarshal([]byte(body), st); err != nil {
			t.Fatalf("bad JSON: %v\n%s", err, body)
		}
		return st.GetMaster().GetId()
	}
	if code, body := get("/state"); code != 200 || masterID(body) != "m1" {
		t.Fatalf("state: %d %s", code, body)
	}
	// Long poll: answers once a newer snapshot is published.
	done := make(chan string)
	go func() { _, body := get("/state?since=1&wait=30s"); done <- body }()
	select {
	case body := <-done:
		t.Fatalf("long poll answered before a newer snapshot: %s", body)
	case <-time.After(50 * time.Millisecond):
	}
	pub.publish(&messages.MasterState{Master: &messages.MasterInfo{Id: "m2"}, SnapshotUnixNano: 2})
	if body := <-done; masterID(body) != "m2" {
		t.Fatalf("long poll: %s", body)
	}
	if code, _ := get("/state?since=x"); code != http.StatusBadRequest {
		t.Fatalf("bad since: %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `agora_master_agents{state="reachable"} 3`) {
		t.Fatalf("metrics: %d\n%s", code, body)
	}
	if code, body := get("/health"); code != 200 || body != "ok\n" {
		t.Fatalf("health: %d %q", code, body)
	}
}

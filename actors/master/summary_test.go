package master

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agora-sched/agora/messages"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// summaryState is stateOf(n) with some agents lost and drained, a second
// framework and a role's usage, so that every count of the summary differs.
func summaryState(n int, at int64) *messages.MasterState {
	st := stateOf(n, at)
	for i, a := range st.Agents {
		switch {
		case i%10 == 0:
			a.Reachable = false
		case i%10 == 1:
			a.Drain = &messages.DrainInfo{State: messages.DrainInfo_DRAINING}
		case i%10 == 2:
			a.Reachable = false
			a.Drain = &messages.DrainInfo{State: messages.DrainInfo_DRAINED}
		}
	}
	st.Frameworks = append(st.Frameworks, &messages.FrameworkState{Info: &messages.FrameworkInfo{Name: "batch"}, Connected: true,
		Tasks: map[string]uint32{"TASK_RUNNING": 7, "TASK_STAGING": 3}, Offered: []*messages.Resource{{Name: "cpus", Scalar: 2}}})
	st.RoleUsage = []*messages.RoleUsage{{Role: "eng", Weight: 2, Tasks: 10, Used: []*messages.Resource{{Name: "cpus", Scalar: 5}}}}
	return st
}

// /state/summary counts and totals the agents and keeps the frameworks and
// roles as /state has them; its size does not grow with the agents, and it
// has ETags of its own (gzip too), long polls and 304s as /state.
func TestStateSummary(t *testing.T) {
	pub := &Publisher{}
	srv := httptest.NewServer(HTTPHandler(pub, prometheus.NewRegistry(), nil, nil, nil, nil))
	defer srv.Close()
	if resp, _ := rawGet(t, srv.URL+"/state/summary"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/state/summary before a snapshot: %s, want 503", resp.Status)
	}
	sizes := map[int]int{}
	for _, n := range []int{1000, 10000} {
		st := summaryState(n, int64(n))
		pub.publish(st)
		resp, body := rawGet(t, srv.URL+"/state/summary")
		var got messages.ClusterSummary
		if err := protojson.Unmarshal(body, &got); resp.StatusCode != 200 || err != nil {
			t.Fatalf("%d agents: GET /state/summary: %s, %v", n, resp.Status, err)
		}
		sizes[n] = len(body)
		want := &messages.AgentCounts{Registered: uint32(n), Reachable: uint32(n - n/5), Unreachable: uint32(n / 5), Draining: uint32(n / 10), Drained: uint32(n / 10)}
		if !proto.Equal(got.Agents, want) {
			t.Errorf("%d agents: counts %v, want %v", n, got.Agents, want)
		}
		if got.Tasks["TASK_RUNNING"] != uint64(5*n+7) || got.Tasks["TASK_STAGING"] != 3 || len(got.Tasks) != 2 {
			t.Errorf("%d agents: tasks %v, want TASK_RUNNING %d and TASK_STAGING 3", n, got.Tasks, 5*n+7)
		}
		// Capacity counts reachable agents only; used and offered all.
		capacity, used := map[string]float64{}, map[string]float64{}
		for _, r := range got.Totals.GetCapacity() {
			capacity[r.Name] = r.Scalar
		}
		for _, r := range got.Totals.GetUsed() {
			used[r.Name] = r.Scalar
		}
		if capacity["cpus"] != float64(32*(n-n/5)) || used["cpus"] != 0.5*float64(n) || len(got.Totals.GetOffered()) != 1 || got.Totals.Offered[0].Scalar != 2 {
			t.Errorf("%d agents: totals %v", n, got.Totals)
		}
		if len(got.Frameworks) != 2 || !proto.Equal(got.Frameworks[1], st.Frameworks[1]) || !proto.Equal(got.RoleUsage[0], st.RoleUsage[0]) ||
			got.GetMaster().GetId() != "m1" || !got.Leading || got.SnapshotUnixNano != int64(n) {
			t.Errorf("%d agents: frameworks, roles or master not as /state has them: %v", n, &got)
		}

		tag := resp.Header.Get("ETag")
		full, _ := rawGet(t, srv.URL+"/state")
		if tag != pub.Latest().etag(view{summary: true}) || tag == full.Header.Get("ETag") {
			t.Errorf("summary ETag %q, /state's %q: want the summary's own", tag, full.Header.Get("ETag"))
		}
		zipped, zbody := rawGet(t, srv.URL+"/state/summary", "Accept-Encoding", "gzip")
		if zipped.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(gunzip(t, zbody), body) || zipped.Header.Get("ETag") == tag {
			t.Errorf("summary accepting gzip: Content-Encoding %q, ETag %q", zipped.Header.Get("Content-Encoding"), zipped.Header.Get("ETag"))
		}
		for _, inm := range []string{tag, zipped.Header.Get("ETag")} {
			if resp, b := rawGet(t, srv.URL+"/state/summary", "If-None-Match", inm); resp.StatusCode != http.StatusNotModified || len(b) != 0 {
				t.Errorf("If-None-Match %s: %s", inm, resp.Status)
			}
		}
		if resp, _ := rawGet(t, srv.URL+"/state/summary", "If-None-Match", full.Header.Get("ETag")); resp.StatusCode != 200 {
			t.Errorf("If-None-Match with /state's tag: %s, want 200 (another representation)", resp.Status)
		}
	}
	if sizes[10000] > sizes[1000]+64 {
		t.Errorf("summary of 10,000 agents is %d B against %d B at 1,000: it grows with the agents", sizes[10000], sizes[1000])
	}

	// A long poll answers with the first newer snapshot.
	done := make(chan []byte, 1)
	go func() { _, b := rawGet(t, srv.URL+fmt.Sprintf("/state/summary?since=%d&wait=30s", 10000)); done <- b }()
	for i := int64(10001); ; i++ {
		select {
		case b := <-done:
			var got messages.ClusterSummary
			if err := protojson.Unmarshal(b, &got); err != nil || got.SnapshotUnixNano <= 10000 {
				t.Fatalf("long poll: snapshot %d (%v), want one newer than 10000", got.SnapshotUnixNano, err)
			}
			return
		default:
			pub.publish(summaryState(10, i))
		}
	}
}

package master

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
)

// stateStream reads the snapshots of GET /events/state as they come.
type stateStream struct {
	resp *http.Response
	r    *bufio.Reader
}

func openStateStream(tb testing.TB, url string) *stateStream {
	tb.Helper()
	resp, err := http.Get(url + "/events/state")
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		tb.Fatalf("stream: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	tb.Cleanup(func() { resp.Body.Close() })
	return &stateStream{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next state event's snapshot.
func (s *stateStream) next(tb testing.TB) *messages.MasterState {
	tb.Helper()
	event := ""
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			tb.Fatalf("stream ended: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "state":
			st := &messages.MasterState{}
			if err := protojson.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), st); err != nil {
				tb.Fatalf("event data is not a state: %v", err)
			}
			return st
		}
	}
}

// The stream sends the latest snapshot at once and each newer one as it is
// published; a subscriber that was not reading meanwhile gets the newest,
// not every one it missed.
func TestStateStreamPushesSnapshots(t *testing.T) {
	pub := &Publisher{}
	srv := httptest.NewServer(HTTPHandler(pub, prometheus.NewRegistry(), nil, nil, nil, nil))
	// A cleanup, not a defer: the stream (closed by its own cleanup, which
	// runs first) must end before Close, which waits for it.
	t.Cleanup(srv.Close)
	pub.publish(&messages.MasterState{Master: &messages.MasterInfo{Id: "m1"}, SnapshotUnixNano: 1})
	s := openStateStream(t, srv.URL)
	if st := s.next(t); st.Master.GetId() != "m1" {
		t.Fatalf("first event: %v", st.Master)
	}
	pub.publish(&messages.MasterState{Master: &messages.MasterInfo{Id: "m1"}, SnapshotUnixNano: 2, Agents: []*messages.AgentState{{Reachable: true}}})
	if st := s.next(t); st.SnapshotUnixNano != 2 || len(st.Agents) != 1 {
		t.Fatalf("second event: %v", st)
	}
	// Three snapshots while the reader is busy elsewhere: it reads the
	// second (published while it was writing the first, or the newest)
	// and never an older one than it read before.
	for i := int64(3); i <= 5; i++ {
		pub.publish(&messages.MasterState{Master: &messages.MasterInfo{Id: "m1"}, SnapshotUnixNano: i})
	}
	seen := []int64{}
	for len(seen) == 0 || seen[len(seen)-1] != 5 {
		seen = append(seen, s.next(t).SnapshotUnixNano)
	}
	if !slices.IsSorted(seen) || len(seen) > 3 {
		t.Fatalf("after 3, 4, 5 were published: read %v", seen)
	}
}

// nextID reads the stream up to the next state event's data and returns
// the event's id (the snapshot's time), without decoding the data: what
// a subscriber's own parsing costs is not the master's.
func (s *stateStream) nextID(tb testing.TB) string {
	tb.Helper()
	id := ""
	for {
		line, err := s.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue // the data line, longer than the buffer
		}
		if err != nil {
			tb.Fatalf("stream ended: %v", err)
		}
		switch {
		case strings.HasPrefix(string(line), "id: "):
			id = strings.TrimSpace(string(line[4:]))
		case len(line) == 1 && id != "":
			return id // the blank line that ends the event
		}
	}
}

// BenchmarkStateStream20Subscribers: one snapshot published to 20
// subscribed streams (the web UI's case); reports the time from publish
// until the last of them has read it whole (p50/p99 over the ops; the JSON
// is rendered once per snapshot, in the first stream's handler) and the
// bytes of one snapshot of a 10,000-agent state.
func BenchmarkStateStream20Subscribers(b *testing.B) {
	const subscribers, agents = 20, 10_000
	pub := &Publisher{}
	srv := httptest.NewServer(HTTPHandler(pub, prometheus.NewRegistry(), nil, nil, nil, nil))
	// A cleanup, not a defer: the streams (closed by their own cleanups,
	// which run first) must end before Close, which waits for them.
	b.Cleanup(srv.Close)
	state := func(n int64) *messages.MasterState {
		st := &messages.MasterState{Master: &messages.MasterInfo{Id: "m1"}, SnapshotUnixNano: n}
		for i := range agents {
			st.Agents = append(st.Agents, &messages.AgentState{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: fmt.Sprintf("m1-1-A%d", i)},
				Hostname: fmt.Sprintf("node-%d", i), Resources: []*messages.Resource{{Name: "cpus", Scalar: 16}, {Name: "mem", Scalar: 65536}}},
				Reachable: true, Used: []*messages.Resource{{Name: "cpus", Scalar: 8}}})
		}
		return st
	}
	pub.publish(state(1))
	streams := make([]*stateStream, subscribers)
	for i := range streams {
		streams[i] = openStateStream(b, srv.URL)
		streams[i].next(b)
	}
	var lat []time.Duration
	b.ResetTimer()
	for n := range b.N {
		st := state(int64(n) + 2)
		start := time.Now()
		pub.publish(st)
		var wg sync.WaitGroup
		for _, s := range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s.nextID(b) != fmt.Sprint(st.SnapshotUnixNano) {
				}
			}()
		}
		wg.Wait()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(pub.Latest().JSON())), "snapshot-bytes")
}

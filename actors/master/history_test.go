package master

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var h0 = time.Unix(1_700_000_000, 0)

// cluster builds a leader's snapshot at h0+at.
type cluster struct {
	st *messages.MasterState
}

func newCluster(epoch uint64) *cluster {
	return &cluster{st: &messages.MasterState{Master: &messages.MasterInfo{Id: "m1", Epoch: epoch}, Leading: true}}
}

func (c *cluster) agent(id string, cpus float64) *messages.AgentState {
	a := &messages.AgentState{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: id}, Hostname: "host-" + id,
		Resources: []*messages.Resource{{Name: "cpus", Scalar: cpus}, {Name: "mem", Scalar: 1024}}}, Reachable: true}
	c.st.Agents = append(c.st.Agents, a)
	return a
}

func (c *cluster) framework(id string) *messages.FrameworkState {
	f := &messages.FrameworkState{Info: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: id}, Name: "fw-" + id}, Connected: true}
	c.st.Frameworks = append(c.st.Frameworks, f)
	return f
}

// at returns a copy of the snapshot taken at h0+at: History keeps no
// snapshot, so later changes to the builder are new snapshots.
func (c *cluster) at(at time.Duration) *messages.MasterState {
	st := cloneState(c.st)
	st.SnapshotUnixNano = h0.Add(at).UnixNano()
	return st
}

func cloneState(st *messages.MasterState) *messages.MasterState {
	return proto.Clone(st).(*messages.MasterState)
}

func kinds(es []*messages.ClusterEvent) string {
	var out []string
	for _, e := range es {
		out = append(out, e.Kind.String()+" "+e.Subject)
	}
	return strings.Join(out, ", ")
}

// The timeline says what changed between snapshots: agents added, lost,
// back, drained and removed, frameworks added, torn down and removed,
// preemptions; a new term's snapshot is its baseline (one LEADER event),
// as what it holds re-registered, it did not arrive.
func TestTimelineFromSnapshots(t *testing.T) {
	c := newCluster(1)
	a1 := c.agent("a1", 4)
	c.framework("f1")
	c.st.RoleUsage = []*messages.RoleUsage{{Role: "eng"}}
	var h History
	h.Observe(c.at(0))
	if got := kinds(h.Events()); got != "LEADER m1" {
		t.Fatalf("first snapshot: %s, want only the leader's event", got)
	}
	step := time.Duration(0)
	expect := func(want string) {
		t.Helper()
		step += time.Second
		before := len(h.Events())
		h.Observe(c.at(step))
		if got := kinds(h.Events()[before:]); got != want {
			t.Fatalf("at %v: events %q, want %q", step, got, want)
		}
	}
	a2 := c.agent("a2", 4)
	expect("AGENT_ADDED host-a2")
	expect("") // nothing changed
	a2.Reachable = false
	expect("AGENT_UNREACHABLE host-a2")
	a2.Reachable = true
	expect("AGENT_REACHABLE host-a2")
	a1.Drain = &messages.DrainInfo{State: messages.DrainInfo_DRAINING, DeadlineUnixNano: h0.Add(time.Hour).UnixNano()}
	expect("AGENT_DRAINING host-a1")
	a1.Drain = &messages.DrainInfo{State: messages.DrainInfo_DRAINED}
	expect("AGENT_DRAINED host-a1")
	a1.Drain = nil
	expect("AGENT_REACTIVATED host-a1")
	c.st.Agents = c.st.Agents[:1]
	expect("AGENT_REMOVED host-a2")
	f2 := c.framework("f2")
	expect("FRAMEWORK_ADDED fw-f2")
	f2.Connected = false
	expect("FRAMEWORK_DISCONNECTED fw-f2")
	f2.TearingDown = true
	expect("FRAMEWORK_TEARING_DOWN fw-f2")
	c.st.Frameworks = c.st.Frameworks[:1]
	expect("FRAMEWORK_REMOVED fw-f2")
	c.st.RoleUsage[0].Preemptions = 3
	expect("PREEMPTION eng")
	if e := h.Events()[len(h.Events())-1]; e.Text != "role eng: 3 tasks preempted" || e.UnixNano != h0.Add(step).UnixNano() {
		t.Fatalf("preemption event: %v", e)
	}
	// A new term (a failover to this master): its snapshot is a baseline.
	c.st.Master.Epoch = 2
	c.agent("a3", 4)
	expect("LEADER m1")
	for i, e := range h.Events() {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: want them numbered in order", i, e.Seq)
		}
	}
	// A standby's snapshot says nothing of the cluster.
	c.st.Leading = false
	c.st.Agents = nil
	expect("")
}

// 10,000 agents registering at once are one event that counts them, and
// the timeline keeps its newest TimelineEvents.
func TestTimelineBounded(t *testing.T) {
	c := newCluster(1)
	var h History
	h.Observe(c.at(0))
	for i := range 10_000 {
		c.agent(fmt.Sprint("a", i), 1)
	}
	h.Observe(c.at(time.Second))
	ev := h.Events()
	if len(ev) != 2 || ev[1].Kind != messages.ClusterEvent_AGENT_ADDED || !strings.HasPrefix(ev[1].Text, "10000× agent registered") {
		t.Fatalf("burst: %s (%v)", kinds(ev), ev[len(ev)-1].Text)
	}
	c.st.Agents = c.st.Agents[:1]
	h.Observe(c.at(2 * time.Second))
	if ev := h.Events(); len(ev) != 3 || !strings.HasPrefix(ev[2].Text, "9999× agent removed") {
		t.Fatalf("9,999 agents removed: %s (%v)", kinds(ev), ev[len(ev)-1].Text)
	}
	for i := range TimelineEvents {
		c.st.Agents[0].Reachable = i%2 == 1
		h.Observe(c.at(time.Duration(3+i) * time.Second))
	}
	if ev := h.Events(); len(ev) != TimelineEvents || ev[len(ev)-1].Seq != uint64(TimelineEvents+3) {
		t.Fatalf("after %d more events: %d kept, last seq %d", TimelineEvents, len(ev), ev[len(ev)-1].Seq)
	}
}

// The history has one point per HistoryStep, the step's newest snapshot,
// for the last hour: what reachable agents have, tasks use, offers hold.
func TestHistoryPoints(t *testing.T) {
	c := newCluster(1)
	c.agent("a1", 4).Used = []*messages.Resource{{Name: "cpus", Scalar: 1}}
	gone := c.agent("a2", 8)
	gone.Reachable = false
	c.framework("f1").Offered = []*messages.Resource{{Name: "cpus", Scalar: 2}}
	c.st.RoleUsage = []*messages.RoleUsage{{Role: "eng", RevocableUsed: []*messages.Resource{{Name: "cpus", Scalar: 0.5}}}}
	var h History
	h.Observe(c.at(0))
	c.st.Agents[0].Used[0].Scalar = 3
	h.Observe(c.at(HistoryStep - time.Nanosecond)) // the same step: replaces
	p := h.Points()
	if len(p) != 1 || p[0].UnixNano != h0.UnixNano()-h0.UnixNano()%int64(HistoryStep) {
		t.Fatalf("points: %v", p)
	}
	want := "capacity:{name:\"cpus\" scalar:4} capacity:{name:\"mem\" scalar:1024} used:{name:\"cpus\" scalar:3} offered:{name:\"cpus\" scalar:2} revocable:{name:\"cpus\" scalar:0.5}"
	got := strings.Join(strings.Fields(strings.TrimPrefix(p[0].String(), fmt.Sprintf("unix_nano:%d", p[0].UnixNano))), " ")
	if got != strings.Join(strings.Fields(want), " ") {
		t.Fatalf("totals:\n got %s\nwant %s", got, want)
	}
	for i := 1; i <= 2*HistoryPoints; i++ {
		h.Observe(c.at(time.Duration(i) * HistoryStep))
	}
	p = h.Points()
	if len(p) != HistoryPoints || p[len(p)-1].UnixNano-p[0].UnixNano >= int64(HistoryPoints)*int64(HistoryStep) {
		t.Fatalf("after two hours: %d points over %v", len(p), time.Duration(p[len(p)-1].UnixNano-p[0].UnixNano))
	}
	// An hour without snapshots: the old points are past the hour, the
	// new one stays.
	h.Observe(c.at(5 * time.Hour))
	if p = h.Points(); len(p) != 1 {
		t.Fatalf("after a quiet hour: %d points, want the newest only", len(p))
	}
}

// A browser connecting to the state stream gets the history at once, then
// each change: the newest point and the events after what it has.
func TestStateStreamSendsHistory(t *testing.T) {
	pub := &Publisher{}
	ctx, cancel := context.WithCancel(context.Background())
	recording := make(chan struct{})
	go func() { defer close(recording); pub.Record(ctx) }()
	t.Cleanup(func() { cancel(); <-recording })
	srv := httptest.NewServer(HTTPHandler(pub, prometheus.NewRegistry(), nil, nil, nil, nil))
	t.Cleanup(srv.Close)
	c := newCluster(1)
	c.agent("a1", 4)
	pub.publish(c.at(0))
	s := openStateStream(t, srv.URL)
	first := s.nextHistory(t)
	if len(first.Points) != 1 || kinds(first.Events) != "LEADER m1" {
		t.Fatalf("on connect: %d points, events %s", len(first.Points), kinds(first.Events))
	}
	c.agent("a2", 4)
	pub.publish(c.at(time.Second))
	next := s.nextHistory(t)
	if len(next.Points) != 1 || next.Points[0].Capacity[0].Scalar != 8 || kinds(next.Events) != "AGENT_ADDED host-a2" || next.Events[0].Seq != 2 {
		t.Fatalf("after an agent registered: %v", next)
	}
}

// nextHistory returns the next history event of the stream.
func (s *stateStream) nextHistory(tb testing.TB) *messages.StateHistory {
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
		case strings.HasPrefix(line, "data: ") && event == "history":
			h := &messages.StateHistory{}
			if err := protojson.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), h); err != nil {
				tb.Fatalf("event data is not a history: %v", err)
			}
			return h
		}
	}
}

// BenchmarkHistoryObserve: the recorder's pass over one snapshot of
// 10,000 agents and 20 frameworks (totals and the timeline's comparison),
// nothing having changed.
func BenchmarkHistoryObserve(b *testing.B) {
	c := newCluster(1)
	for i := range 10_000 {
		c.agent(fmt.Sprint("a", i), 32).Used = []*messages.Resource{{Name: "cpus", Scalar: 1}}
	}
	for i := range 20 {
		c.framework(fmt.Sprint("f", i)).Offered = []*messages.Resource{{Name: "cpus", Scalar: 1}}
	}
	var h History
	h.Observe(c.at(0))
	b.ResetTimer()
	for i := range b.N {
		c.st.SnapshotUnixNano = h0.Add(time.Duration(i+1) * time.Second).UnixNano()
		h.Observe(c.st)
	}
}

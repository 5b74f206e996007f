package core

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

var t0 = time.Unix(1_700_000_000, 0)

func info(host string) *messages.AgentInfo {
	return &messages.AgentInfo{Hostname: host, Resources: []*messages.Resource{{Name: "cpus", Scalar: 2}}}
}

func TestRegisterAssignsFreshIDs(t *testing.T) {
	b := NewBooks("m1")
	a, _, err := b.register(info("h1"), Endpoint{"10.0.0.1:1", "agent"}, "s1", t0)
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := b.register(info("h1"), Endpoint{"10.0.0.1:1", "agent"}, "s2", t0) // same host again: a new agent (Mesos)
	if a != "m1-A1" || c != "m1-A2" {
		t.Fatalf("ids = %s, %s", a, c)
	}
	if b.AgentCount() != 2 || b.ReachableCount() != 2 {
		t.Fatalf("counts = %d/%d", b.AgentCount(), b.ReachableCount())
	}
}

// A registration the agent retried before the answer reached it (same
// session) is the same agent: one ID, not a ghost agent offered twice.
func TestRegisterRetryKeepsOneAgent(t *testing.T) {
	b := NewBooks("m1")
	a, retry1, _ := b.register(info("h1"), Endpoint{"10.0.0.1:1", "agent"}, "s1", t0)
	c, retry2, _ := b.register(info("h1"), Endpoint{"10.0.0.1:1", "agent"}, "s1", t0)
	if a != c || retry1 || !retry2 || b.AgentCount() != 1 {
		t.Fatalf("ids %s, %s (retry %v %v), %d agents: want one agent", a, c, retry1, retry2, b.AgentCount())
	}
}

func TestRegisterRejectsImpossibleAgents(t *testing.T) {
	for name, in := range map[string]*messages.AgentInfo{
		"nil info":       nil,
		"no hostname":    {Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}}},
		"negative cpus":  {Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: -1}}},
		"NaN mem":        {Hostname: "h", Resources: []*messages.Resource{{Name: "mem", Scalar: math.NaN()}}},
		"unnamed":        {Hostname: "h", Resources: []*messages.Resource{{Scalar: 1}}},
		"reversed range": {Hostname: "h", Resources: []*messages.Resource{{Name: "ports", Ranges: []*messages.Range{{Begin: 9, End: 1}}}}},
	} {
		b := NewBooks("m")
		if _, _, err := b.register(in, Endpoint{"a", "agent"}, "", t0); !errors.Is(err, ErrInvalidAgent) {
			t.Errorf("%s: err = %v, want ErrInvalidAgent", name, err)
		}
		if b.AgentCount() != 0 {
			t.Errorf("%s: a rejected agent was admitted", name)
		}
	}
}

func TestHeartbeatFromUnknownOrUnreachableAgent(t *testing.T) {
	b := NewBooks("m")
	if _, err := b.heartbeat("nope", t0); !errors.Is(err, ErrUnknownAgent) {
		t.Fatalf("unknown: %v", err)
	}
	id, _, _ := b.register(info("h"), Endpoint{"a", "agent"}, "", t0)
	if _, err := b.heartbeat(id, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if !b.markUnreachable(id, t0.Add(time.Minute)) || b.markUnreachable(id, t0.Add(time.Minute)) {
		t.Fatal("MarkUnreachable should report only the first transition")
	}
	if _, err := b.heartbeat(id, t0.Add(time.Minute)); !errors.Is(err, ErrUnknownAgent) {
		t.Fatalf("unreachable agent must re-register, got %v", err)
	}
	if b.ReachableCount() != 0 {
		t.Fatalf("reachable = %d", b.ReachableCount())
	}
}

func TestReregisterKeepsIDAndRestoresReachability(t *testing.T) {
	b := NewBooks("m")
	id, _, _ := b.register(info("h"), Endpoint{"a", "agent"}, "", t0)
	b.markUnreachable(id, t0.Add(time.Minute))
	in := info("h")
	in.Id = &messages.AgentID{Value: id}
	known, err := b.reregister(in, Endpoint{"b", "agent"}, "", t0.Add(2*time.Minute))
	if err != nil || !known {
		t.Fatalf("known=%v err=%v", known, err)
	}
	st := b.Agents()[0]
	if !st.Reachable || st.Address != "b" || st.Reregistrations != 1 || st.UnreachableUnixNano != 0 {
		t.Fatalf("state after re-registration: %v", st)
	}
	if b.ReachableCount() != 1 {
		t.Fatalf("reachable = %d", b.ReachableCount())
	}
	// An agent this master never saw (registered with an earlier leader).
	other := info("h2")
	other.Id = &messages.AgentID{Value: "old-A7"}
	if known, err := b.reregister(other, Endpoint{"c", "agent"}, "", t0); err != nil || known {
		t.Fatalf("foreign agent: known=%v err=%v", known, err)
	}
	if _, err := b.reregister(info("h3"), Endpoint{"d", "agent"}, "", t0); !errors.Is(err, ErrInvalidAgent) {
		t.Fatalf("re-registration without ID: %v", err)
	}
}

func TestHeartbeatIntervalScalesWithClusterSize(t *testing.T) {
	p := DefaultLiveness
	for _, tc := range []struct {
		agents int
		want   time.Duration
	}{
		{0, 5 * time.Second},
		{100, 5 * time.Second},
		{2500, 5 * time.Second},
		{10_000, 20 * time.Second},
		{50_000, 100 * time.Second},
	} {
		if got := p.HeartbeatInterval(tc.agents); got != tc.want {
			t.Errorf("%d agents: %v, want %v", tc.agents, got, tc.want)
		}
		// The point of auto: the master's heartbeat load stays bounded.
		if rate := float64(tc.agents) / p.HeartbeatInterval(tc.agents).Seconds(); rate > p.MaxRate {
			t.Errorf("%d agents: %.0f heartbeats/s exceeds %v", tc.agents, rate, p.MaxRate)
		}
	}
	if got := (LivenessPolicy{Interval: time.Second}).HeartbeatInterval(1e6); got != time.Second {
		t.Errorf("fixed interval ignored: %v", got)
	}
}

// A subscription the scheduler retried before the answer reached it (same
// session, still no ID) is the same framework, not a second one.
func TestSubscribeRetryKeepsOneFramework(t *testing.T) {
	b := NewBooks("m1")
	info := &messages.FrameworkInfo{Name: "f", Roles: []string{"r"}}
	a, known1, _ := b.subscribe(proto.Clone(info).(*messages.FrameworkInfo), "s1")
	c, known2, _ := b.subscribe(proto.Clone(info).(*messages.FrameworkInfo), "s1")
	d, _, _ := b.subscribe(proto.Clone(info).(*messages.FrameworkInfo), "s2")
	if a.id() != c.id() || known1 || !known2 || d.id() == a.id() || len(b.frameworks) != 2 {
		t.Fatalf("ids %s %s %s (known %v %v), %d frameworks", a.id(), c.id(), d.id(), known1, known2, len(b.frameworks))
	}
}

// Finished tasks stay findable (agora logs) up to CompletedTasks, oldest
// forgotten first.
func TestCompletedTasksAreBounded(t *testing.T) {
	b := NewBooks("m1")
	for i := 0; i < CompletedTasks+5; i++ {
		b.remember(&messages.Task{TaskId: &messages.TaskID{Value: fmt.Sprint("t", i)}, FrameworkId: &messages.FrameworkID{Value: "f"}})
	}
	if len(b.completed) != CompletedTasks || b.findTask("", "t0") != nil || b.findTask("f", fmt.Sprint("t", CompletedTasks+4)) == nil || b.findTask("g", "t7") != nil {
		t.Fatalf("ring of %d; t0 found %v", len(b.completed), b.findTask("", "t0") != nil)
	}
}

func TestOrderedWalksKeysInOrder(t *testing.T) {
	m := map[string]int{"c": 3, "a": 1, "b": 2}
	for i := 0; i < 10; i++ { // map order changes from walk to walk; this must not
		if got := ordered(m, strings.Compare); !slices.Equal(got, []int{1, 2, 3}) {
			t.Fatalf("ordered = %v", got)
		}
	}
	keys := map[taskKey]string{{"f2", "a"}: "f2a", {"f1", "b"}: "f1b", {"f1", "a"}: "f1a"}
	if got := ordered(keys, taskKey.compare); !slices.Equal(got, []string{"f1a", "f1b", "f2a"}) {
		t.Fatalf("ordered task keys = %v", got)
	}
}

// An agent announcing what the allocator would refuse (an amount beyond
// fixed point, found by FuzzCore) is refused, with the reason, and is not
// admitted: admitted, it would be in the master's books and not in the
// allocator's.
func TestAgentWithResourcesTheAllocatorRefusesIsRefused(t *testing.T) {
	c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}})
	c.Start(t0)
	// Built by hand: the text parser refuses the amount already.
	res := []*messages.Resource{{Name: messages.CPUs, Scalar: 1e300}, {Name: messages.Mem, Scalar: 1024}}
	r := c.RegisterAgent(Peer{Endpoint: Endpoint{"h:1", "a"}}, &messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: "a", Resources: res}}, t0)
	var refusal *messages.Error
	for _, e := range r.Effects {
		if s, ok := e.(Send); ok {
			if m, ok := s.Msg.(*messages.Error); ok {
				refusal = m
			}
		}
		if _, ok := e.(ToAllocator); ok {
			t.Fatalf("the allocator was told %v", e)
		}
	}
	if refusal == nil || refusal.Code != messages.Error_INVALID_ARGUMENT || !strings.Contains(refusal.Message, "cpus") {
		t.Fatalf("answer: %v", refusal)
	}
	if c.books.AgentCount() != 0 {
		t.Fatal("the agent was admitted")
	}
}

// A framework that filters every agent of a large cluster shows a bounded
// number of them in /state, the soonest to expire, and counts all (issue 16).
func TestPendingBoundsFilterExamples(t *testing.T) {
	var p pendingRecord
	const agents = 1000
	for i := range agents {
		// Agent i is refused for 1000+i seconds to eng; the even ones also to ops.
		p.filter("eng", fmt.Sprintf("a%04d", i), time.Duration(agents+i)*time.Second, t0)
		if i%2 == 0 {
			p.filter("ops", fmt.Sprintf("a%04d", i), time.Duration(agents-i/2)*time.Second, t0)
		}
	}
	p.filter("eng", "gone", time.Second, t0)

	st := p.state(t0.Add(time.Second)) // "gone" has just expired
	if len(st.Filters) != filterExamples {
		t.Fatalf("%d filter examples, want %d", len(st.Filters), filterExamples)
	}
	// ops holds the soonest: a0998 (501s), a0996 (502s), ...
	for i, fl := range st.Filters {
		wantAgent := fmt.Sprintf("a%04d", agents-2-2*i)
		wantUntil := t0.Add(time.Duration(agents/2+1+i) * time.Second).UnixNano()
		if fl.Role != "ops" || fl.AgentId != wantAgent || fl.UntilUnixNano != wantUntil {
			t.Fatalf("example %d = %v, want ops on %s until %d", i, fl, wantAgent, wantUntil)
		}
	}
	want := []*messages.FilterSummary{
		{Role: "eng", Agents: agents, SoonestUntilUnixNano: t0.Add(1000 * time.Second).UnixNano(), LatestUntilUnixNano: t0.Add(1999 * time.Second).UnixNano()},
		{Role: "ops", Agents: agents / 2, SoonestUntilUnixNano: t0.Add(501 * time.Second).UnixNano(), LatestUntilUnixNano: t0.Add(1000 * time.Second).UnixNano()},
	}
	if len(st.FilterSummaries) != len(want) {
		t.Fatalf("summaries = %v, want %v", st.FilterSummaries, want)
	}
	for i := range want {
		if !proto.Equal(st.FilterSummaries[i], want[i]) {
			t.Fatalf("summary %d = %v, want %v", i, st.FilterSummaries[i], want[i])
		}
	}
	if _, ok := p.filters[filterKey{"eng", "gone"}]; ok {
		t.Fatal("an expired filter was kept")
	}
}

// An agent's state says what its outstanding offers hold, so that a
// snapshot shows used + offered against the agent's total (chaos runs
// check it never exceeds it).
func TestAgentStateCountsOutstandingOffers(t *testing.T) {
	b := NewBooks("m1")
	id, _, _ := b.register(info("h"), Endpoint{"a", "agent"}, "", t0)
	f, _, _ := b.subscribe(&messages.FrameworkInfo{Name: "f", Roles: []string{"r"}}, "s1")
	res, _, err := policy.FromMessages([]*messages.Resource{{Name: "cpus", Scalar: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		b.addOffer(policy.Grant{FrameworkID: f.id(), AgentID: id, Role: "r", Resources: res}, t0, t0.Add(time.Minute))
	}
	st := b.Agents()[0]
	if len(st.Offered) != 1 || st.Offered[0].Name != "cpus" || st.Offered[0].Scalar != 1 {
		t.Fatalf("two offers of 0.5 cpus: the agent's state says offered %v", st.Offered)
	}
	for _, o := range b.offers {
		b.removeOffer(o)
	}
	if st := b.Agents()[0]; len(st.Offered) != 0 {
		t.Fatalf("no offer left: the agent's state says offered %v", st.Offered)
	}
}

// However many distinct reasons a framework gives, the master keeps at
// most messages.MaxDeclineReasons of them plus "unspecified" and "other",
// and loses no decline: the counts add up to every offer declined.
func TestDeclineReasonsAreBounded(t *testing.T) {
	var p pendingRecord
	total := 0
	for i := range 10_000 {
		reason := fmt.Sprintf("reason %d", i%500)
		switch i % 7 {
		case 0:
			reason = ""
		case 1:
			reason = DeclineOther // a framework may say "other" itself
		}
		p.countDeclines(reason, 1+i%3)
		total += 1 + i%3
	}
	counts := p.declineCounts()
	if len(counts) > messages.MaxDeclineReasons+2 {
		t.Fatalf("%d reasons kept, want at most %d", len(counts), messages.MaxDeclineReasons+2)
	}
	sum := uint64(0)
	for i, c := range counts {
		sum += c.Offers
		if i > 0 && counts[i-1].Offers < c.Offers {
			t.Fatalf("not ordered by count: %v", counts)
		}
	}
	if sum != uint64(total) {
		t.Fatalf("counts add up to %d, want the %d offers declined", sum, total)
	}
	if p.declines[DeclineUnspecified] == 0 || p.declines[DeclineOther] == 0 || p.declines["reason 2"] == 0 {
		t.Fatalf("counts: %v", counts)
	}
}

package master_test

import (
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func admitted(ev any) bool { _, ok := ev.(master.AgentAdmitted); return ok }

func TestAgentsRegisterAndAppearInState(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Agents: 3})
	c.Events.WaitForCount(t, 0, 3, admitted)
	// The snapshot follows within the publish interval on the cluster clock.
	st := c.StateWhere(t, func(st *messages.MasterState) bool { return len(st.Agents) == 3 })
	for _, a := range st.Agents {
		if !a.Reachable || messages.ScalarOf(a.Info.Resources, "cpus") != 4 {
			t.Fatalf("agent state: %v", a)
		}
	}
}

// The count gauges follow the books within a few milliseconds, not at the
// next snapshot: a snapshot of a large cluster waits out a backoff of ten
// times its cost, and gauges read from it told operators (and the scale
// harness) for over a second at 40,000 agents that agents the master had
// re-admitted were still away.
func TestCountGaugesFollowTheBooksBetweenSnapshots(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Agents: 3, PublishInterval: time.Hour})
	c.Events.WaitForCount(t, 0, 3, admitted)
	c.Advance(t, 20*time.Millisecond)
	want := `
# HELP agora_master_agents Agents known to the master, by liveness.
# TYPE agora_master_agents gauge
agora_master_agents{state="reachable"} 3
agora_master_agents{state="unreachable"} 0
`
	if err := testutil.GatherAndCompare(c.MasterRegistry, strings.NewReader(want), "agora_master_agents"); err != nil {
		t.Fatal(err)
	}
	if st := c.Publisher.State(); st != nil && len(st.Agents) == 3 {
		t.Fatal("a snapshot with the 3 agents was published within the hour's interval: the gauges may have come from it")
	}
}

// An agent that stops heartbeating is unreachable after MaxMisses intervals;
// restarted with the same work dir it re-registers with the same AgentID.
func TestDeadAgentBecomesUnreachableAndComesBack(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Liveness: &master.LivenessPolicy{Interval: time.Second, MaxMisses: 3}})
	dir := t.TempDir()
	pid := c.AddAgent(testkit.AgentSpec{WorkDir: dir})
	first := c.Events.WaitFor(t, admitted).(master.AgentAdmitted)
	c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(agent.Registered); return ok })

	// Alive: each interval the agent heartbeats and is acknowledged; it
	// stays reachable well past the 3-interval timeout.
	mark := c.Events.Mark()
	c.Advance(t, 5*time.Second)
	if n := c.Events.Count(mark, func(ev any) bool { _, ok := ev.(agent.HeartbeatAcked); return ok }); n < 5 {
		t.Fatalf("%d heartbeats acknowledged in 5 intervals, want one each", n)
	}

	unreachable := func(ev any) bool { _, ok := ev.(master.AgentMarkedUnreachable); return ok }
	if n := c.Events.Count(0, unreachable); n != 0 {
		t.Fatalf("a heartbeating agent was marked unreachable %d times", n)
	}
	mark = c.Events.Mark()
	c.StopAgent(pid)
	ev := c.AdvanceUntil(t, mark, 3*time.Second, unreachable)
	if ev.(master.AgentMarkedUnreachable).AgentID != first.AgentID {
		t.Fatalf("wrong agent marked unreachable: %v", ev)
	}
	c.StateWhere(t, func(st *messages.MasterState) bool { return len(st.Agents) == 1 && !st.Agents[0].Reachable })

	mark = c.Events.Mark()
	c.AddAgent(testkit.AgentSpec{WorkDir: dir})
	back := c.Events.WaitForSince(t, mark, admitted).(master.AgentAdmitted)
	if back.AgentID != first.AgentID || !back.Reregistered {
		t.Fatalf("restarted agent: %+v, want re-registration as %s", back, first.AgentID)
	}
	c.StateWhere(t, func(st *messages.MasterState) bool { return len(st.Agents) == 1 && st.Agents[0].Reachable })
}

// A heartbeat from an agent the master does not know is answered with an
// error telling it to re-register; an unsupported message gets
// INVALID_ARGUMENT. Neither changes the books.
func TestMasterAnswersBadInputWithErrors(t *testing.T) {
	c := testkit.Start(t, testkit.Options{})
	for _, tc := range []struct {
		msg  any
		want messages.Error_Code
	}{
		{&messages.AgentHeartbeat{AgentId: &messages.AgentID{Value: "nobody"}}, messages.Error_UNKNOWN_AGENT},
		{&messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: -2}}}}, messages.Error_INVALID_ARGUMENT},
		{&messages.UnregisterAgent{AgentId: &messages.AgentID{Value: "nobody"}}, messages.Error_UNKNOWN_AGENT},
		{&messages.AgentInfo{Hostname: "not a request"}, messages.Error_INVALID_ARGUMENT},
	} {
		res := c.Request(t, c.Master, tc.msg)
		e, ok := res.(*messages.Error)
		if !ok || e.Code != tc.want || e.Message == "" {
			t.Fatalf("%T: got %v, want code %v", tc.msg, res, tc.want)
		}
	}
	c.StateWhere(t, func(st *messages.MasterState) bool { return st.SnapshotUnixNano > 0 && len(st.Agents) == 0 })
}

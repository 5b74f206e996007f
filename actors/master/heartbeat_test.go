package master_test

import (
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
)

func acked(ev any) bool { _, ok := ev.(agent.HeartbeatAcked); return ok }

// handlerOf is the master's handler for an agent (its child "agent-<id>").
func handlerOf(c *testkit.Cluster, agentID string) *actor.PID {
	return actor.NewPID(c.Master.Address, c.Master.Id+"/agent-"+agentID)
}

// Heartbeats go to the agent's handler, which answers them: an agent is
// acknowledged while the master's own mailbox does not move (as it waits
// behind offers and declines on a big cluster), and the master still learns
// when it heard from the agent once it gets to it.
func TestHeartbeatsAnsweredWhileTheMasterIsBusy(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Liveness: &master.LivenessPolicy{Interval: time.Second, MaxMisses: 3}})
	c.AddAgent(testkit.AgentSpec{WorkDir: t.TempDir()})
	id := c.Events.WaitFor(t, admitted).(master.AgentAdmitted).AgentID
	c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(agent.Registered); return ok })
	registeredAt := c.Clock.Now()

	proc, ok := c.System.ProcessRegistry.GetLocal(c.Master.Id)
	if !ok {
		t.Fatal("no master process")
	}
	proc.SendSystemMessage(c.Master, &actor.SuspendMailbox{})
	mark := c.Events.Mark()
	for range 3 {
		c.Advance(t, time.Second)
	}
	c.Events.WaitForCount(t, mark, 3, acked)
	proc.SendSystemMessage(c.Master, &actor.ResumeMailbox{})

	// A heartbeat changes nothing a snapshot is published for; a second
	// agent does, and the snapshot shows when the first was heard from.
	c.AddAgent(testkit.AgentSpec{WorkDir: t.TempDir()})
	c.StateWhere(t, func(st *messages.MasterState) bool {
		for _, a := range st.Agents {
			if a.Info.GetId().GetValue() == id {
				return a.Reachable && a.LastSeenUnixNano > registeredAt.UnixNano()
			}
		}
		return false
	})
	if got := c.Request(t, handlerOf(c, id), &messages.AgentHeartbeat{AgentId: &messages.AgentID{Value: id}, Seq: 99}); got.(*messages.AgentHeartbeatAck).GetSeq() != 99 {
		t.Fatalf("a heartbeat to the handler: %v, want its acknowledgement", got)
	}
}

// What is not the plain case the handler hands to the master: a heartbeat
// naming another agent, and one of an agent it reported unreachable (the
// master tells it to re-register). Only the master may tell a handler it
// heard from the agent.
func TestHandlerHandsTheMasterWhatIsNotPlain(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Liveness: &master.LivenessPolicy{Interval: time.Second, MaxMisses: 3}})
	pid := c.AddAgent(testkit.AgentSpec{WorkDir: t.TempDir()})
	id := c.Events.WaitFor(t, admitted).(master.AgentAdmitted).AgentID
	c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(agent.Registered); return ok })
	h := handlerOf(c, id)
	errCode := func(res any) messages.Error_Code {
		if e, ok := res.(*messages.Error); ok {
			return e.Code
		}
		return -1
	}

	if got := c.Request(t, h, &messages.AgentHeartbeat{AgentId: &messages.AgentID{Value: "nobody"}}); errCode(got) != messages.Error_UNKNOWN_AGENT {
		t.Fatalf("a heartbeat naming another agent, to this one's handler: %v, want the master's UNKNOWN_AGENT", got)
	}

	c.StopAgent(pid)
	// Someone other than the master says it heard from the agent; ignored.
	forged := &messages.AgentObserved{AgentId: id, IntervalNanos: int64(time.Hour), SeenUnixNano: c.Clock.Now().Add(time.Hour).UnixNano()}
	c.System.Root.Request(h, forged)
	mark := c.Events.Mark()
	c.AdvanceUntil(t, mark, 3*time.Second, func(ev any) bool { _, ok := ev.(master.AgentMarkedUnreachable); return ok })

	if got := c.Request(t, h, &messages.AgentHeartbeat{AgentId: &messages.AgentID{Value: id}}); errCode(got) != messages.Error_UNKNOWN_AGENT {
		t.Fatalf("a heartbeat of an agent marked unreachable: %v, want the master's UNKNOWN_AGENT (re-register)", got)
	}
}

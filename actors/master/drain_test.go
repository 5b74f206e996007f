package master_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
)

func drainOf(s *messages.MasterState, id string) *messages.DrainInfo {
	for _, a := range s.Agents {
		if a.Info.Id.GetValue() == id {
			return a.Drain
		}
	}
	return nil
}

// Draining an agent end to end on actors: both frameworks with tasks there
// are told (AgentDraining), what runs at the deadline is killed with
// REASON_AGENT_DRAINING, the frameworks' replacements land on the other
// agent only, the agent is DRAINED; the agent checkpoints the drain and a
// new leader restores it from the re-registration; reactivation offers it
// again and removes the checkpoint.
func TestDrainAgentSurvivesFailover(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{
		Clock: clock, AgentResources: "cpus:4;mem:8192",
		Containerizer: testkit.SimContainerizer{Clock: clock},
	})
	dir := t.TempDir()
	c.AddAgent(testkit.AgentSpec{WorkDir: dir})
	// Both frameworks fill the one agent there is; the second comes later.
	fws := map[string]*testkit.Elastic{"fw1": {Target: 2, Shape: "cpus:1;mem:1024"}, "fw2": {Target: 2, Shape: "cpus:1;mem:1024"}}
	for name, fw := range fws {
		c.StartScheduler(frameworkInfo(name, "r"), acting(fw))
	}
	mark := c.Events.Mark()
	c.AdvanceUntil(t, mark, 30*time.Second, func(any) bool { return fws["fw1"].Running() == 2 && fws["fw2"].Running() == 2 })
	st := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Agents) == 1 })
	drained := st.Agents[0].Info.Id.Value
	c.AddAgent(testkit.AgentSpec{})

	mark = c.Events.Mark()
	res := c.Request(t, c.Master, &messages.DrainAgent{AgentId: &messages.AgentID{Value: drained}, DeadlineNanos: int64(10 * time.Second)})
	if _, ok := res.(*messages.OperatorAccepted); !ok {
		t.Fatalf("drain answered %v, want OperatorAccepted", res)
	}
	for name := range fws {
		c.Events.WaitForCount(t, mark, 1, func(ev any) bool {
			se, ok := ev.(testkit.SchedulerEvent)
			d, isDrain := se.Event.(*messages.AgentDraining)
			return ok && se.Framework == name && isDrain && d.AgentId.GetValue() == drained
		})
	}
	killed := func(fw string) int { return fws[fw].Ended(messages.TaskState_TASK_KILLED) }
	c.AdvanceUntil(t, mark, time.Minute, func(any) bool {
		return killed("fw1") == 2 && killed("fw2") == 2 && fws["fw1"].Running() == 2 && fws["fw2"].Running() == 2
	})
	if n := c.Events.Count(mark, killedByDrain); n != 4 {
		t.Fatalf("%d tasks killed with REASON_AGENT_DRAINING, want the 4 on the agent", n)
	}
	st = c.StateWhere(t, func(s *messages.MasterState) bool {
		d := drainOf(s, drained)
		return d != nil && d.State == messages.DrainInfo_DRAINED
	})
	deadline := drainOf(st, drained).DeadlineUnixNano
	list := c.Request(t, c.Master, &messages.ListTasks{AgentId: drained, State: "active"}).(*messages.TaskList)
	if list.Total != 0 {
		t.Fatalf("%d live tasks on the drained agent, want none", list.Total)
	}
	if _, err := os.Stat(filepath.Join(dir, "drain")); err != nil {
		t.Fatalf("the agent did not checkpoint its drain: %v", err)
	}

	mark = c.Events.Mark()
	c.FailoverMaster(t)
	c.Events.WaitForCount(t, mark, 2, isReregistered)
	st = c.StateWhere(t, func(s *messages.MasterState) bool { d := drainOf(s, drained); return d != nil && len(s.Agents) == 2 })
	if d := drainOf(st, drained); d.State != messages.DrainInfo_DRAINED || d.DeadlineUnixNano != deadline {
		t.Fatalf("after failover the drain is %v, want DRAINED with the same deadline", d)
	}
	// The new leader offers the drained agent to nobody.
	mark = c.Events.Mark()
	c.Advance(t, 20*time.Second)
	if n := c.Events.Count(mark, offeredAgent(drained)); n != 0 {
		t.Fatalf("the drained agent was offered %d times after failover", n)
	}

	res = c.Request(t, c.Master, &messages.ReactivateAgent{AgentId: &messages.AgentID{Value: drained}})
	if _, ok := res.(*messages.OperatorAccepted); !ok {
		t.Fatalf("reactivate answered %v, want OperatorAccepted", res)
	}
	c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Agents) == 2 && drainOf(s, drained) == nil })
	c.Drain()
	if _, err := os.Stat(filepath.Join(dir, "drain")); !os.IsNotExist(err) {
		t.Fatalf("the drain checkpoint outlived reactivation: %v", err)
	}
	res = c.Request(t, c.Master, &messages.ReactivateAgent{AgentId: &messages.AgentID{Value: "nope"}})
	if e, ok := res.(*messages.Error); !ok || e.Code != messages.Error_UNKNOWN_AGENT {
		t.Fatalf("reactivating an unknown agent answered %v, want UNKNOWN_AGENT", res)
	}
}

func killedByDrain(ev any) bool {
	se, ok := ev.(testkit.SchedulerEvent)
	if !ok {
		return false
	}
	u, ok := se.Event.(*messages.StatusUpdate)
	return ok && u.Status.State == messages.TaskState_TASK_KILLED && u.Status.Reason == messages.TaskStatusReason_REASON_AGENT_DRAINING
}

func offeredAgent(id string) func(any) bool {
	return func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		if !ok {
			return false
		}
		o, ok := se.Event.(*messages.Offers)
		if !ok {
			return false
		}
		for _, of := range o.Offers {
			if of.AgentId.GetValue() == id {
				return true
			}
		}
		return false
	}
}

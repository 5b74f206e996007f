package scheduler_test

import (
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
)

// Mesos' executorLost and slaveLost through the SDK, on a real master and
// agent: a custom executor (a real process) that exits with code 3 before
// finishing its task reaches the handler as a *messages.ExecutorExited
// with that code, and the task ends once, TASK_FAILED with
// REASON_EXECUTOR_TERMINATED; when the agent is then lost (unreachable),
// the handler gets a *messages.AgentLost naming it.
func TestExecutorExitedAndAgentLostThroughTheSDK(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock})
	agentPID := c.AddAgent(testkit.AgentSpec{WorkDir: t.TempDir()})
	st := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Agents) == 1 })
	agentID := st.Agents[0].GetInfo().GetId().GetValue()

	exec := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "ex"}, Command: &messages.CommandInfo{Value: "exit 3", Shell: true},
		Resources: scheduler.Resources("cpus:0.1;mem:32")}
	var once sync.Once
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		if ev, ok := ev.(*messages.Offers); ok {
			once.Do(func() {
				d.Launch(ev.Offers[:1], &messages.TaskInfo{Name: "t1", TaskId: &messages.TaskID{Value: "t1"}, Executor: exec,
					Resources: scheduler.Resources("cpus:0.1;mem:32")})
			})
		}
	}))
	event := func(match func(any) bool) any {
		t.Helper()
		return c.Events.WaitFor(t, func(ev any) bool {
			se, ok := ev.(testkit.SchedulerEvent)
			return ok && se.Framework == "fw" && match(se.Event)
		}).(testkit.SchedulerEvent).Event
	}
	mark := c.Events.Mark()
	exited := event(func(ev any) bool { _, ok := ev.(*messages.ExecutorExited); return ok }).(*messages.ExecutorExited)
	if exited.GetAgentId().GetValue() != agentID || exited.GetExecutorId().GetValue() != "ex" || exited.Status != 3 || exited.Signal != 0 ||
		exited.GetFrameworkId().GetValue() == "" {
		t.Fatalf("executor exit as the handler got it: %v; want executor ex on %s, status 3, no signal", exited, agentID)
	}
	failed := c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_FAILED)).(testkit.SchedulerEvent).Event.(*messages.StatusUpdate)
	if failed.Status.Reason != messages.TaskStatusReason_REASON_EXECUTOR_TERMINATED {
		t.Fatalf("t1 ended %v %v %q; want TASK_FAILED, REASON_EXECUTOR_TERMINATED", failed.Status.State, failed.Status.Reason, failed.Status.Message)
	}
	terminal := func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		u, isUpdate := se.Event.(*messages.StatusUpdate)
		return ok && isUpdate && u.Status.GetTaskId().GetValue() == "t1" && messages.IsTerminal(u.Status.State)
	}
	if n := c.Events.Count(mark, terminal); n != 1 {
		t.Fatalf("t1 told %d terminal states; want exactly one", n)
	}

	// The agent goes: the framework is told it is lost.
	c.StopAgent(agentPID)
	lost := c.AdvanceUntil(t, c.Events.Mark(), 5*time.Minute, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		_, isLost := se.Event.(*messages.AgentLost)
		return ok && isLost
	}).(testkit.SchedulerEvent).Event.(*messages.AgentLost)
	if lost.GetAgentId().GetValue() != agentID {
		t.Fatalf("AgentLost names %s; want %s", lost.GetAgentId().GetValue(), agentID)
	}
}

package master_test

import (
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
)

func isReregistered(ev any) bool {
	a, ok := ev.(master.AgentAdmitted)
	return ok && a.Reregistered
}

func isResubscribed(ev any) bool {
	f, ok := ev.(master.FrameworkSubscribed)
	return ok && f.Resubscribed
}

// reconciled collects reconciliation answers a framework got since mark.
func reconciled(c *testkit.Cluster, mark int, framework string) map[string]*messages.TaskStatus {
	out := map[string]*messages.TaskStatus{}
	c.Events.Count(mark, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		if !ok || se.Framework != framework {
			return false
		}
		if u, ok := se.Event.(*messages.StatusUpdate); ok && len(u.Status.Uuid) == 0 {
			out[u.Status.TaskId.Value] = u.Status
		}
		return false
	})
	return out
}

// A new leader starts empty and rebuilds its books and the allocator from
// re-registrations: tasks stay RUNNING, the framework keeps its ID, and
// what it offers first is exactly each agent's total minus what is used.
func TestFailoverRebuildsFromReregistration(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{
		Clock: clock, Agents: 3, AgentResources: "cpus:4;mem:8192",
		Containerizer: testkit.SimContainerizer{Clock: clock},
	})
	fw := &testkit.Elastic{Target: 7, Shape: "cpus:1;mem:1024"}
	pid := c.StartScheduler(frameworkInfo("fw", "r"), acting(fw))
	mark := c.Events.Mark()
	c.AdvanceUntil(t, mark, 30*time.Second, func(any) bool { return fw.Running() == 7 })
	before := c.StateWhere(t, func(s *messages.MasterState) bool {
		return len(s.Frameworks) == 1 && s.Frameworks[0].Tasks["TASK_RUNNING"] == 7
	})
	id := before.Frameworks[0].Info.Id.Value

	mark = c.Events.Mark()
	epoch := c.FailoverMaster(t)
	c.Events.WaitForCount(t, mark, 3, isReregistered)
	sub := c.Events.WaitForSince(t, mark, isResubscribed).(master.FrameworkSubscribed)
	if sub.FrameworkID != id || epoch != 2 {
		t.Fatalf("framework %s re-subscribed (want %s), epoch %d", sub.FrameworkID, id, epoch)
	}
	// The first offer of each agent by the new leader is its total minus
	// what its tasks use.
	offered := map[string]string{}
	c.AdvanceUntil(t, mark, 10*time.Second, func(ev any) bool {
		if se, ok := ev.(testkit.SchedulerEvent); ok {
			if o, ok := se.Event.(*messages.Offers); ok {
				for _, of := range o.Offers {
					if _, seen := offered[of.AgentId.Value]; !seen {
						offered[of.AgentId.Value] = messages.FormatResources(of.Resources)
					}
				}
			}
		}
		return len(offered) == 3
	})
	st := c.StateWhere(t, func(s *messages.MasterState) bool { return s.Master.Epoch == epoch && len(s.Agents) == 3 })
	for _, a := range st.Agents {
		total, _, _ := policy.FromMessages(a.Info.Resources)
		used, _, _ := policy.FromMessages(a.Used)
		if want := total.Sub(used).String(); offered[a.Info.Id.Value] != want {
			t.Fatalf("agent %s: first offer after failover %q, want total minus used %q", a.Info.Id.Value, offered[a.Info.Id.Value], want)
		}
	}
	mark = c.Events.Mark()
	c.System.Root.Send(pid, act(func(d *scheduler.Driver) { d.Reconcile() }))
	c.Events.WaitForCount(t, mark, 7, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		u, isUpdate := se.Event.(*messages.StatusUpdate)
		return ok && isUpdate && len(u.Status.Uuid) == 0
	})
	for task, s := range reconciled(c, mark, "fw") {
		if s.State != messages.TaskState_TASK_RUNNING {
			t.Fatalf("task %s reconciled as %v after failover, want RUNNING", task, s.State)
		}
	}
	if fw.Live() != 7 || fw.Running() != 7 {
		t.Fatalf("framework sees %d live, %d running tasks; want 7 (no task lost or duplicated)", fw.Live(), fw.Running())
	}
}

// After failover, reconciliation of a task whose agent has not come back
// waits for the re-registration window, then answers TASK_LOST with the
// reason; when the agent returns later, its tasks are RUNNING again.
func TestReconcileWaitsForAgentsAfterFailover(t *testing.T) {
	clock := testkit.NewFakeClock()
	const window = 30 * time.Second
	c := testkit.Start(t, testkit.Options{
		Clock: clock, Agents: 1, AgentResources: "cpus:2;mem:2048",
		Containerizer: testkit.SimContainerizer{Clock: clock}, AgentReregisterTimeout: window,
	})
	cut := &testkit.Partition{}
	c.AddAgent(testkit.AgentSpec{Hostname: "far", Partition: cut, Containerizer: testkit.SimContainerizer{Clock: clock}})
	fw := &testkit.Elastic{Target: 4, Shape: "cpus:1;mem:1024"}
	pid := c.StartScheduler(frameworkInfo("fw", "r"), acting(fw))
	mark := c.Events.Mark()
	c.AdvanceUntil(t, mark, 30*time.Second, func(any) bool { return fw.Running() == 4 })
	st := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Agents) == 2 })
	var farTasks []string
	c.Events.Count(0, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		if u, isUpdate := se.Event.(*messages.StatusUpdate); ok && isUpdate && u.Status.State == messages.TaskState_TASK_RUNNING {
			for _, a := range st.Agents {
				if a.Info.Hostname == "far" && a.Info.Id.Value == u.Status.AgentId.Value {
					farTasks = append(farTasks, u.Status.TaskId.Value)
				}
			}
		}
		return false
	})
	if len(farTasks) != 2 {
		t.Fatalf("want 2 tasks on the far agent, got %v", farTasks)
	}

	cut.Cut()
	mark = c.Events.Mark()
	c.FailoverMaster(t)
	c.Events.WaitForSince(t, mark, isResubscribed)
	c.Events.WaitForCount(t, mark, 1, isReregistered)
	var query []*messages.Reconcile_Task
	for _, id := range farTasks {
		query = append(query, &messages.Reconcile_Task{TaskId: &messages.TaskID{Value: id}})
	}
	mark = c.Events.Mark()
	c.System.Root.Send(pid, act(func(d *scheduler.Driver) { d.Reconcile(query...) }))
	c.Events.WaitForSince(t, mark, func(ev any) bool { d, ok := ev.(master.ReconcileDeferred); return ok && d.Tasks == 2 })
	c.Advance(t, window/2)
	if got := reconciled(c, mark, "fw"); len(got) != 0 {
		t.Fatalf("answered %v before the re-registration window ended", got)
	}
	c.Advance(t, window/2)
	c.Events.WaitForCount(t, mark, 2, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		u, isUpdate := se.Event.(*messages.StatusUpdate)
		return ok && isUpdate && u.Status.State == messages.TaskState_TASK_LOST
	})
	for task, s := range reconciled(c, mark, "fw") {
		if s.Reason != messages.TaskStatusReason_REASON_AGENT_REREGISTER_TIMEOUT {
			t.Fatalf("task %s: %v %v (%s), want LOST with REASON_AGENT_REREGISTER_TIMEOUT", task, s.State, s.Reason, s.Message)
		}
	}

	// The agent comes back: its tasks are RUNNING again, none duplicated.
	cut.Heal()
	mark = c.Events.Mark()
	c.AnnounceLeader()
	c.Events.WaitForCount(t, mark, 1, isReregistered)
	c.System.Root.Send(pid, act(func(d *scheduler.Driver) { d.Reconcile(query...) }))
	c.Events.WaitForCount(t, mark, 2, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		u, isUpdate := se.Event.(*messages.StatusUpdate)
		return ok && isUpdate && u.Status.State == messages.TaskState_TASK_RUNNING && len(u.Status.Uuid) == 0
	})
	st = c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Agents) == 2 && len(s.Frameworks) == 1 })
	if n := st.Frameworks[0].Tasks["TASK_RUNNING"]; n != 4 {
		t.Fatalf("master books %d running tasks after the agent returned, want 4", n)
	}
}

// An agent cut off from the master becomes unreachable; once the partition
// heals it re-registers and its tasks report RUNNING again, not twice.
func TestPartitionedAgentComesBack(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:2048", Containerizer: testkit.SimContainerizer{Clock: clock}})
	cut := &testkit.Partition{}
	c.AddAgent(testkit.AgentSpec{Partition: cut})
	fw := &testkit.Elastic{Target: 2, Shape: "cpus:1;mem:1024"}
	c.StartScheduler(frameworkInfo("fw", "r"), fw)
	mark := c.Events.Mark()
	c.AdvanceUntil(t, mark, 30*time.Second, func(any) bool { return fw.Running() == 2 })
	cut.Cut()
	mark = c.Events.Mark()
	c.AdvanceUntil(t, mark, 200*time.Second, func(ev any) bool { _, ok := ev.(master.AgentMarkedUnreachable); return ok })
	c.Events.WaitForCount(t, mark, 2, func(ev any) bool {
		u, ok := ev.(master.TaskUpdated)
		return ok && u.State == messages.TaskState_TASK_UNREACHABLE
	})
	cut.Heal()
	mark = c.Events.Mark()
	c.AdvanceUntil(t, mark, 200*time.Second, isReregistered)
	st := c.StateWhere(t, func(s *messages.MasterState) bool {
		return len(s.Frameworks) == 1 && s.Frameworks[0].Tasks["TASK_RUNNING"] == 2 && s.Agents[0].Reachable
	})
	if n := len(st.Frameworks[0].Tasks); n != 1 {
		t.Fatalf("tasks by state %v: want exactly 2 RUNNING", st.Frameworks[0].Tasks)
	}
}

// acting runs act messages on the scheduler actor and passes the rest to h.
func acting(h scheduler.Handler) scheduler.HandlerFunc {
	return func(d *scheduler.Driver, ev any) {
		if f, ok := ev.(act); ok {
			f(d)
			return
		}
		h.Receive(d, ev)
	}
}

// With ReregisterSpread, agents re-register with a new leader at random
// moments within the spread (Mesos: a random part of
// --registration_backoff_factor), not all at the moment it is announced;
// the new leader rebuilds the same books.
func TestFailoverReregistrationSpread(t *testing.T) {
	const spread = 2 * time.Second
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{
		Clock: clock, Agents: 8, AgentResources: "cpus:4;mem:8192",
		Containerizer: testkit.SimContainerizer{Clock: clock}, ReregisterSpread: spread,
	})
	fw := &testkit.Elastic{Target: 8, Shape: "cpus:1;mem:1024"}
	c.StartScheduler(frameworkInfo("fw", "r"), acting(fw))
	mark := c.Events.Mark()
	c.AdvanceUntil(t, mark, 30*time.Second, func(any) bool { return fw.Running() == 8 })

	mark = c.Events.Mark()
	epoch := c.FailoverMaster(t)
	c.Drain()
	if n := c.Events.Count(mark, isReregistered); n != 0 {
		t.Fatalf("%d agents re-registered the moment the new leader was announced, want none before their wait", n)
	}
	// Within the spread every agent is back, and not all at once: the
	// seeded waits put them at more than one moment.
	var moments []time.Time
	for step := 0; step < 20; step++ {
		c.Advance(t, spread/20)
		for n := c.Events.Count(mark, isReregistered); len(moments) < n; {
			moments = append(moments, clock.Now())
		}
	}
	if len(moments) != 8 {
		t.Fatalf("%d of 8 agents re-registered within the spread of %v", len(moments), spread)
	}
	if moments[0].Equal(moments[7]) {
		t.Fatalf("every agent re-registered at %v: not spread", moments[0])
	}
	st := c.StateWhere(t, func(s *messages.MasterState) bool { return s.Master.Epoch == epoch && len(s.Agents) == 8 })
	var running uint32
	for _, f := range st.Frameworks {
		running += f.Tasks["TASK_RUNNING"]
	}
	if running != 8 {
		t.Fatalf("the new leader's books hold %d running tasks, want 8", running)
	}
}

package master_test

import (
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
)

func reconcileAnswer(framework, taskID string, state messages.TaskState) func(any) bool {
	return func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		if !ok || se.Framework != framework {
			return false
		}
		u, ok := se.Event.(*messages.StatusUpdate)
		return ok && u.Status.TaskId.GetValue() == taskID && u.Status.State == state &&
			u.Status.Reason == messages.TaskStatusReason_REASON_RECONCILIATION && len(u.Status.Uuid) == 0
	}
}

// launchLongTask subscribes a framework and runs one task that runs until
// killed, returning the scheduler and the offer's agent. The task is a real
// process: the clock moves only once it is RUNNING, and no more of its
// events are due until it is killed.
func launchLongTask(t *testing.T, c *testkit.Cluster, info *messages.FrameworkInfo, taskID string) (*holder, string) {
	t.Helper()
	h := &holder{}
	pid := c.StartScheduler(info, actingHandler(h))
	c.Events.WaitFor(t, offersOf(info.Name))
	h.mu.Lock()
	offer := h.offers[len(h.offers)-1]
	h.mu.Unlock()
	c.System.Root.Send(pid, act(func(d *scheduler.Driver) {
		d.Launch([]*messages.Offer{offer}, scheduler.Command(taskID, "sleep 600", scheduler.Resources("cpus:1;mem:128")))
	}))
	c.Events.WaitFor(t, testkit.IsStatus(info.Name, taskID, messages.TaskState_TASK_RUNNING))
	// /state shows what the task uses, on its agent and its framework.
	c.StateWhere(t, func(st *messages.MasterState) bool {
		return len(st.Frameworks) == 1 && messages.FormatResources(st.Frameworks[0].Used) == "cpus:1;mem:128" &&
			st.Frameworks[0].Tasks["TASK_RUNNING"] == 1 && len(st.Agents) == 1 && messages.FormatResources(st.Agents[0].Used) == "cpus:1;mem:128"
	})
	return h, offer.AgentId.Value
}

// Kill the scheduler, start a new one with the same FrameworkID within the
// failover timeout: the task kept running and reconciliation says so.
func TestSchedulerFailoverKeepsTasks(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Agents: 1})
	info := frameworkInfo("fw", "r")
	info.FailoverTimeoutNanos = int64(time.Hour)
	launchLongTask(t, c, info, "long")
	sub := c.Events.WaitFor(t, testkit.IsSubscribed).(master.FrameworkSubscribed)

	// "Kill the scheduler process": its actor stops without a word.
	old := &messages.FrameworkID{Value: sub.FrameworkID}
	mark := c.Events.Mark()
	stopSchedulers(t, c, "fw")
	c.Events.WaitForSince(t, mark, func(ev any) bool { _, ok := ev.(master.FrameworkDisconnected); return ok })

	info2 := frameworkInfo("fw", "r")
	info2.Id, info2.FailoverTimeoutNanos = old, int64(time.Hour)
	mark = c.Events.Mark()
	pid := c.StartScheduler(info2, actingHandler(&holder{}))
	ev := c.Events.WaitForSince(t, mark, testkit.IsSubscribed).(master.FrameworkSubscribed)
	if ev.FrameworkID != old.Value || !ev.Resubscribed {
		t.Fatalf("re-subscription: %+v", ev)
	}
	c.System.Root.Send(pid, act(func(d *scheduler.Driver) { d.Reconcile() }))
	c.Events.WaitForSince(t, mark, reconcileAnswer("fw", "long", messages.TaskState_TASK_RUNNING))
	c.System.Root.Send(pid, act(func(d *scheduler.Driver) {
		d.Reconcile(&messages.Reconcile_Task{TaskId: &messages.TaskID{Value: "long"}}, &messages.Reconcile_Task{TaskId: &messages.TaskID{Value: "ghost"}})
	}))
	c.Events.WaitForSince(t, mark, reconcileAnswer("fw", "ghost", messages.TaskState_TASK_LOST))
	c.System.Root.Send(pid, act(func(d *scheduler.Driver) { d.Teardown() }))
	c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(master.FrameworkRemoved); return ok })
}

// Past the failover timeout the framework is removed, its tasks killed and
// their resources free for others.
func TestFailoverTimeoutKillsTasks(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Agents: 1, AgentResources: "cpus:1;mem:256"})
	info := frameworkInfo("fw", "r")
	info.FailoverTimeoutNanos = int64(time.Minute)
	launchLongTask(t, c, info, "long")
	mark := c.Events.Mark()
	stopSchedulers(t, c, "fw")
	c.Events.WaitForSince(t, mark, func(ev any) bool { _, ok := ev.(master.FrameworkDisconnected); return ok })
	task := func(state messages.TaskState) func(any) bool {
		return func(ev any) bool {
			u, ok := ev.(master.TaskUpdated)
			return ok && u.TaskID == "long" && u.State == state
		}
	}
	// The clock runs to the timeout, when the agent is told to kill the
	// task; the task is a real process, which ends on its own time: wait
	// for that without moving the clock.
	c.AdvanceUntil(t, mark, 200*time.Second, task(messages.TaskState_TASK_KILLING))
	c.Events.WaitForSince(t, mark, task(messages.TaskState_TASK_KILLED))
	c.Events.WaitForSince(t, mark, func(ev any) bool { _, ok := ev.(master.FrameworkRemoved); return ok })
	// A newcomer is offered the whole agent (in one offer or more).
	c.StartScheduler(frameworkInfo("next", "r"), nil)
	offered := map[string][]*messages.Resource{} // by offer ID: matching may see an event twice
	c.AdvanceUntil(t, mark, 20*time.Second, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		o, isOffers := se.Event.(*messages.Offers)
		if ok && se.Framework == "next" && isOffers {
			for _, offer := range o.Offers {
				offered[offer.Id.Value] = offer.Resources
			}
		}
		var sum []*messages.Resource
		for _, r := range offered {
			sum = scheduler.Sum(sum, r)
		}
		if testing.Verbose() {
			t.Logf("offered so far: %s", messages.FormatResources(sum))
		}
		return messages.FormatResources(sum) == "cpus:1;mem:256"
	})
}

// Offers a framework sits on are rescinded after the offer timeout and
// offered again.
func TestOfferTimeoutRescinds(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Agents: 1, OfferTimeout: 10 * time.Second})
	c.StartScheduler(frameworkInfo("hoarder", "r"), nil)
	c.Events.WaitFor(t, offersOf("hoarder"))
	offered := c.Clock.Now()
	mark := c.Events.Mark()
	c.AdvanceUntil(t, mark, 40*time.Second, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		_, rescind := se.Event.(*messages.RescindOffer)
		return ok && rescind
	})
	if held := c.Clock.Since(offered); held != 10*time.Second {
		t.Fatalf("offer rescinded after %v, want the 10 s offer timeout", held)
	}
	c.AdvanceUntil(t, mark, 20*time.Second, offersOf("hoarder"))
}

// stopSchedulers stops every testkit scheduler actor of a framework.
func stopSchedulers(t *testing.T, c *testkit.Cluster, name string) {
	t.Helper()
	pids := c.Schedulers(name)
	if len(pids) == 0 {
		t.Fatalf("no scheduler named %s", name)
	}
	for _, pid := range pids {
		c.System.Root.Stop(pid)
	}
}

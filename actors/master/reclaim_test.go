package master_test

import (
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/master"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
)

func setQuota(t *testing.T, c *testkit.Cluster, role, guarantee string) {
	t.Helper()
	res := c.Request(t, c.Master, &messages.UpdateRole{
		Role: role, Quota: &messages.RoleQuota{Guarantee: mustResources(t, guarantee)},
	})
	if e, ok := res.(*messages.Error); ok {
		t.Fatalf("quota refused: %s", e.Message)
	}
}

func mustResources(t *testing.T, s string) []*messages.Resource {
	t.Helper()
	rs, err := messages.ParseResources(s)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// statusesOf collects a framework's status updates for state since mark.
func statusesOf(c *testkit.Cluster, mark int, framework string, state messages.TaskState) []*messages.TaskStatus {
	var out []*messages.TaskStatus
	c.Events.Count(mark, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		if !ok || se.Framework != framework {
			return false
		}
		if u, ok := se.Event.(*messages.StatusUpdate); ok && u.Status.State == state {
			out = append(out, u.Status)
		}
		return false
	})
	return out
}

// The acceptance scenario: batch fills the cluster with long tasks;
// prod, guaranteed half of it, arrives. Within three reclamation intervals
// prod holds its guarantee, the preempted batch tasks were told
// TASK_KILLING then TASK_KILLED with REASON_PREEMPTED after the grace, the
// other batch tasks keep running, and no task is lost.
func TestReclamationGivesStarvedRoleItsGuarantee(t *testing.T) {
	const interval, grace = 15 * time.Second, 5 * time.Second
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{
		Clock: clock, Agents: 4, AgentResources: "cpus:4;mem:8192",
		Containerizer:   testkit.SimContainerizer{Clock: clock, UseGrace: true},
		ReclaimInterval: interval, PreemptionGrace: grace,
	})
	setQuota(t, c, "prod", "cpus:8;mem:8192")
	batch := &testkit.Elastic{Target: 100, Shape: "cpus:1;mem:1024"}
	c.StartScheduler(frameworkInfo("batch", "batch"), batch)
	mark := c.Events.Mark()
	c.AdvanceUntil(t, mark, 30*time.Second, func(any) bool { return batch.Running() == 16 })

	prod := &testkit.Elastic{Target: 8, Shape: "cpus:1;mem:1024"}
	arrived := clock.Now()
	mark = c.Events.Mark()
	c.StartScheduler(frameworkInfo("prod", "prod"), prod)
	c.AdvanceUntil(t, mark, 3*interval, func(any) bool { return prod.Running() == 8 })
	if took := clock.Now().Sub(arrived); took > 3*interval {
		t.Fatalf("prod reached its guarantee after %v, want within 3 intervals (%v)", took, 3*interval)
	}

	killing := statusesOf(c, mark, "batch", messages.TaskState_TASK_KILLING)
	killed := statusesOf(c, mark, "batch", messages.TaskState_TASK_KILLED)
	if len(killed) != 8 || len(killing) != 8 {
		t.Fatalf("%d batch tasks killed, %d told KILLING; want the 8 prod needs", len(killed), len(killing))
	}
	notice := map[string]int64{}
	for _, st := range killing {
		if st.Reason != messages.TaskStatusReason_REASON_PREEMPTED {
			t.Fatalf("TASK_KILLING reason %v, want PREEMPTED", st.Reason)
		}
		notice[st.TaskId.Value] = st.TimestampUnixNano
	}
	for _, st := range killed {
		if st.Reason != messages.TaskStatusReason_REASON_PREEMPTED {
			t.Fatalf("TASK_KILLED reason %v, want PREEMPTED", st.Reason)
		}
		if gap := time.Duration(st.TimestampUnixNano - notice[st.TaskId.Value]); gap < grace {
			t.Fatalf("task %s killed %v after its notice, before the %v grace", st.TaskId.Value, gap, grace)
		}
	}
	if got := batch.Running(); got != 8 {
		t.Fatalf("batch runs %d tasks, want the other 8 still running", got)
	}
	for _, s := range []messages.TaskState{messages.TaskState_TASK_LOST, messages.TaskState_TASK_FAILED, messages.TaskState_TASK_ERROR} {
		if n := batch.Ended(s) + prod.Ended(s); n > 0 {
			t.Fatalf("%d tasks ended %v", n, s)
		}
	}
	// Nothing more is preempted once prod holds its guarantee.
	mark = c.Events.Mark()
	checks(t, c, 3, interval)
	st := c.WaitState(t, func(*messages.MasterState) bool { return true })
	if n := len(statusesOf(c, mark, "batch", messages.TaskState_TASK_KILLING)); n != 0 {
		t.Fatalf("%d more batch tasks preempted after prod reached its guarantee", n)
	}
	usage := map[string]*messages.RoleUsage{}
	for _, u := range st.RoleUsage {
		usage[u.Role] = u
	}
	if u := usage["batch"]; u == nil || u.Preemptions != 8 || u.Tasks != 8 {
		t.Fatalf("batch usage %v: want 8 tasks and 8 preemptions", u)
	}
	if u := usage["prod"]; u == nil || messages.FormatResources(u.Used) != "cpus:8;mem:8192" || len(u.Guarantee) == 0 {
		t.Fatalf("prod usage %v: want cpus:8;mem:8192 used against its guarantee", u)
	}
}

// With --revocable-above=guarantee, what a role gets beyond its guarantee
// is offered as revocable to frameworks that accept it; tasks launched on
// it are revocable and preempted before anything else. A framework
// without the capability never receives revocable resources.
func TestRevocableBeyondGuaranteeIsPreemptedFirst(t *testing.T) {
	const interval = 15 * time.Second
	clock := testkit.NewFakeClock()
	pol, _ := policy.New("drf", policy.Options{Seed: 1, RevocableAbove: policy.RevocableAboveGuarantee})
	c := testkit.Start(t, testkit.Options{
		Clock: clock, Agents: 4, AgentResources: "cpus:4;mem:8192", Policy: pol,
		Containerizer:   testkit.SimContainerizer{Clock: clock},
		ReclaimInterval: interval,
	})
	setQuota(t, c, "prod", "cpus:8;mem:8192")
	plain := &testkit.Elastic{Target: 8, Shape: "cpus:1;mem:1024"}
	c.StartScheduler(frameworkInfo("plain", "plain"), plain)
	mark := c.Events.Mark()
	c.AdvanceUntil(t, mark, 30*time.Second, func(any) bool { return plain.Running() == 8 })
	capable := frameworkInfo("opportunist", "spare")
	capable.Capabilities = []messages.Capability{messages.Capability_REVOCABLE_RESOURCES}
	opp := &testkit.Elastic{Target: 8, Shape: "cpus:1;mem:1024", UseRevocable: true}
	c.StartScheduler(capable, opp)
	c.AdvanceUntil(t, mark, 30*time.Second, func(any) bool { return opp.Running() == 8 })

	revocableOffer := func(framework string) func(any) bool {
		return func(ev any) bool {
			se, ok := ev.(testkit.SchedulerEvent)
			o, isOffers := se.Event.(*messages.Offers)
			if !ok || !isOffers || se.Framework != framework {
				return false
			}
			for _, of := range o.Offers {
				for _, r := range of.Resources {
					if r.Revocable {
						return true
					}
				}
			}
			return false
		}
	}
	if c.Events.Count(0, revocableOffer("plain")) != 0 {
		t.Fatal("a framework without the revocable capability was offered revocable resources")
	}
	if c.Events.Count(0, revocableOffer("opportunist")) == 0 {
		t.Fatal("the capable framework's role has no guarantee: everything it gets should be revocable")
	}
	c.StateWhere(t, func(st *messages.MasterState) bool {
		for _, u := range st.RoleUsage {
			if u.Role == "spare" && messages.FormatResources(u.RevocableUsed) == "cpus:8;mem:8192" {
				return true
			}
		}
		return false
	})

	// prod arrives: the revocable tasks go, the plain ones stay.
	prod := &testkit.Elastic{Target: 8, Shape: "cpus:1;mem:1024"}
	mark = c.Events.Mark()
	c.StartScheduler(frameworkInfo("prod", "prod"), prod)
	c.AdvanceUntil(t, mark, 3*interval, func(any) bool { return prod.Running() == 8 })
	if n := plain.Ended(messages.TaskState_TASK_KILLED); n != 0 {
		t.Fatalf("%d tasks of the plain framework were preempted while revocable tasks ran", n)
	}
	if n := len(statusesOf(c, mark, "opportunist", messages.TaskState_TASK_KILLED)); n != 8 {
		t.Fatalf("%d revocable tasks preempted, want 8", n)
	}
}

// A role at or below its guarantee is never preempted, even for another
// role below its own.
func TestRoleAtGuaranteeIsNeverPreempted(t *testing.T) {
	const interval = 15 * time.Second
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{
		Clock: clock, Agents: 2, AgentResources: "cpus:4;mem:8192",
		Containerizer:   testkit.SimContainerizer{Clock: clock},
		ReclaimInterval: interval,
	})
	setQuota(t, c, "a", "cpus:8;mem:8192")
	held := &testkit.Elastic{Target: 8, Shape: "cpus:1;mem:1024"}
	c.StartScheduler(frameworkInfo("a", "a"), held)
	mark := c.Events.Mark()
	c.AdvanceUntil(t, mark, 30*time.Second, func(any) bool { return held.Running() == 8 })
	setQuota(t, c, "b", "cpus:4;mem:4096")
	other := &testkit.Elastic{Target: 4, Shape: "cpus:1;mem:1024"}
	mark = c.Events.Mark()
	c.StartScheduler(frameworkInfo("b", "b"), other)
	c.Events.WaitForSince(t, mark, testkit.IsSubscribed)
	for _, ev := range checks(t, c, 4, interval) {
		if ev.Starved == nil || ev.Starved[0] != "b" {
			t.Fatalf("check %+v: b is below its guarantee and should be starved", ev)
		}
	}
	if n := len(statusesOf(c, mark, "a", messages.TaskState_TASK_KILLING)); n != 0 {
		t.Fatalf("%d tasks of a role at its guarantee were preempted", n)
	}
	if got := held.Running(); got != 8 {
		t.Fatalf("role a runs %d tasks, want 8", got)
	}
}

// checks drives n reclamation checks and returns them once each finished.
func checks(t *testing.T, c *testkit.Cluster, n int, interval time.Duration) []master.ReclaimChecked {
	t.Helper()
	isCheck := func(ev any) bool { _, ok := ev.(master.ReclaimChecked); return ok }
	var out []master.ReclaimChecked
	for i := 0; i < n; i++ {
		ev := c.AdvanceUntil(t, c.Events.Mark(), interval+5*time.Second, isCheck)
		out = append(out, ev.(master.ReclaimChecked))
	}
	return out
}

package agent_test

import (
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
)

// A task group's default executor with resources, agent and master
// together: the group's parent cgroup is launched limited to the
// executor's resources plus its tasks'; the master charges the executor
// with the group, keeps charging it while a task of the group runs, and
// frees it when the group's last task ends (the agent's default executor
// ends then, and the agent says so with ExecutorExited).
func TestTaskGroupExecutorResourcesChargedUntilItsLastTaskEnds(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	var mu sync.Mutex
	specs := map[string]containerizer.LaunchSpec{}
	sim := testkit.SimContainerizer{Clock: clock, Duration: func(spec containerizer.LaunchSpec) time.Duration {
		mu.Lock()
		specs[spec.Env["AGORA_TASK_ID"]] = spec
		mu.Unlock()
		if spec.Env["AGORA_TASK_ID"] == "short" {
			return 5 * time.Second
		}
		return 10 * time.Second
	}}
	addAgent(t, c, testkit.AgentSpec{Containerizer: sim, WorkDir: t.TempDir()})
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &groupLauncher{
		executor: &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "pod"}, Resources: scheduler.Resources("cpus:0.5;mem:128")},
		tasks: []*messages.TaskInfo{
			scheduler.Command("short", "true", scheduler.Resources("cpus:0.25;mem:32")),
			scheduler.Command("long", "true", scheduler.Resources("cpus:0.5;mem:64")),
		}})
	for _, id := range []string{"short", "long"} {
		c.Events.WaitFor(t, testkit.IsStatus("fw", id, messages.TaskState_TASK_RUNNING))
	}
	mu.Lock()
	for id, s := range specs {
		if s.CgroupParent == "" || s.ParentCPUs != 1.25 || s.ParentMemMB != 224 {
			t.Errorf("task %s launched under parent %q limited to cpus %v mem %v, want the executor's and both tasks': 1.25 and 224",
				id, s.CgroupParent, s.ParentCPUs, s.ParentMemMB)
		}
	}
	mu.Unlock()
	used := func(want string) {
		t.Helper()
		c.StateWhere(t, func(s *messages.MasterState) bool {
			return len(s.Agents) == 1 && messages.FormatResources(s.Agents[0].Used) == want
		})
	}
	used("cpus:1.25;mem:224")
	clock.Advance(5 * time.Second)
	c.Events.WaitFor(t, testkit.IsStatus("fw", "short", messages.TaskState_TASK_FINISHED))
	used("cpus:1;mem:192") // the executor runs on with its other task
	clock.Advance(5 * time.Second)
	c.Events.WaitFor(t, testkit.IsStatus("fw", "long", messages.TaskState_TASK_FINISHED))
	used("")
}

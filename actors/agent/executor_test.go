package agent_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/executor"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
)

// The executor protocol in one process: the agent starts an executor for
// two tasks (simulated: no process), the executor actor registers, is sent
// both tasks, runs them, and framework messages go both ways.
func TestExecutorProtocolAndFrameworkMessages(t *testing.T) {
	c, agentPID, started := twoTasksOnExecutor(t, func(c *testkit.Cluster, agentPID *actor.PID, d *scheduler.Driver, ev *messages.StatusUpdate) {
		d.SendFrameworkMessage(ev.Status.AgentId.Value, "ex", []byte("ping"))
	})

	// The executor: runs every task until the scheduler says ping, then
	// answers pong and finishes them.
	var tasks []string
	c.Spawn(executor.Props(executor.Config{Agent: agentPID, FrameworkID: started.FrameworkID, ExecutorID: "ex"},
		executor.HandlerFunc(func(d *executor.Driver, ev any) {
			switch ev := ev.(type) {
			case *messages.LaunchTask:
				tasks = append(tasks, ev.Task.TaskId.Value)
				d.SendStatus(ev.Task.TaskId.Value, messages.TaskState_TASK_RUNNING, "", nil)
			case *messages.FrameworkToExecutor:
				if string(ev.Data) == "ping" {
					d.SendFrameworkMessage([]byte("pong"))
					for _, id := range tasks {
						d.SendStatus(id, messages.TaskState_TASK_FINISHED, "", nil)
					}
				}
			}
		})))
	c.Events.WaitFor(t, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		m, isMsg := se.Event.(*messages.ExecutorToFramework)
		return ok && isMsg && string(m.Data) == "pong" && m.GetExecutorId().GetValue() == "ex"
	})
	for _, id := range []string{"t1", "t2"} {
		c.Events.WaitFor(t, testkit.IsStatus("fw", id, messages.TaskState_TASK_FINISHED))
	}
}

// An executor's update that its executor did not send is refused (issue
// 14: any peer could report a task over, and the master freed what its
// process still used): t1 ends FINISHED, as its executor says, not FAILED
// as the forgery said.
func TestExecutorUpdateOnlyFromTheExecutor(t *testing.T) {
	c, agentPID, started := twoTasksOnExecutor(t, func(c *testkit.Cluster, agentPID *actor.PID, d *scheduler.Driver, ev *messages.StatusUpdate) {
		// Forged: t1 failed, from a framework's certificate
		// and no sender (so not the executor's PID), then the
		// same with no executor named. The agent takes them
		// before the ping that makes the executor finish t1.
		for _, ex := range []string{"ex", ""} {
			c.System.Root.Send(agentPID, &actor.MessageEnvelope{Header: security.Identity{Role: security.RoleFramework, Name: "evil"}.Header(),
				Message: &messages.ExecutorStatusUpdate{FrameworkId: ev.FrameworkId, ExecutorId: &messages.ExecutorID{Value: ex},
					Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: "t1"}, State: messages.TaskState_TASK_FAILED}, Uuid: []byte("forged")}})
		}
		d.SendFrameworkMessage(ev.Status.AgentId.Value, "ex", []byte("ping"))
	})

	// The executor: runs every task until the scheduler says ping, then
	// answers pong and finishes them.
	var tasks []string
	c.Spawn(executor.Props(executor.Config{Agent: agentPID, FrameworkID: started.FrameworkID, ExecutorID: "ex"},
		executor.HandlerFunc(func(d *executor.Driver, ev any) {
			switch ev := ev.(type) {
			case *messages.LaunchTask:
				tasks = append(tasks, ev.Task.TaskId.Value)
				d.SendStatus(ev.Task.TaskId.Value, messages.TaskState_TASK_RUNNING, "", nil)
			case *messages.FrameworkToExecutor:
				if string(ev.Data) == "ping" {
					d.SendFrameworkMessage([]byte("pong"))
					for _, id := range tasks {
						d.SendStatus(id, messages.TaskState_TASK_FINISHED, "", nil)
					}
				}
			}
		})))
	c.Events.WaitFor(t, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		m, isMsg := se.Event.(*messages.ExecutorToFramework)
		return ok && isMsg && string(m.Data) == "pong" && m.GetExecutorId().GetValue() == "ex"
	})
	for _, id := range []string{"t1", "t2"} {
		c.Events.WaitFor(t, testkit.IsStatus("fw", id, messages.TaskState_TASK_FINISHED))
	}
}

// A framework shuts its executor down (Mesos' SHUTDOWN call): the master
// passes it to the agent, which tells the executor; the executor ends its
// tasks, and they are reported TASK_KILLED with REASON_EXECUTOR_TERMINATED,
// whatever reason the executor gave.
func TestFrameworkShutsItsExecutorDown(t *testing.T) {
	c, agentPID, started := twoTasksOnExecutor(t, func(c *testkit.Cluster, agentPID *actor.PID, d *scheduler.Driver, ev *messages.StatusUpdate) {
		d.ShutdownExecutor(ev.Status.AgentId.Value, "nope")
		d.ShutdownExecutor(ev.Status.AgentId.Value, "ex")
	})

	var tasks []string
	c.Spawn(executor.Props(executor.Config{Agent: agentPID, FrameworkID: started.FrameworkID, ExecutorID: "ex"},
		executor.HandlerFunc(func(d *executor.Driver, ev any) {
			switch ev := ev.(type) {
			case *messages.LaunchTask:
				tasks = append(tasks, ev.Task.TaskId.Value)
				d.SendStatus(ev.Task.TaskId.Value, messages.TaskState_TASK_RUNNING, "", nil)
			case *messages.ShutdownExecutor:
				for _, id := range tasks {
					d.SendStatus(id, messages.TaskState_TASK_KILLED, "shutting down", nil)
				}
			}
		})))
	refused := c.Events.WaitFor(t, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		_, isErr := se.Event.(*messages.Error)
		return ok && isErr
	}).(testkit.SchedulerEvent).Event.(*messages.Error)
	if refused.Code != messages.Error_INVALID_ARGUMENT || !strings.Contains(refused.Message, "no executor nope") {
		t.Fatalf("shutting down an unknown executor: got %s %q, want INVALID_ARGUMENT naming it", refused.Code, refused.Message)
	}
	for _, id := range []string{"t1", "t2"} {
		ev := c.Events.WaitFor(t, testkit.IsStatus("fw", id, messages.TaskState_TASK_KILLED)).(testkit.SchedulerEvent)
		if r := ev.Event.(*messages.StatusUpdate).Status.Reason; r != messages.TaskStatusReason_REASON_EXECUTOR_TERMINATED {
			t.Fatalf("%s killed with reason %s, want REASON_EXECUTOR_TERMINATED", id, r)
		}
	}
}

// An executor told to shut down that does not end its tasks is killed
// after the grace period, and the agent reports its tasks TASK_KILLED
// (REASON_EXECUTOR_TERMINATED) itself.
func TestExecutorThatIgnoresShutdownIsKilledAfterTheGracePeriod(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	agentPID := addAgent(t, c, testkit.AgentSpec{Containerizer: testkit.SimContainerizer{Clock: clock}, WorkDir: t.TempDir()})
	execInfo := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "ex"}, Command: &messages.CommandInfo{Value: "/unused"}}
	var launched sync.Once
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		switch ev := ev.(type) {
		case *messages.Offers:
			launched.Do(func() {
				d.Launch(ev.Offers[:1], &messages.TaskInfo{Name: "t1", TaskId: &messages.TaskID{Value: "t1"}, Executor: execInfo,
					Resources: scheduler.Resources("cpus:0.5;mem:64")})
			})
		case *messages.StatusUpdate:
			if ev.Status.State == messages.TaskState_TASK_RUNNING {
				d.ShutdownExecutor(ev.Status.AgentId.Value, "ex")
			}
		}
	}))
	started := c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(agent.ExecutorLaunched); return ok }).(agent.ExecutorLaunched)

	told := make(chan struct{})
	c.Spawn(executor.Props(executor.Config{Agent: agentPID, FrameworkID: started.FrameworkID, ExecutorID: "ex"},
		executor.HandlerFunc(func(d *executor.Driver, ev any) {
			switch ev := ev.(type) {
			case *messages.LaunchTask:
				d.SendStatus(ev.Task.TaskId.Value, messages.TaskState_TASK_RUNNING, "", nil)
			case *messages.ShutdownExecutor:
				close(told) // and ignores it
			}
		})))
	c.Events.WaitFor(t, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_RUNNING))
	select {
	case <-told:
	case <-time.After(30 * time.Second):
		t.Fatal("the executor was never told to shut down")
	}
	clock.Advance(agent.ExecutorShutdownGracePeriod)
	ev := c.Events.WaitFor(t, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_KILLED)).(testkit.SchedulerEvent)
	if st := ev.Event.(*messages.StatusUpdate).Status; st.Reason != messages.TaskStatusReason_REASON_EXECUTOR_TERMINATED || !strings.Contains(st.Message, "did not exit") {
		t.Fatalf("t1 killed with %s %q; want REASON_EXECUTOR_TERMINATED saying the executor did not exit", st.Reason, st.Message)
	}
}

// Mesos' accounting of an executor, agent and master together: the
// executor's container is launched with its resources and its first task's
// as limits; the master charges the executor's resources with the task's,
// keeps charging them once the task ended while the executor runs, and
// frees them when the agent reports the executor's exit (ExecutorExited).
func TestExecutorResourcesChargedUntilItExits(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	// The executor's container is launched in the background: the test
	// waits for it here before reading its limits and moving the clock
	// (its process's end is timed from its launch).
	execLaunched := make(chan containerizer.LaunchSpec, 1)
	sim := testkit.SimContainerizer{Clock: clock, Duration: func(spec containerizer.LaunchSpec) time.Duration {
		if !strings.Contains(spec.ID, ".executor.") {
			return 0
		}
		execLaunched <- spec
		return 10 * time.Second // the executor's process exits then
	}}
	agentPID := addAgent(t, c, testkit.AgentSpec{Containerizer: sim, WorkDir: t.TempDir()})
	execInfo := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "ex"}, Command: &messages.CommandInfo{Value: "/unused"},
		Resources: scheduler.Resources("cpus:0.5;mem:128")}
	var launched sync.Once
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		if ev, ok := ev.(*messages.Offers); ok {
			launched.Do(func() {
				d.Launch(ev.Offers[:1], &messages.TaskInfo{Name: "t1", TaskId: &messages.TaskID{Value: "t1"}, Executor: execInfo,
					Resources: scheduler.Resources("cpus:0.5;mem:64")})
			})
		}
	}))
	started := c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(agent.ExecutorLaunched); return ok }).(agent.ExecutorLaunched)
	finish := make(chan struct{})
	c.Spawn(executor.Props(executor.Config{Agent: agentPID, FrameworkID: started.FrameworkID, ExecutorID: "ex"},
		executor.HandlerFunc(func(d *executor.Driver, ev any) {
			if ev, ok := ev.(*messages.LaunchTask); ok {
				d.SendStatus(ev.Task.TaskId.Value, messages.TaskState_TASK_RUNNING, "", nil)
				go func() {
					<-finish
					d.SendStatus(ev.Task.TaskId.Value, messages.TaskState_TASK_FINISHED, "", nil)
				}()
			}
		})))
	c.Events.WaitFor(t, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_RUNNING))
	var execSpec containerizer.LaunchSpec
	select {
	case execSpec = <-execLaunched:
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the executor's container was never launched")
	}
	if execSpec.CPUs != 1 || execSpec.MemMB != 192 {
		t.Errorf("executor container limits cpus %v mem %v, want its own and its task's: 1 and 192", execSpec.CPUs, execSpec.MemMB)
	}
	used := func(want string) {
		t.Helper()
		c.StateWhere(t, func(s *messages.MasterState) bool {
			return len(s.Agents) == 1 && messages.FormatResources(s.Agents[0].Used) == want
		})
	}
	used("cpus:1;mem:192")
	close(finish)
	c.Events.WaitFor(t, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_FINISHED))
	used("cpus:0.5;mem:128") // the executor runs on without a task
	clock.Advance(10 * time.Second)
	c.Events.WaitFor(t, func(ev any) bool { e, ok := ev.(agent.ExecutorEnded); return ok && e.ExecutorID == "ex" })
	used("")
}

// twoTasksOnExecutor starts a cluster of one agent (simulated containers)
// and a framework launching t1 and t2 on its executor "ex", calling
// bothRunning with the second TASK_RUNNING; it returns once the agent has
// launched the executor (the test spawns the executor actor then).
func twoTasksOnExecutor(t *testing.T, bothRunning func(c *testkit.Cluster, agentPID *actor.PID, d *scheduler.Driver, ev *messages.StatusUpdate)) (*testkit.Cluster, *actor.PID, agent.ExecutorLaunched) {
	t.Helper()
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	agentPID := addAgent(t, c, testkit.AgentSpec{Containerizer: testkit.SimContainerizer{Clock: clock}, WorkDir: t.TempDir()})
	execInfo := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "ex"}, Command: &messages.CommandInfo{Value: "/unused"}}
	var launched sync.Once
	running := 0
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		switch ev := ev.(type) {
		case *messages.Offers:
			launched.Do(func() {
				var tasks []*messages.TaskInfo
				for _, id := range []string{"t1", "t2"} {
					tasks = append(tasks, &messages.TaskInfo{Name: id, TaskId: &messages.TaskID{Value: id}, Executor: execInfo,
						Resources: scheduler.Resources("cpus:0.5;mem:64")})
				}
				d.Launch(ev.Offers[:1], tasks...)
			})
		case *messages.StatusUpdate:
			if ev.Status.State == messages.TaskState_TASK_RUNNING {
				if running++; running == 2 {
					bothRunning(c, agentPID, d, ev)
				}
			}
		}
	}))
	return c, agentPID, c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(agent.ExecutorLaunched); return ok }).(agent.ExecutorLaunched)
}

package agent_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"google.golang.org/protobuf/proto"
)

// groupContainerizer records what each task was launched with, and runs
// each container until the test ends it (exit) or the agent kills it. Its
// containers share their network as Docker's do.
type groupContainerizer struct {
	mu       sync.Mutex
	launched chan containerizer.LaunchSpec
	running  map[string]*heldContainer // by task ID
	removed  chan string               // parents of RemoveGroup
}

func newGroupContainerizer() *groupContainerizer {
	return &groupContainerizer{launched: make(chan containerizer.LaunchSpec, 16), running: map[string]*heldContainer{}, removed: make(chan string, 4)}
}

func (g *groupContainerizer) Launch(_ context.Context, spec containerizer.LaunchSpec) (containerizer.Container, error) {
	c := &heldContainer{id: spec.ID, done: make(chan containerizer.Exit, 1)}
	g.mu.Lock()
	g.running[spec.Env["AGORA_TASK_ID"]] = c
	g.mu.Unlock()
	g.launched <- spec
	return c, nil
}

func (g *groupContainerizer) RemoveGroup(parent string) error {
	g.removed <- parent
	return nil
}

// exit ends task's container as code says.
func (g *groupContainerizer) exit(task string, code int) {
	g.mu.Lock()
	c := g.running[task]
	g.mu.Unlock()
	c.end(containerizer.Exit{Code: code})
}

type heldContainer struct {
	id   string
	once sync.Once
	done chan containerizer.Exit
}

func (c *heldContainer) end(e containerizer.Exit) { c.once.Do(func() { c.done <- e }) }

func (c *heldContainer) Wait(ctx context.Context) (containerizer.Exit, error) {
	select {
	case e := <-c.done:
		return e, nil
	case <-ctx.Done():
		return containerizer.Exit{}, ctx.Err()
	}
}

func (c *heldContainer) Kill(time.Duration) {
	c.end(containerizer.Exit{Code: 143, Signal: "terminated", Killed: true})
}

func (c *heldContainer) SharedNetwork() string { return "container:" + c.id }

func runTaskGroup(executor string, tasks ...*messages.TaskInfo) *messages.RunTaskGroup {
	fw := &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "fw"}, Name: "fw"}
	member := &messages.TaskGroupMembership{ExecutorId: &messages.ExecutorID{Value: executor}}
	for _, t := range tasks {
		member.TaskIds = append(member.TaskIds, t.TaskId)
	}
	g := &messages.RunTaskGroup{Executor: &messages.ExecutorInfo{ExecutorId: member.ExecutorId}, MasterEpoch: 1}
	for _, t := range tasks {
		g.Tasks = append(g.Tasks, &messages.RunTask{Framework: fw, Task: t, Role: "r", MasterEpoch: 1, Group: member})
	}
	return g
}

func groupTask(id string, docker bool) *messages.TaskInfo {
	t := &messages.TaskInfo{Name: id, TaskId: &messages.TaskID{Value: id}, Command: &messages.CommandInfo{Value: "sleep 100", Shell: true},
		Resources: []*messages.Resource{{Name: "cpus", Scalar: 0.1}}}
	if docker {
		t.Container = &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "busybox"}}
	}
	return t
}

// waitStates reads the agent's status updates until each task in want has
// reached its state, and fails on a terminal state other than the one
// wanted.
func waitStates(t *testing.T, sent <-chan sentMsg, want map[string]messages.TaskState) map[string]*messages.TaskStatus {
	t.Helper()
	got := map[string]*messages.TaskStatus{}
	for len(got) < len(want) {
		m := next(t, sent, "the group's status updates", isUpdate).msg.(*messages.StatusUpdate)
		st := m.Status
		id := st.TaskId.GetValue()
		w, ok := want[id]
		switch {
		case !ok || got[id] != nil:
		case st.State == w:
			got[id] = st
		case messages.IsTerminal(st.State):
			t.Fatalf("task %s ended %s (%q), want %s", id, st.State, st.Message, w)
		}
	}
	return got
}

// A task group in the default executor: every task is launched under one
// cgroup parent; the Docker tasks after the first start only once it runs,
// in its network namespace; a task that finishes leaves the others
// running, one that fails has the agent kill the rest (Mesos' default
// executor), and the group's parent is removed once all have ended.
func TestTaskGroupSharesCgroupAndNetworkAndEndsTogether(t *testing.T) {
	ctr := newGroupContainerizer()
	sys, pid, sent := registeredAgentWith(t, testkit.NewFakeClock(), agent.Config{Containerizer: ctr, Docker: ctr}, nil)
	sys.Root.Send(pid, runTaskGroup("pod", groupTask("web", true), groupTask("side", true), groupTask("log", false), groupTask("once", false)))

	specs := map[string]containerizer.LaunchSpec{}
	for range 4 {
		select {
		case s := <-ctr.launched:
			specs[s.Env["AGORA_TASK_ID"]] = s
		case <-time.After(testkit.WaitTimeout):
			t.Fatalf("launched %d of the group's 4 tasks", len(specs))
		}
	}
	parent := specs["web"].CgroupParent
	for id, s := range specs {
		if s.CgroupParent == "" || s.CgroupParent != parent {
			t.Errorf("task %s launched under cgroup parent %q, want the group's one (%q)", id, s.CgroupParent, parent)
		}
	}
	if got := specs["web"].Container.GetDocker().GetNetwork(); got != "" {
		t.Errorf("the first Docker task's network = %q, want its own (the default)", got)
	}
	if got, want := specs["side"].Container.GetDocker().GetNetwork(), "container:"+specs["web"].ID; got != want {
		t.Errorf("the second Docker task's network = %q, want the first one's namespace %q", got, want)
	}
	waitStates(t, sent, map[string]messages.TaskState{"web": messages.TaskState_TASK_RUNNING, "side": messages.TaskState_TASK_RUNNING,
		"log": messages.TaskState_TASK_RUNNING, "once": messages.TaskState_TASK_RUNNING})

	ctr.exit("once", 0)
	waitStates(t, sent, map[string]messages.TaskState{"once": messages.TaskState_TASK_FINISHED})
	ctr.exit("side", 1)
	got := waitStates(t, sent, map[string]messages.TaskState{"side": messages.TaskState_TASK_FAILED,
		"web": messages.TaskState_TASK_KILLED, "log": messages.TaskState_TASK_KILLED})
	for _, id := range []string{"web", "log"} {
		if msg := got[id].Message; !strings.Contains(msg, "task side of the group ended TASK_FAILED") {
			t.Errorf("task %s killed with message %q, want it to name the task that failed", id, msg)
		}
	}
	select {
	case p := <-ctr.removed:
		if p != parent {
			t.Errorf("removed group %q, want %q", p, parent)
		}
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the group's parent cgroup was never removed")
	}
}

// A kill of one task of a group (by its framework) kills the whole group,
// as Mesos' default executor does.
func TestKillingOneTaskOfAGroupKillsTheGroup(t *testing.T) {
	ctr := newGroupContainerizer()
	sys, pid, sent := registeredAgentWith(t, testkit.NewFakeClock(), agent.Config{Containerizer: ctr}, nil)
	sys.Root.Send(pid, runTaskGroup("pod", groupTask("a", false), groupTask("b", false)))
	waitStates(t, sent, map[string]messages.TaskState{"a": messages.TaskState_TASK_RUNNING, "b": messages.TaskState_TASK_RUNNING})
	sys.Root.Send(pid, &messages.KillTask{FrameworkId: &messages.FrameworkID{Value: "fw"}, TaskId: &messages.TaskID{Value: "a"}, MasterEpoch: 1})
	waitStates(t, sent, map[string]messages.TaskState{"a": messages.TaskState_TASK_KILLED, "b": messages.TaskState_TASK_KILLED})
}

// A group whose first Docker task cannot start never starts the tasks
// waiting to join its network: they end TASK_KILLED with the group.
func TestGroupWhoseNetworkOwnerFailsEndsWaitingTasks(t *testing.T) {
	ctr := newGroupContainerizer()
	// Docker tasks on an agent without a Docker engine fail to launch.
	sys, pid, sent := registeredAgentWith(t, testkit.NewFakeClock(), agent.Config{Containerizer: ctr}, nil)
	g := runTaskGroup("pod", groupTask("d1", true), groupTask("d2", true))
	sys.Root.Send(pid, proto.Clone(g))
	got := waitStates(t, sent, map[string]messages.TaskState{"d1": messages.TaskState_TASK_FAILED, "d2": messages.TaskState_TASK_KILLED})
	if !strings.Contains(got["d2"].Message, "task d1 of the group ended TASK_FAILED") {
		t.Errorf("waiting task ended with %q, want it to name the task that failed", got["d2"].Message)
	}
}

// A framework's SHUTDOWN of a task group's default executor kills every
// task of the group with REASON_EXECUTOR_TERMINATED.
func TestShutdownOfAGroupsExecutorKillsTheGroup(t *testing.T) {
	ctr := newGroupContainerizer()
	sys, pid, sent := registeredAgentWith(t, testkit.NewFakeClock(), agent.Config{Containerizer: ctr}, nil)
	sys.Root.Send(pid, runTaskGroup("pod", groupTask("a", false), groupTask("b", false)))
	waitStates(t, sent, map[string]messages.TaskState{"a": messages.TaskState_TASK_RUNNING, "b": messages.TaskState_TASK_RUNNING})
	sys.Root.Send(pid, &messages.KillExecutor{FrameworkId: &messages.FrameworkID{Value: "fw"}, ExecutorId: &messages.ExecutorID{Value: "pod"}, MasterEpoch: 1})
	got := waitStates(t, sent, map[string]messages.TaskState{"a": messages.TaskState_TASK_KILLED, "b": messages.TaskState_TASK_KILLED})
	for id, st := range got {
		if st.Reason != messages.TaskStatusReason_REASON_EXECUTOR_TERMINATED || st.GetExecutorId().GetValue() != "pod" {
			t.Errorf("task %s ended with reason %s in executor %q; want REASON_EXECUTOR_TERMINATED in pod", id, st.Reason, st.GetExecutorId().GetValue())
		}
	}
}

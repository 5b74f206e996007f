package agent_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"google.golang.org/protobuf/proto"
)

// probeEngine stands for what launches executors (the Docker engine, the
// agent's own containerizer): each launch publishes whether the
// executor's checkpoint was on disk by then, and each Destroy (what a
// restarted agent ends) the container it names. Its containers run until
// the agent stops.
type probeEngine struct {
	c       *testkit.Cluster
	workDir string
}

type probedLaunch struct {
	id           string
	checkpointed bool
}

type probedDestroy struct{ id string }

func (p probeEngine) Launch(_ context.Context, spec containerizer.LaunchSpec) (containerizer.Container, error) {
	fw, ex, _ := strings.Cut(spec.ID, ".executor.")
	_, err := os.Stat(agent.ExecutorCheckpointPath(p.workDir, fw, ex))
	p.c.System.EventStream.Publish(probedLaunch{id: spec.ID, checkpointed: err == nil})
	return stuckContainer{}, nil
}

func (p probeEngine) Destroy(_ context.Context, id, _ string) error {
	p.c.System.EventStream.Publish(probedDestroy{id: id})
	return nil
}

// An executor is checkpointed before its container is launched, as Mesos
// checkpoints an executor before launching it and as a task's STARTING
// checkpoint precedes its launch: an agent that dies after the launch and
// before its executor registered (here, a Docker executor and a process
// one that never register) finds both checkpoints when it restarts, ends
// what the launches started (Destroy, by the executors' container IDs:
// Docker's label, a process's cgroup or sandbox), and fails their tasks
// once, rather than leaving the containers orphaned.
func TestExecutorCheckpointedBeforeItsLaunch(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	workDir := t.TempDir()
	probe := probeEngine{c: c, workDir: workDir}
	first := addAgent(t, c, testkit.AgentSpec{Hostname: "node1", Containerizer: probe, Docker: probe, WorkDir: workDir})
	boxed := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "boxed"}, Command: &messages.CommandInfo{Value: "/executor"},
		Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "agora/busybox:test"}}}
	plain := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "plain"}, Command: &messages.CommandInfo{Value: "/executor"}}
	var once sync.Once
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}, Checkpoint: proto.Bool(true)}, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		if o, ok := ev.(*messages.Offers); ok {
			once.Do(func() {
				d.Launch(o.Offers[:1],
					&messages.TaskInfo{Name: "t1", TaskId: &messages.TaskID{Value: "t1"}, Executor: boxed, Resources: scheduler.Resources("cpus:0.5;mem:64")},
					&messages.TaskInfo{Name: "t2", TaskId: &messages.TaskID{Value: "t2"}, Executor: plain, Resources: scheduler.Resources("cpus:0.5;mem:64")})
			})
		}
	}))
	launched := map[string]bool{}
	for len(launched) < 2 {
		l := c.Events.WaitForSince(t, 0, func(ev any) bool {
			l, ok := ev.(probedLaunch)
			_, seen := launched[l.id]
			return ok && !seen
		}).(probedLaunch)
		if !l.checkpointed {
			t.Fatalf("container %s was launched before its executor's checkpoint was on disk: an agent dying then would orphan it", l.id)
		}
		launched[l.id] = true
	}

	crash(c, first)
	mark := c.Events.Mark()
	addAgent(t, c, testkit.AgentSpec{Hostname: "node1", Containerizer: probe, Docker: probe, WorkDir: workDir})
	c.Events.WaitForSince(t, mark, func(ev any) bool { r, ok := ev.(master.AgentAdmitted); return ok && r.Reregistered })
	for id := range launched {
		c.Events.WaitForSince(t, mark, func(ev any) bool { d, ok := ev.(probedDestroy); return ok && d.id == id })
	}
	// Their tasks had not started (queued for executors that never
	// registered): the restarted agent re-registers without them, and the
	// master ends each once.
	for _, task := range []string{"t1", "t2"} {
		st := c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", task, messages.TaskState_TASK_LOST)).(testkit.SchedulerEvent).Event.(*messages.StatusUpdate).Status
		if st.Reason != messages.TaskStatusReason_REASON_AGENT_RESTARTED {
			t.Errorf("%s ended %s %q; want REASON_AGENT_RESTARTED", task, st.Reason, st.Message)
		}
	}
	terminal := func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		u, isUpdate := se.Event.(*messages.StatusUpdate)
		return ok && isUpdate && messages.IsTerminal(u.Status.State)
	}
	if n := c.Events.Count(0, terminal); n != 2 {
		t.Fatalf("%d terminal updates; want one for each task", n)
	}
}

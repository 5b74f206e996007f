package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/executor"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"google.golang.org/protobuf/proto"
)

// Issue 17 item 5 with the real engine. The executor's process is the
// container's command (busybox: it runs until its sandbox holds "exit");
// its actor, which registers and runs the tasks, is in the test's process,
// which stands in for the executor's own remoting. It writes "exit" into
// the sandbox when the agent tells it to shut down: so the container ends
// as a real executor's would.

const dockerExecutorCommand = `echo "executor $AGORA_EXECUTOR_ID sandbox $MESOS_SANDBOX"; ` +
	`while [ ! -e "$MESOS_SANDBOX/exit" ]; do sleep 0.1; done; echo bye`

func dockerEngine(t *testing.T) *containerizer.Docker {
	t.Helper()
	d, err := containerizer.NewDocker()
	if err != nil {
		t.Fatalf("this test needs the Docker engine: %v", err)
	}
	if _, err := d.Client.ImageInspect(t.Context(), "agora/busybox:test"); err != nil {
		d.Close()
		t.Fatalf("test image agora/busybox:test missing: run `make images` (make test does): %v", err)
	}
	return d
}

func dockerExecutorInfo() *messages.ExecutorInfo {
	return &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "boxed"}, Resources: scheduler.Resources("cpus:0.1;mem:32"),
		Command:   &messages.CommandInfo{Value: dockerExecutorCommand, Shell: true},
		Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "agora/busybox:test"}}}
}

// finishTask tells the test's executor to finish a task.
type finishTask struct{ id string }

// boxedExecutor spawns the executor's actor: it runs each task it is
// given until told to finish it, and ends its container when told to
// shut down. reconnected is closed when a restarted agent asks it back.
func boxedExecutor(t *testing.T, c *testkit.Cluster, agentPID *actor.PID, fw, sandbox string) (pid *actor.PID, reconnected chan struct{}) {
	reconnected = make(chan struct{})
	var once sync.Once
	pid = c.Spawn(executor.Props(executor.Config{Agent: agentPID, FrameworkID: fw, ExecutorID: "boxed"},
		executor.HandlerFunc(func(d *executor.Driver, ev any) {
			switch ev := ev.(type) {
			case *messages.LaunchTask:
				d.SendStatus(ev.Task.TaskId.Value, messages.TaskState_TASK_RUNNING, "", nil)
			case finishTask:
				d.SendStatus(ev.id, messages.TaskState_TASK_FINISHED, "", nil)
			case *messages.ReconnectExecutor:
				once.Do(func() { close(reconnected) })
			case *messages.ShutdownExecutor:
				if err := os.WriteFile(filepath.Join(sandbox, "exit"), nil, 0o644); err != nil {
					t.Errorf("end the executor's container: %v", err)
				}
			}
		})))
	return pid, reconnected
}

// executorContainer is the running container labelled as the executor's.
func executorContainer(t *testing.T, d *containerizer.Docker, id string) container.InspectResponse {
	t.Helper()
	list, err := d.Client.ContainerList(t.Context(), container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", containerizer.LabelTask+"="+id))})
	if err != nil || len(list) != 1 {
		t.Fatalf("the executor's container (label %s=%s): %v %v", containerizer.LabelTask, id, list, err)
	}
	st, err := d.Client.ContainerInspect(t.Context(), list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// noContainerLeft fails the test if any container of id is left, running
// or not.
func noContainerLeft(t *testing.T, d *containerizer.Docker, id string) {
	t.Helper()
	list, err := d.Client.ContainerList(t.Context(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", containerizer.LabelTask+"="+id))})
	if err != nil || len(list) != 0 {
		t.Fatalf("the executor's container outlived it: %v %v", list, err)
	}
}

func resizedTo(memMB float64) func(any) bool {
	return func(ev any) bool {
		r, ok := ev.(agent.ExecutorResized)
		return ok && r.ExecutorID == "boxed" && r.MemMB == memMB
	}
}

// launchTwo launches tasks t1 and t2 (cpus:0.5;mem:64 each) on executor
// info, on the first offer.
func launchTwo(info *messages.ExecutorInfo) scheduler.Handler {
	var once sync.Once
	return scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		if o, ok := ev.(*messages.Offers); ok {
			once.Do(func() {
				var tasks []*messages.TaskInfo
				for _, id := range []string{"t1", "t2"} {
					tasks = append(tasks, &messages.TaskInfo{Name: id, TaskId: &messages.TaskID{Value: id}, Executor: info, Resources: scheduler.Resources("cpus:0.5;mem:64")})
				}
				d.Launch(o.Offers[:1], tasks...)
			})
		}
	})
}

// An executor whose ExecutorInfo.container is DOCKER runs in a container
// of its image: on the host's network, its sandbox mounted at
// /mnt/mesos/sandbox (MESOS_SANDBOX), its cpu and memory limits its own
// resources and its live tasks' (executor 0.1/32 + two tasks of 0.5/64:
// 1.1 cpus, 160 MiB), shrinking when a task ends (96 MiB). When its last
// task ends the agent tells it to shut down; it exits, its container is
// removed, and the master frees its resources (ExecutorExited).
func TestExecutorInDockerContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := dockerEngine(t)
	t.Cleanup(d.Close)
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	workDir := t.TempDir()
	agentPID := addAgent(t, c, testkit.AgentSpec{Docker: d, WorkDir: workDir})
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, launchTwo(dockerExecutorInfo()))
	started := c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(agent.ExecutorLaunched); return ok }).(agent.ExecutorLaunched)
	id := started.FrameworkID + ".executor.boxed"
	t.Cleanup(func() { _ = d.Destroy(context.Background(), id, "") }) // should the test fail before it ends
	sandbox, err := containerizer.SandboxPath(workDir, started.FrameworkID, "executor.boxed")
	if err != nil {
		t.Fatal(err)
	}
	exec, _ := boxedExecutor(t, c, agentPID, started.FrameworkID, sandbox)
	for _, task := range []string{"t1", "t2"} {
		c.Events.WaitFor(t, testkit.IsStatus("fw", task, messages.TaskState_TASK_RUNNING))
	}

	c.Events.WaitFor(t, resizedTo(160)) // its container runs, with both tasks
	st := executorContainer(t, d, id)
	const mib = 1 << 20
	if st.HostConfig.Memory != 160*mib || st.HostConfig.MemorySwap != 160*mib || st.HostConfig.NanoCPUs != 11e8 {
		t.Fatalf("the executor's container with two tasks: memory %d swap %d nano-cpus %d; want 160 MiB, no swap beyond, 1.1 cpus",
			st.HostConfig.Memory, st.HostConfig.MemorySwap, st.HostConfig.NanoCPUs)
	}
	if !st.HostConfig.NetworkMode.IsHost() || st.Config.Image != "agora/busybox:test" {
		t.Fatalf("the executor's container: image %s network %s; want agora/busybox:test on the host's", st.Config.Image, st.HostConfig.NetworkMode)
	}
	mounted := false
	for _, m := range st.Mounts {
		mounted = mounted || m.Source == sandbox && m.Destination == containerizer.ContainerSandbox
	}
	if !mounted {
		t.Fatalf("the executor's sandbox %s is not mounted at %s: %+v", sandbox, containerizer.ContainerSandbox, st.Mounts)
	}

	mark := c.Events.Mark()
	c.System.Root.Send(exec, finishTask{id: "t1"})
	c.Events.WaitFor(t, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_FINISHED))
	c.Events.WaitForSince(t, mark, resizedTo(96))
	if st := executorContainer(t, d, id); st.HostConfig.Memory != 96*mib || st.HostConfig.NanoCPUs != 6e8 {
		t.Fatalf("the executor's container once t1 ended: memory %d nano-cpus %d; want 96 MiB and 0.6 cpus", st.HostConfig.Memory, st.HostConfig.NanoCPUs)
	}

	c.System.Root.Send(exec, finishTask{id: "t2"})
	c.Events.WaitFor(t, testkit.IsStatus("fw", "t2", messages.TaskState_TASK_FINISHED))
	c.Events.WaitFor(t, func(ev any) bool { e, ok := ev.(agent.ExecutorEnded); return ok && e.ExecutorID == "boxed" })
	noContainerLeft(t, d, id)
	out, _ := os.ReadFile(filepath.Join(sandbox, "stdout"))
	if want := "executor boxed sandbox /mnt/mesos/sandbox\nbye\n"; string(out) != want {
		t.Fatalf("the executor's output in its sandbox: %q, want %q", out, want)
	}
	c.StateWhere(t, func(s *messages.MasterState) bool {
		return len(s.Agents) == 1 && messages.FormatResources(s.Agents[0].Used) == ""
	})
}

// An agent that crashes while its executor runs in a Docker container,
// and starts again with the same work dir and a new engine client, finds
// the container again by its label (the executor keeps running), asks the
// executor to re-register, and goes on as before: its tasks are not lost,
// its container is still resized as they end, and removed when it exits.
func TestDockerExecutorReattachedAfterAgentRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	before := dockerEngine(t)
	after := dockerEngine(t)
	t.Cleanup(after.Close)
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	workDir := t.TempDir()
	first := addAgent(t, c, testkit.AgentSpec{Hostname: "node1", Docker: before, WorkDir: workDir})
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}, Checkpoint: proto.Bool(true)}, launchTwo(dockerExecutorInfo()))
	started := c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(agent.ExecutorLaunched); return ok }).(agent.ExecutorLaunched)
	id := started.FrameworkID + ".executor.boxed"
	t.Cleanup(func() { _ = after.Destroy(context.Background(), id, "") })
	sandbox, err := containerizer.SandboxPath(workDir, started.FrameworkID, "executor.boxed")
	if err != nil {
		t.Fatal(err)
	}
	exec, reconnected := boxedExecutor(t, c, first, started.FrameworkID, sandbox)
	for _, task := range []string{"t1", "t2"} {
		c.Events.WaitFor(t, testkit.IsStatus("fw", task, messages.TaskState_TASK_RUNNING))
	}
	c.Events.WaitFor(t, resizedTo(160)) // its container runs
	container := executorContainer(t, before, id).ID

	crash(c, first)
	before.Close() // the crashed agent's engine client stops following it
	mark := c.Events.Mark()
	addAgent(t, c, testkit.AgentSpec{Hostname: "node1", Docker: after, WorkDir: workDir})
	c.Events.WaitForSince(t, mark, func(ev any) bool { r, ok := ev.(master.AgentAdmitted); return ok && r.Reregistered })
	select {
	case <-reconnected:
	case <-time.After(30 * time.Second):
		t.Fatal("the restarted agent did not ask the executor to re-register")
	}
	if got := executorContainer(t, after, id).ID; got != container {
		t.Fatalf("the executor runs in container %s after the restart, want the same %s", got, container)
	}

	c.System.Root.Send(exec, finishTask{id: "t1"})
	c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_FINISHED))
	c.Events.WaitForSince(t, mark, resizedTo(96)) // the restarted agent resizes it
	c.System.Root.Send(exec, finishTask{id: "t2"})
	c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "t2", messages.TaskState_TASK_FINISHED))
	c.Events.WaitForSince(t, mark, func(ev any) bool { e, ok := ev.(agent.ExecutorEnded); return ok && e.ExecutorID == "boxed" })
	noContainerLeft(t, after, id)
	lost := func(ev any) bool {
		return testkit.IsStatus("fw", "t1", messages.TaskState_TASK_FAILED)(ev) || testkit.IsStatus("fw", "t2", messages.TaskState_TASK_FAILED)(ev) ||
			testkit.IsStatus("fw", "t1", messages.TaskState_TASK_LOST)(ev) || testkit.IsStatus("fw", "t2", messages.TaskState_TASK_LOST)(ev)
	}
	if n := c.Events.Count(0, lost); n > 0 {
		t.Fatalf("%d tasks did not survive their agent's restart", n)
	}
	if out, _ := os.ReadFile(filepath.Join(sandbox, "stdout")); !strings.HasSuffix(string(out), "bye\n") {
		t.Fatalf("the executor's output, followed again after the restart: %q", out)
	}
}

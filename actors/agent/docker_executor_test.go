package agent_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
)

// dockerLaunchSeen is a launch the agent gave its Docker containerizer.
type dockerLaunchSeen struct{ spec containerizer.LaunchSpec }

// dockerRecorder stands for the Docker engine: it publishes each launch's
// spec and runs nothing.
type dockerRecorder struct{ c *testkit.Cluster }

func (r dockerRecorder) Launch(_ context.Context, spec containerizer.LaunchSpec) (containerizer.Container, error) {
	r.c.System.EventStream.Publish(dockerLaunchSeen{spec: spec})
	return stuckContainer{}, nil
}

// An executor whose ExecutorInfo.container is DOCKER goes to the Docker
// containerizer (one without goes to the agent's own, a process), in a
// container of its image on the host's network, its limits the executor's
// resources and its task's, with the environment Mesos gives an executor
// in a Docker container: MESOS_SANDBOX where the container sees its
// sandbox, MESOS_DIRECTORY the sandbox on the host, the agent's endpoint.
func TestDockerExecutorLaunchSpec(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	addAgent(t, c, testkit.AgentSpec{Containerizer: recordingContainerizer{c: c}, Docker: dockerRecorder{c: c}, WorkDir: t.TempDir()})
	boxed := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "boxed"}, Mesos: true, Resources: scheduler.Resources("cpus:0.1;mem:32"),
		Command:   &messages.CommandInfo{Value: "/mnt/mesos/sandbox/executor"},
		Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "agora/busybox:test"}}}
	plain := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "plain"}, Command: &messages.CommandInfo{Value: "/usr/bin/executor"}}
	var once sync.Once
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		if o, ok := ev.(*messages.Offers); ok {
			once.Do(func() {
				d.Launch(o.Offers[:1],
					&messages.TaskInfo{Name: "t1", TaskId: &messages.TaskID{Value: "t1"}, Executor: boxed, Resources: scheduler.Resources("cpus:0.5;mem:64")},
					&messages.TaskInfo{Name: "t2", TaskId: &messages.TaskID{Value: "t2"}, Executor: plain, Resources: scheduler.Resources("cpus:0.5;mem:64")})
			})
		}
	}))
	docker := c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(dockerLaunchSeen); return ok }).(dockerLaunchSeen).spec
	process := c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(launchSeen); return ok }).(launchSeen).spec
	if !strings.HasSuffix(docker.ID, ".executor.boxed") || !strings.HasSuffix(process.ID, ".executor.plain") {
		t.Fatalf("the Docker containerizer launched %s, the agent's own %s; want executor boxed in Docker, plain as a process", docker.ID, process.ID)
	}
	if process.Container != nil {
		t.Fatalf("a process executor was given a container: %v", process.Container)
	}
	if d := docker.Container.GetDocker(); docker.Container.GetType() != messages.ContainerInfo_DOCKER || d.GetImage() != "agora/busybox:test" || d.GetNetwork() != "host" {
		t.Fatalf("the executor's container: %v; want agora/busybox:test on the host network", docker.Container)
	}
	if boxed.Container.Docker.Network != "" {
		t.Fatal("the agent changed the framework's ExecutorInfo")
	}
	if docker.CPUs != 0.6 || docker.MemMB != 96 {
		t.Fatalf("the executor's container is limited to cpus %g mem %g; want 0.6 and 96 (executor 0.1/32 + task 0.5/64)", docker.CPUs, docker.MemMB)
	}
	env := docker.Env
	if env["MESOS_SANDBOX"] != containerizer.ContainerSandbox || env["MESOS_DIRECTORY"] != docker.Sandbox || env["MESOS_EXECUTOR_ID"] != "boxed" ||
		env["MESOS_FRAMEWORK_ID"] == "" || env["AGORA_EXECUTOR_ID"] != "boxed" {
		t.Fatalf("a Mesos executor's environment in Docker: %v", env)
	}
}

// An agent without a Docker engine fails a task whose executor is to run
// in a Docker container, saying why, rather than running the executor as a
// process.
func TestDockerExecutorOnAnAgentWithoutDocker(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	addAgent(t, c, testkit.AgentSpec{Containerizer: recordingContainerizer{c: c}, WorkDir: t.TempDir()})
	boxed := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "boxed"}, Command: &messages.CommandInfo{Value: "/executor"},
		Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "agora/busybox:test"}}}
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: &messages.TaskInfo{Name: "t1", TaskId: &messages.TaskID{Value: "t1"},
		Executor: boxed, Resources: scheduler.Resources("cpus:0.5;mem:64")}})
	st := c.Events.WaitFor(t, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_FAILED)).(testkit.SchedulerEvent).Event.(*messages.StatusUpdate).Status
	if st.Reason != messages.TaskStatusReason_REASON_CONTAINER_LAUNCH_FAILED || !strings.Contains(st.Message, "no Docker engine") {
		t.Fatalf("t1 failed with %s %q; want REASON_CONTAINER_LAUNCH_FAILED saying the agent has no Docker engine", st.Reason, st.Message)
	}
	if n := c.Events.Count(0, func(ev any) bool { _, ok := ev.(launchSeen); return ok }); n != 0 {
		t.Fatalf("the executor was launched as a process %d times", n)
	}
}

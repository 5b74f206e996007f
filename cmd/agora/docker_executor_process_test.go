package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"google.golang.org/protobuf/proto"
)

// staticMesosExecutor builds testdata/mesos-executor without cgo, so that
// it runs in an image with no C library (busybox).
func staticMesosExecutor(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mesos-executor")
	build := osexec.Command("go", "build", "-o", bin, "./testdata/mesos-executor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the static test executor: %v\n%s", err, out)
	}
	return bin
}

// Issue 17 item 5's acceptance: a Mesos framework launches a task whose
// custom executor's ExecutorInfo.container is DOCKER (agora/busybox:test,
// no network named). The agent fetches the executor (a static binary, by
// a local path URI) into its sandbox and runs it in a container of that
// image, on the host's network so that it reaches the agent's executor
// API, the sandbox mounted at /mnt/mesos/sandbox; `docker inspect` shows
// the container limited to the executor's memory and its task's (32 + 64
// MiB). The task runs and finishes; the executor, told to shut down,
// exits; its container is gone; the framework saw RUNNING then FINISHED,
// and the master frees the executor's resources.
func TestMesosExecutorInDockerContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes and the Docker engine; make test runs it")
	}
	d, err := containerizer.NewDocker()
	if err != nil {
		t.Fatalf("this test needs the Docker engine: %v", err)
	}
	t.Cleanup(d.Close)
	if _, err := d.Client.ImageInspect(t.Context(), "agora/busybox:test"); err != nil {
		t.Fatalf("test image agora/busybox:test missing: run `make images` (make test does): %v", err)
	}
	bin := staticMesosExecutor(t)
	begin := time.Now() // the executor's container starts after this
	dir := workDir(t)
	_, m := startNode(t, "master", "node", "--role=master", "--insecure", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "100ms")
	agent, _ := startNode(t, "agent", "node", "--role=agent", "--insecure", "--listen", anyPort, "--agent-http", anyPort, "--master", m.Remoting,
		"--work-dir", filepath.Join(dir, "a"), "--resources", "cpus:2;mem:512", "--isolation", "none")
	waitStateOf(t, "http", m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	fw := subscribeMesosHTTP(t, m.HTTP, &mesos.FrameworkInfo{User: proto.String("root"), Name: proto.String("boxed")})
	offer := fw.next(sched.Event_OFFERS, 0).GetOffers().GetOffers()[0]
	executor := boxedExecutor(bin)
	task := &mesos.TaskInfo{Name: proto.String("work"), TaskId: &mesos.TaskID{Value: proto.String("work")}, AgentId: offer.AgentId,
		Executor: executor, Resources: []*mesos.Resource{mesosScalar("cpus", 0.5), mesosScalar("mem", 64)}}
	fw.launch(offer, task)
	fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_RUNNING)

	label := filters.NewArgs(filters.Arg("label", containerizer.LabelTask+"="+fw.fid.GetValue()+".executor.boxed"))
	id := startedContainer(t, d, label, begin)
	st, err := d.Client.ContainerInspect(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if st.HostConfig.Memory != 96<<20 || st.Config.Image != "agora/busybox:test" || !st.HostConfig.NetworkMode.IsHost() {
		t.Fatalf("the executor's container: memory %d image %s network %s; want 96 MiB (executor 32 + task 64) of agora/busybox:test on the host's network",
			st.HostConfig.Memory, st.Config.Image, st.HostConfig.NetworkMode)
	}
	t.Logf("docker inspect %s: image %s, network %s, memory %d bytes, nano-cpus %d", id[:12], st.Config.Image, st.HostConfig.NetworkMode,
		st.HostConfig.Memory, st.HostConfig.NanoCPUs)

	sandbox := filepath.Join(dir, "a", "frameworks", fw.fid.GetValue(), "tasks", "executor.boxed")
	if err := os.WriteFile(filepath.Join(sandbox, "finish-work"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_FINISHED)
	agent.out.waitFor(t, "executor ended")
	if left, err := d.Client.ContainerList(t.Context(), container.ListOptions{All: true, Filters: label}); err != nil || len(left) != 0 {
		t.Fatalf("the executor's container outlived it: %v %v", left, err)
	}
	if len(fw.seen) != 2 || !strings.HasPrefix(fw.seen[0], "TASK_RUNNING") || !strings.HasPrefix(fw.seen[1], "TASK_FINISHED") {
		t.Fatalf("the framework saw %q; want TASK_RUNNING then TASK_FINISHED", fw.seen)
	}
	waitStateOf(t, "http", m.HTTP, func(st *messages.MasterState) bool {
		return len(st.Agents) == 1 && messages.FormatResources(st.Agents[0].Used) == ""
	})
	log, _ := os.ReadFile(filepath.Join(sandbox, "stderr"))
	for _, want := range []string{"sandbox /mnt/mesos/sandbox", "directory " + sandbox, "SUBSCRIBED", "SHUTDOWN"} {
		if !strings.Contains(string(log), want) {
			t.Fatalf("the executor's log lacks %q:\n%s", want, log)
		}
	}
}

// startedContainer is the ID of the one container with label the engine
// started since since, from its event stream (past events included): a
// container list right after the task went RUNNING once came back empty
// in a loaded make test while the executor in it was subscribed, and the
// events are the engine's record of the start itself.
func startedContainer(t *testing.T, d *containerizer.Docker, label filters.Args, since time.Time) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	f := label.Clone()
	f.Add("type", string(events.ContainerEventType))
	f.Add("event", string(events.ActionStart))
	msgs, errs := d.Client.Events(ctx, events.ListOptions{Since: fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()), Filters: f})
	select {
	case m := <-msgs:
		return m.Actor.ID
	case err := <-errs:
		t.Fatalf("no container with %v started since %v: %v", label, since, err)
	}
	return ""
}

// waitContainerLog follows a container's output (the engine's log, which
// goes on while no agent copies it into the sandbox) until a line says
// want.
func waitContainerLog(t *testing.T, d *containerizer.Docker, id, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	rc, err := d.Client.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	lines := bufio.NewScanner(rc) // the engine's frame headers stay in the lines: the words are whole
	for lines.Scan() {
		if strings.Contains(lines.Text(), want) {
			return
		}
	}
	t.Fatalf("container %s never said %q: %v", id, want, lines.Err())
}

// A checkpointing framework's Mesos executor in a Docker container
// outlives its agent, as a process executor does: SIGKILL the agent while
// the task runs, let the task finish while the agent is down (the
// executor cannot send its update), start the agent again. The restarted
// agent finds the same container by its label, the executor (started with
// MESOS_CHECKPOINT=1) subscribes again with the update the dead agent
// never acknowledged, and the framework sees the task FINISHED, never
// LOST or FAILED; then the executor is shut down and its container goes.
func TestMesosExecutorInDockerSurvivesAgentRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes and the Docker engine; make test runs it")
	}
	d, err := containerizer.NewDocker()
	if err != nil {
		t.Fatalf("this test needs the Docker engine: %v", err)
	}
	t.Cleanup(d.Close)
	if _, err := d.Client.ImageInspect(t.Context(), "agora/busybox:test"); err != nil {
		t.Fatalf("test image agora/busybox:test missing: run `make images` (make test does): %v", err)
	}
	bin := staticMesosExecutor(t)
	begin := time.Now() // the executor's container starts after this
	dir := workDir(t)
	// The agent's executor API must stay where the executor was told it is.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agentHTTP := ln.Addr().String()
	ln.Close()
	_, m := startNode(t, "master", "node", "--role=master", "--insecure", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "100ms")
	agentArgs := []string{"node", "--role=agent", "--insecure", "--listen", anyPort, "--agent-http", agentHTTP, "--master", m.Remoting,
		"--work-dir", filepath.Join(dir, "a"), "--resources", "cpus:2;mem:512", "--isolation", "none", "--registration-backoff", "100ms",
		"--executor-registration-timeout", "60s"}
	agent, _ := startNode(t, "agent", agentArgs...)
	waitStateOf(t, "http", m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	fw := subscribeMesosHTTP(t, m.HTTP, &mesos.FrameworkInfo{User: proto.String("root"), Name: proto.String("boxed-checkpointing"),
		FailoverTimeout: proto.Float64(3600), Checkpoint: proto.Bool(true)})
	offer := fw.next(sched.Event_OFFERS, 0).GetOffers().GetOffers()[0]
	executor := boxedExecutor(bin)
	task := &mesos.TaskInfo{Name: proto.String("survivor"), TaskId: &mesos.TaskID{Value: proto.String("survivor")}, AgentId: offer.AgentId,
		Executor: executor, Resources: []*mesos.Resource{mesosScalar("cpus", 0.1), mesosScalar("mem", 32)}}
	fw.launch(offer, task)
	fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_RUNNING)
	label := filters.NewArgs(filters.Arg("label", containerizer.LabelTask+"="+fw.fid.GetValue()+".executor.boxed"))
	id := startedContainer(t, d, label, begin)
	waitContainerLog(t, d, id, "SUBSCRIBED to agent")

	agent.signal(syscall.SIGKILL)
	<-agent.done
	sandbox := filepath.Join(dir, "a", "frameworks", fw.fid.GetValue(), "tasks", "executor.boxed")
	if err := os.WriteFile(filepath.Join(sandbox, "finish-survivor"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The executor finished its task while no agent listened.
	waitContainerLog(t, d, id, "update survivor TASK_FINISHED not sent")

	agent, _ = startNode(t, "agent-again", agentArgs...)
	agent.out.waitFor(t, "re-attached to an executor's Docker container")
	fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_FINISHED)
	for _, s := range fw.seen {
		if strings.Contains(s, "TASK_LOST") || strings.Contains(s, "TASK_FAILED") {
			t.Fatalf("the task did not survive its agent's restart: updates %q", fw.seen)
		}
	}
	agent.out.waitFor(t, "executor ended") // told to shut down: it had no task left
	if left, err := d.Client.ContainerList(t.Context(), container.ListOptions{All: true, Filters: label}); err != nil || len(left) != 0 {
		t.Fatalf("the executor's container outlived it: %v %v", left, err)
	}
	// The restarted agent copied the whole of the container's output.
	log, _ := os.ReadFile(filepath.Join(sandbox, "stderr"))
	if n := strings.Count(string(log), "SUBSCRIBED to agent"); n != 2 || !strings.Contains(string(log), "subscribing with 0 unacknowledged tasks and 1 updates") {
		t.Fatalf("the executor subscribed %d times (want twice, in one container), or not with its unacknowledged update:\n%s", n, log)
	}
}

// boxedExecutor is the static test executor bin, fetched into its sandbox
// and run in a container of agora/busybox:test (cpus:0.1;mem:32 of its own).
func boxedExecutor(bin string) *mesos.ExecutorInfo {
	inSandbox := containerizer.ContainerSandbox + "/mesos-executor"
	return &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("boxed")}, Type: mesos.ExecutorInfo_CUSTOM.Enum(),
		Command: &mesos.CommandInfo{Value: proto.String(inSandbox), Shell: proto.Bool(false), Arguments: []string{inSandbox},
			Uris: []*mesos.CommandInfo_URI{{Value: proto.String(bin), Executable: proto.Bool(true), Extract: proto.Bool(false)}}},
		Container: &mesos.ContainerInfo{Type: mesos.ContainerInfo_DOCKER.Enum(), Docker: &mesos.ContainerInfo_DockerInfo{Image: proto.String("agora/busybox:test")}},
		Resources: []*mesos.Resource{mesosScalar("cpus", 0.1), mesosScalar("mem", 32)}}
}

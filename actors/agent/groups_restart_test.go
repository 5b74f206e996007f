package agent_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
)

// groupLauncher launches one task group on its first offer (the SDK's
// LaunchGroup).
type groupLauncher struct {
	executor *messages.ExecutorInfo
	tasks    []*messages.TaskInfo
}

func (l *groupLauncher) Receive(d *scheduler.Driver, ev any) {
	if o, ok := ev.(*messages.Offers); ok && l.tasks != nil {
		d.LaunchGroup(o.Offers[:1], nil, l.executor, l.tasks...)
		l.tasks = nil
	}
}

// A task group launched through the SDK runs as real processes; its agent
// crashes and starts again with the same work dir, re-attaches to both
// tasks and keeps them a group: when one then fails, the restarted agent
// kills the other, and the framework learns both ends. The group's
// executor resources stay charged across the restart (the agent reports
// the default executor on re-registration) and are freed when the
// restarted agent sees the group's last task end (ExecutorExited).
func TestTaskGroupSurvivesAgentRestartAndEndsTogether(t *testing.T) {
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	workDir := t.TempDir()
	gate := filepath.Join(t.TempDir(), "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	first := addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir, SandboxGC: time.Hour})
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &groupLauncher{
		executor: &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "pod"}, Resources: scheduler.Resources("cpus:0.25;mem:32")},
		tasks: []*messages.TaskInfo{
			scheduler.Command("fails", "read x < "+gate+"; exit 3", scheduler.Resources("cpus:0.25;mem:32")),
			scheduler.Command("serves", "exec sleep 600", scheduler.Resources("cpus:0.25;mem:32")),
		}})
	for _, id := range []string{"fails", "serves"} {
		c.Events.WaitFor(t, testkit.IsStatus("fw", id, messages.TaskState_TASK_RUNNING))
	}
	c.Events.WaitFor(t, func(ev any) bool {
		u, ok := ev.(agent.UpdateAcknowledged)
		return ok && u.State == messages.TaskState_TASK_RUNNING && u.TaskID == "fails"
	})
	c.Events.WaitFor(t, func(ev any) bool {
		u, ok := ev.(agent.UpdateAcknowledged)
		return ok && u.State == messages.TaskState_TASK_RUNNING && u.TaskID == "serves"
	})

	used := func(want string) {
		t.Helper()
		c.StateWhere(t, func(s *messages.MasterState) bool {
			return len(s.Agents) == 1 && messages.FormatResources(s.Agents[0].Used) == want
		})
	}
	used("cpus:0.75;mem:96") // the group's executor with its tasks

	crash(c, first)
	mark := c.Events.Mark()
	addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir, SandboxGC: time.Hour})
	c.Events.WaitForSince(t, mark, func(ev any) bool { r, ok := ev.(master.AgentAdmitted); return ok && r.Reregistered })
	// The restarted agent reports the group's default executor as running
	// (from the checkpointed membership): the master, which forgets the
	// executors a re-registering agent does not report, keeps charging
	// it. (A snapshot from after the re-registration.)
	c.StateWhere(t, func(s *messages.MasterState) bool {
		return len(s.Agents) == 1 && s.Agents[0].Reregistrations > 0 && messages.FormatResources(s.Agents[0].Used) == "cpus:0.75;mem:96"
	})

	if err := os.WriteFile(gate, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "fails", messages.TaskState_TASK_FAILED))
	killed := c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "serves", messages.TaskState_TASK_KILLED)).(testkit.SchedulerEvent)
	st := killed.Event.(*messages.StatusUpdate).Status
	if !strings.Contains(st.Message, "task fails of the group ended TASK_FAILED") || st.GetExecutorId().GetValue() != "pod" {
		t.Fatalf("the group's other task ended %q in executor %q; want killed with its group, in pod", st.Message, st.GetExecutorId().GetValue())
	}
	used("") // the default executor ended with the group's last task
}

// Three Docker tasks launched as one group (SDK, master, agent, the local
// Docker engine) share the first one's network namespace: server hears
// client on 127.0.0.1, then failer connects and exits 3, and the agent
// kills server, which would otherwise run on. Each task reads its network
// namespace's inode into its stdout: all three print the same one.
func TestDockerTaskGroupSharesNetworkNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d, err := containerizer.NewDocker()
	if err != nil {
		t.Fatalf("this test needs the Docker engine: %v", err)
	}
	t.Cleanup(d.Close)
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	dir := t.TempDir()
	addAgent(t, c, testkit.AgentSpec{Docker: d, WorkDir: dir})
	task := func(id, command string) *messages.TaskInfo {
		return &messages.TaskInfo{Name: id, TaskId: &messages.TaskID{Value: id}, Resources: scheduler.Resources("cpus:0.1;mem:32"),
			Command:   &messages.CommandInfo{Value: "readlink /proc/self/ns/net; " + command, Shell: true},
			Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "agora/busybox:test", Network: "bridge"}}}
	}
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &groupLauncher{
		executor: &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "pod"}},
		tasks: []*messages.TaskInfo{
			task("server", `mkfifo "${MESOS_SANDBOX:-.}/hold" && exec 3<>"${MESOS_SANDBOX:-.}/hold"; nc -l -p 7777 <&3 | grep -q hello || exit 9; nc -l -p 7778 <&3 >/dev/null; exec sleep 600`),
			task("client", `for i in $(seq 100); do echo hello | nc 127.0.0.1 7777 && exit 0; sleep 0.2; done; exit 1`),
			task("failer", `for i in $(seq 100); do echo x | nc 127.0.0.1 7778 && exit 3; sleep 0.2; done; exit 1`),
		}})
	// The failer reaches the server's second port only once the server
	// heard the client's hello (and so only over the shared loopback). The
	// client may still be exiting when the failer fails: then it is
	// killed with the group, which is as right as its own TASK_FINISHED.
	c.Events.WaitFor(t, func(ev any) bool {
		return testkit.IsStatus("fw", "client", messages.TaskState_TASK_FINISHED)(ev) || testkit.IsStatus("fw", "client", messages.TaskState_TASK_KILLED)(ev)
	})
	c.Events.WaitFor(t, testkit.IsStatus("fw", "failer", messages.TaskState_TASK_FAILED))
	c.Events.WaitFor(t, testkit.IsStatus("fw", "server", messages.TaskState_TASK_KILLED))
	st := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 1 })
	var ns []string
	for _, id := range []string{"server", "client", "failer"} {
		out, _ := os.ReadFile(filepath.Join(dir, "frameworks", st.Frameworks[0].Info.Id.Value, "tasks", id, "stdout"))
		first, _, _ := strings.Cut(string(out), "\n")
		if !strings.HasPrefix(first, "net:[") {
			t.Fatalf("task %s's stdout %q does not start with its network namespace", id, out)
		}
		ns = append(ns, first)
	}
	if ns[0] != ns[1] || ns[0] != ns[2] {
		t.Fatalf("the group's tasks ran in network namespaces %v, want one", ns)
	}
}

// A task group in a Mesos custom executor reaches the executor in one
// LaunchTaskGroup (its LAUNCH_GROUP event), the tasks in order and naming
// no executor of their own.
func TestMesosExecutorGetsTheGroupInOneLaunch(t *testing.T) {
	clock := testkit.NewFakeClock()
	c := testkit.Start(t, testkit.Options{Clock: clock, AgentResources: "cpus:2;mem:512"})
	agentPID := addAgent(t, c, testkit.AgentSpec{Containerizer: testkit.SimContainerizer{Clock: clock}, WorkDir: t.TempDir()})
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &groupLauncher{
		executor: &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "ex"}, Command: &messages.CommandInfo{Value: "/unused"}, Mesos: true},
		tasks: []*messages.TaskInfo{
			{Name: "g1", TaskId: &messages.TaskID{Value: "g1"}, Resources: scheduler.Resources("cpus:0.5;mem:64")},
			{Name: "g2", TaskId: &messages.TaskID{Value: "g2"}, Resources: scheduler.Resources("cpus:0.5;mem:64")},
		}})
	started := c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(agent.ExecutorLaunched); return ok }).(agent.ExecutorLaunched)
	// The executor publishes what it is sent, for the test to wait on.
	type sentToExecutor struct{ msg any }
	c.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			ctx.Send(agentPID, &messages.RegisterExecutor{FrameworkId: &messages.FrameworkID{Value: started.FrameworkID},
				ExecutorId: &messages.ExecutorID{Value: "ex"}, Pid: ctx.Self()})
		case *messages.LaunchTask, *messages.LaunchTaskGroup:
			ctx.ActorSystem().EventStream.Publish(sentToExecutor{m})
		}
	}))
	m := c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(sentToExecutor); return ok }).(sentToExecutor).msg
	g, ok := m.(*messages.LaunchTaskGroup)
	if !ok || len(g.GetTaskGroup().GetTasks()) != 2 || g.GetTaskGroup().GetTasks()[0].GetTaskId().GetValue() != "g1" ||
		g.GetTaskGroup().GetTasks()[1].Executor != nil || g.GetExecutor().GetExecutorId().GetValue() != "ex" {
		t.Fatalf("the executor was sent %v; want one LaunchTaskGroup of g1 and g2", m)
	}
}

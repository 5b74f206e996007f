package agent_test

import (
	"os"
	"path/filepath"
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

// launcher launches one task per framework on its first offer.
type launcher struct{ task *messages.TaskInfo }

func (l *launcher) Receive(d *scheduler.Driver, ev any) {
	if o, ok := ev.(*messages.Offers); ok && l.task != nil {
		d.Launch(o.Offers[:1], l.task)
		l.task = nil
	}
}

// addAgent adds an agent to c that is stopped, and done writing to its
// work dir, before the test's temporary directories are removed.
func addAgent(t *testing.T, c *testkit.Cluster, spec testkit.AgentSpec) *actor.PID {
	t.Helper()
	pid := c.AddAgent(spec)
	t.Cleanup(func() { crash(c, pid) })
	return pid
}

// crash stops an agent's actor as a crash would (the master is not told),
// and returns once it is stopped: a crashed agent writes nothing more.
func crash(c *testkit.Cluster, pid *actor.PID) {
	if c.Serial() {
		c.StopAgent(pid) // runs the stopping, which waits for the agent's goroutines
		return
	}
	_ = c.System.Root.StopFuture(pid).Wait()
}

func finished(ev any) bool {
	se, ok := ev.(testkit.SchedulerEvent)
	u, isUpdate := se.Event.(*messages.StatusUpdate)
	return ok && isUpdate && u.Status.State == messages.TaskState_TASK_FINISHED
}

// An agent that crashes while a task runs and starts again with the same
// work dir re-attaches to the task: it keeps running, the agent
// re-registers with it, and its FINISHED update reaches the framework
// exactly once. The task is a real process held at a fifo: the test moves
// the clock only while it is held, or once its end has been reported.
func TestTaskSurvivesAgentRestart(t *testing.T) {
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	workDir := t.TempDir()
	gate := filepath.Join(t.TempDir(), "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	first := addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir, SandboxGC: time.Hour})
	task := scheduler.Command("t1", "read x < "+gate+"; echo done", scheduler.Resources("cpus:0.5;mem:64"))
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
	c.Events.WaitFor(t, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_RUNNING))
	c.Events.WaitFor(t, func(ev any) bool {
		u, ok := ev.(agent.UpdateAcknowledged)
		return ok && u.State == messages.TaskState_TASK_RUNNING
	})

	crash(c, first) // a crash: the master is not told, the task goes on
	mark := c.Events.Mark()
	addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir, SandboxGC: time.Hour})
	reg := c.Events.WaitForSince(t, mark, func(ev any) bool { r, ok := ev.(master.AgentAdmitted); return ok && r.Reregistered }).(master.AgentAdmitted)
	st := c.StateWhere(t, func(s *messages.MasterState) bool {
		return len(s.Frameworks) == 1 && s.Frameworks[0].Tasks["TASK_RUNNING"] == 1 && len(s.Agents) == 1
	})
	if st.Agents[0].Info.Id.Value != reg.AgentID {
		t.Fatalf("agent came back as %s, books hold %s", reg.AgentID, st.Agents[0].Info.Id.Value)
	}

	if err := os.WriteFile(gate, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Events.WaitForSince(t, mark, finished)
	// Let every retry timer that could resend the update fire.
	c.Advance(t, 5*time.Minute)
	c.Events.WaitForSince(t, mark, func(ev any) bool {
		u, ok := ev.(agent.UpdateAcknowledged)
		return ok && u.State == messages.TaskState_TASK_FINISHED
	})
	if n := c.Events.Count(0, finished); n != 1 {
		t.Fatalf("the framework saw FINISHED %d times, want exactly once", n)
	}
	out, _ := os.ReadFile(filepath.Join(workDir, "frameworks", reg.AgentID[:0]+st.Frameworks[0].Info.Id.Value, "tasks", "t1", "stdout"))
	if string(out) != "done\n" {
		t.Fatalf("task stdout %q", out)
	}
	if _, err := os.Stat(agent.TaskCheckpointPath(workDir, st.Frameworks[0].Info.Id.Value, "t1")); !os.IsNotExist(err) {
		t.Fatalf("the checkpoint of an acknowledged, finished task is still there: %v", err)
	}
	// The sandbox is garbage-collected after the GC delay.
	mark = c.Events.Mark()
	c.Advance(t, time.Hour)
	gone := c.Events.WaitForSince(t, mark, func(ev any) bool { _, ok := ev.(agent.SandboxRemoved); return ok }).(agent.SandboxRemoved)
	if _, err := os.Stat(gone.Dir); !os.IsNotExist(err) || filepath.Base(gone.Dir) != "t1" {
		t.Fatalf("sandbox %s still there: %v", gone.Dir, err)
	}
}

// A task that ends while its agent is down is reported, with its exit
// code, when the agent comes back. The task is a real process.
func TestTaskEndingWhileAgentIsDownIsReported(t *testing.T) {
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	workDir := t.TempDir()
	gate := filepath.Join(t.TempDir(), "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	first := addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir})
	task := scheduler.Command("t1", "read x < "+gate+"; exit 3", scheduler.Resources("cpus:0.5;mem:64"))
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
	c.Events.WaitFor(t, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_RUNNING))
	crash(c, first)
	if err := os.WriteFile(gate, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The task's exit code is in its sandbox before the agent returns:
	// the task's shell writes it before it exits.
	c.WaitProcessesEnded(t)
	st := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 1 })
	exitFile := filepath.Join(workDir, "frameworks", st.Frameworks[0].Info.Id.Value, "tasks", "t1", ".agora-exit")
	if _, err := os.Stat(exitFile); err != nil {
		t.Fatalf("the task ended without recording its exit: %v", err)
	}
	mark := c.Events.Mark()
	addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir})
	ev := c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_FAILED)).(testkit.SchedulerEvent)
	if st := ev.Event.(*messages.StatusUpdate).Status; st.GetExitCode() != 3 {
		t.Fatalf("failed with %v, want exit code 3", st)
	}
	// One end, the agent's: not also LOST because it was not running.
	if n := c.Events.Count(0, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_LOST)); n != 0 {
		t.Fatalf("the framework was also told TASK_LOST %d times", n)
	}
}

// Through the whole loop: a task allocating past its 32 MB ends
// TASK_FAILED with the memory-limit reason (cgroups, as root). A real
// process: the wait blocks on its end, clock still.
func TestTaskPastItsMemoryLimitFails(t *testing.T) {
	cg, err := containerizer.DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		t.Fatalf("this test runs where the agent can use cgroups (root): %v", err)
	}
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	addAgent(t, c, testkit.AgentSpec{Containerizer: containerizer.Command{Cgroups: cg}, WorkDir: t.TempDir()})
	task := scheduler.Command("hog", `x=$(head -c 100000000 /dev/zero | tr '\0' a); echo ${#x}`, scheduler.Resources("cpus:0.5;mem:32"))
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
	ev := c.Events.WaitFor(t, testkit.IsStatus("fw", "hog", messages.TaskState_TASK_FAILED)).(testkit.SchedulerEvent)
	if st := ev.Event.(*messages.StatusUpdate).Status; st.Reason != messages.TaskStatusReason_REASON_CONTAINER_LIMITATION_MEMORY {
		t.Fatalf("failed with %v (%s), want REASON_CONTAINER_LIMITATION_MEMORY", st.Reason, st.Message)
	}
}

// Through the whole loop: a Docker task in the locally built image runs
// echo hi: FINISHED, "hi" in its sandbox's stdout. (The Docker engine
// answers from goroutines: the waits block on its events, clock still.)
func TestDockerTaskEchoesHi(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d, err := containerizer.NewDocker()
	if err != nil {
		t.Fatalf("this test needs the Docker engine: %v", err)
	}
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	dir := t.TempDir()
	addAgent(t, c, testkit.AgentSpec{Docker: d, WorkDir: dir})
	task := &messages.TaskInfo{Name: "hi", TaskId: &messages.TaskID{Value: "hi"}, Resources: scheduler.Resources("cpus:0.5;mem:64"),
		Command:   &messages.CommandInfo{Value: "echo hi", Shell: true},
		Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "agora/busybox:test"}}}
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
	c.Events.WaitFor(t, testkit.IsStatus("fw", "hi", messages.TaskState_TASK_FINISHED))
	st := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 1 })
	out, _ := os.ReadFile(filepath.Join(dir, "frameworks", st.Frameworks[0].Info.Id.Value, "tasks", "hi", "stdout"))
	if string(out) != "hi\n" {
		t.Fatalf("stdout %q, want hi", out)
	}
}

// A Docker task naming an image the agent does not have, and cannot pull
// (nothing listens where its registry would be), fails with the reason.
func TestDockerTaskWithMissingImageFails(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d, err := containerizer.NewDocker()
	if err != nil {
		t.Fatalf("this test needs the Docker engine: %v", err)
	}
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	addAgent(t, c, testkit.AgentSpec{Docker: d, WorkDir: t.TempDir()})
	task := &messages.TaskInfo{Name: "x", TaskId: &messages.TaskID{Value: "x"}, Resources: scheduler.Resources("cpus:0.5;mem:64"),
		Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "127.0.0.1:1/agora/nothing:here"}}}
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
	ev := c.Events.WaitFor(t, testkit.IsStatus("fw", "x", messages.TaskState_TASK_FAILED)).(testkit.SchedulerEvent)
	if st := ev.Event.(*messages.StatusUpdate).Status; st.Reason != messages.TaskStatusReason_REASON_IMAGE_NOT_FOUND {
		t.Fatalf("failed with %v (%s), want REASON_IMAGE_NOT_FOUND", st.Reason, st.Message)
	}
}

// A Docker task keeps running when its agent restarts: the new agent finds
// its container by label, and the task finishes once, with its output. Its
// two seconds of sleep are real: the waits block on its end, clock still.
func TestDockerTaskSurvivesAgentRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d, err := containerizer.NewDocker()
	if err != nil {
		t.Fatalf("this test needs the Docker engine: %v", err)
	}
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	dir := t.TempDir()
	first := addAgent(t, c, testkit.AgentSpec{Hostname: "node1", Docker: d, WorkDir: dir})
	task := &messages.TaskInfo{Name: "d", TaskId: &messages.TaskID{Value: "d"}, Resources: scheduler.Resources("cpus:0.5;mem:64"),
		Command:   &messages.CommandInfo{Value: "echo before; sleep 2; echo after", Shell: true},
		Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "agora/busybox:test"}}}
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
	c.Events.WaitFor(t, testkit.IsStatus("fw", "d", messages.TaskState_TASK_RUNNING))
	c.Events.WaitFor(t, func(ev any) bool {
		u, ok := ev.(agent.UpdateAcknowledged)
		return ok && u.State == messages.TaskState_TASK_RUNNING
	})
	crash(c, first)
	mark := c.Events.Mark()
	addAgent(t, c, testkit.AgentSpec{Hostname: "node1", Docker: d, WorkDir: dir})
	c.Events.WaitForSince(t, mark, func(ev any) bool { r, ok := ev.(master.AgentAdmitted); return ok && r.Reregistered })
	// The container sleeps through the restart and ends under the new agent.
	c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "d", messages.TaskState_TASK_FINISHED))
	if n := c.Events.Count(0, finished); n != 1 {
		t.Fatalf("FINISHED %d times, want once", n)
	}
	st := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 1 })
	out, _ := os.ReadFile(filepath.Join(dir, "frameworks", st.Frameworks[0].Info.Id.Value, "tasks", "d", "stdout"))
	if string(out) != "before\nafter\n" {
		t.Fatalf("stdout %q, want all of the container's output", out)
	}
}

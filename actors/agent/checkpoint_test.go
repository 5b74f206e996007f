package agent_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/checkpoint"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"google.golang.org/protobuf/proto"
)

// sandboxProcesses lists the processes whose environment names sandbox
// (every process a command task starts inherits AGORA_SANDBOX), zombies
// aside.
func sandboxProcesses(t *testing.T, sandbox string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	mark := []byte("\x00AGORA_SANDBOX=" + sandbox + "\x00")
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && len(env) > 0 && bytes.Contains(append([]byte{0}, env...), mark) {
			found = append(found, pid)
		}
	}
	return found
}

// runningCheckpoint reads the checkpoint of a running task: its process.
func runningCheckpoint(t *testing.T, workDir, fw, task string) *messages.TaskCheckpoint {
	t.Helper()
	cp := &messages.TaskCheckpoint{}
	if err := checkpoint.ReadMessage(agent.TaskCheckpointPath(workDir, fw, task), cp); err != nil || cp.Pid == 0 {
		t.Fatalf("checkpoint of running task %s: %v %v", task, err, cp)
	}
	return cp
}

// FrameworkInfo.checkpoint (issue 17 item 5), as Mesos: a framework that
// sets it false does not keep its tasks across an agent restart. The
// restarted agent ends the task's processes (the task's own and its
// background child) before it re-registers, without it; the master tells
// the framework TASK_LOST with REASON_AGENT_DISCONNECTED, exactly once
// (Mesos' master.cpp, removeFramework(Slave*, Framework*)); and its
// checkpoint goes. The task of a framework that leaves checkpoint unset
// (Agora's default) on the same agent is recovered and keeps running.
// With cgroups, the task's cgroup goes too. Real processes; the clock
// stands still.
func TestNonCheckpointingFrameworkLosesItsTaskOnAgentRestart(t *testing.T) {
	cg, err := containerizer.DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		t.Fatalf("this test runs where the agent can use cgroups (root): %v", err)
	}
	for _, tc := range []struct {
		name string
		ctr  containerizer.Command
	}{{"no cgroups", containerizer.Command{}}, {"cgroups", containerizer.Command{Cgroups: cg}}} {
		t.Run(tc.name, func(t *testing.T) { nonCheckpointingTaskEndsWithAgentRestart(t, tc.ctr) })
	}
}

func nonCheckpointingTaskEndsWithAgentRestart(t *testing.T, ctr containerizer.Command) {
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	workDir := t.TempDir()
	first := addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir, Containerizer: ctr})
	acked := func(task string) func(any) bool {
		return func(ev any) bool {
			u, ok := ev.(agent.UpdateAcknowledged)
			return ok && u.TaskID == task && u.State == messages.TaskState_TASK_RUNNING
		}
	}
	c.StartScheduler(&messages.FrameworkInfo{Name: "kept", Roles: []string{"r"}},
		&launcher{task: scheduler.Command("k1", "sleep 600 & sleep 600", scheduler.Resources("cpus:0.5;mem:64"))})
	c.Events.WaitFor(t, acked("k1"))
	// The non-checkpointing task says on a fifo when its background child
	// is started.
	gate := filepath.Join(t.TempDir(), "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	c.StartScheduler(&messages.FrameworkInfo{Name: "lost", Roles: []string{"r"}, Checkpoint: proto.Bool(false)},
		&launcher{task: scheduler.Command("n1", "sleep 600 & echo up > "+gate+"; sleep 600", scheduler.Resources("cpus:0.5;mem:64"))})
	c.Events.WaitFor(t, acked("n1"))
	if b, err := os.ReadFile(gate); err != nil || string(b) != "up\n" { // the task runs: it writes
		t.Fatalf("the task's word on its fifo: %q %v", b, err)
	}
	ids := map[string]string{}
	for _, f := range c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 2 }).Frameworks {
		ids[f.Info.Name] = f.Info.Id.Value
	}
	kept, lost := runningCheckpoint(t, workDir, ids["kept"], "k1"), runningCheckpoint(t, workDir, ids["lost"], "n1")
	t.Cleanup(func() { // their process groups and containers, whatever the test left
		_ = syscall.Kill(-int(kept.Pid), syscall.SIGKILL)
		if running(int(lost.Pid), lost.StartTime) {
			_ = syscall.Kill(-int(lost.Pid), syscall.SIGKILL)
		}
		for name, task := range map[string]string{"kept": "k1", "lost": "n1"} {
			_ = ctr.Destroy(context.Background(), ids[name]+"."+task, filepath.Join(workDir, "frameworks", ids[name], "tasks", task))
		}
	})
	lostSandbox := filepath.Join(workDir, "frameworks", ids["lost"], "tasks", "n1")
	if procs := sandboxProcesses(t, lostSandbox); len(procs) < 3 || !slices.Contains(procs, int(lost.Pid)) {
		t.Fatalf("the non-checkpointing task runs processes %v, want its own (%d), its shell and the shell's background child", procs, lost.Pid)
	}

	crash(c, first) // both tasks go on
	mark := c.Events.Mark()
	addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir, Containerizer: ctr})
	c.Events.WaitForSince(t, mark, func(ev any) bool { r, ok := ev.(master.AgentAdmitted); return ok && r.Reregistered })
	// Ended before the agent re-registered: the master frees nothing a
	// process still uses.
	if left := sandboxProcesses(t, lostSandbox); len(left) != 0 || running(int(lost.Pid), lost.StartTime) {
		t.Fatalf("the non-checkpointing task's processes %v still run after its agent re-registered", left)
	}
	if id := ids["lost"] + ".n1"; ctr.Cgroups != nil && ctr.Cgroups.Exists(id) {
		t.Fatalf("cgroup %s left", id)
	}
	if id := ids["kept"] + ".k1"; ctr.Cgroups != nil && !ctr.Cgroups.Exists(id) {
		t.Fatalf("the recovered task's cgroup %s is gone", id)
	}
	ev := c.Events.WaitForSince(t, mark, testkit.IsStatus("lost", "n1", messages.TaskState_TASK_LOST)).(testkit.SchedulerEvent)
	if st := ev.Event.(*messages.StatusUpdate).Status; st.Reason != messages.TaskStatusReason_REASON_AGENT_DISCONNECTED {
		t.Fatalf("lost with %v %q, want REASON_AGENT_DISCONNECTED", st.Reason, st.Message)
	}
	st := c.StateWhere(t, func(s *messages.MasterState) bool {
		for _, f := range s.Frameworks {
			if f.Info.Name == "lost" && f.Tasks["TASK_RUNNING"] != 0 {
				return false
			}
		}
		return len(s.Agents) == 1 && len(s.Agents[0].Used) > 0
	})
	for _, f := range st.Frameworks {
		if f.Info.Name == "kept" && f.Tasks["TASK_RUNNING"] != 1 {
			t.Fatalf("the checkpointing framework's task is not running after the restart: %v", f.Tasks)
		}
	}
	if !running(int(kept.Pid), kept.StartTime) {
		t.Fatal("the checkpointing framework's task was ended by the restart")
	}
	if _, err := os.Stat(agent.TaskCheckpointPath(workDir, ids["lost"], "n1")); !os.IsNotExist(err) {
		t.Fatalf("the checkpoint of the ended task is still there: %v", err)
	}
	// Told once, by the master; nothing else of it, and nothing lost of
	// the checkpointing framework.
	if n := c.Events.Count(mark, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		_, isUpdate := se.Event.(*messages.StatusUpdate)
		return ok && isUpdate && se.Framework == "lost"
	}); n != 1 {
		t.Fatalf("the non-checkpointing framework was told %d updates after the restart, want TASK_LOST once", n)
	}
	if n := c.Events.Count(0, testkit.IsStatus("kept", "k1", messages.TaskState_TASK_LOST)); n != 0 {
		t.Fatalf("the checkpointing framework was told TASK_LOST %d times", n)
	}
}

// The same for a Docker task of a framework that does not checkpoint:
// the restarted agent removes its container (found by its label) before
// it re-registers without the task, and the framework is told TASK_LOST.
func TestNonCheckpointingFrameworksDockerContainerEndsWithAgentRestart(t *testing.T) {
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
		Command:   &messages.CommandInfo{Value: "sleep 600", Shell: true},
		Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "agora/busybox:test"}}}
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}, Checkpoint: proto.Bool(false)}, &launcher{task: task})
	c.Events.WaitFor(t, func(ev any) bool {
		u, ok := ev.(agent.UpdateAcknowledged)
		return ok && u.State == messages.TaskState_TASK_RUNNING
	})
	fw := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 1 }).Frameworks[0].Info.Id.Value
	t.Cleanup(func() { _ = d.Destroy(context.Background(), fw+".d", "") })
	containers := func() []container.Summary {
		t.Helper()
		found, err := d.Client.ContainerList(context.Background(), container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", containerizer.LabelTask+"="+fw+".d"))})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	if len(containers()) != 1 {
		t.Fatal("the task's container is not there")
	}
	crash(c, first)
	mark := c.Events.Mark()
	addAgent(t, c, testkit.AgentSpec{Hostname: "node1", Docker: d, WorkDir: dir})
	c.Events.WaitForSince(t, mark, func(ev any) bool { r, ok := ev.(master.AgentAdmitted); return ok && r.Reregistered })
	if left := containers(); len(left) != 0 {
		t.Fatalf("the container of a non-checkpointing framework's task is left after its agent re-registered: %v", left)
	}
	ev := c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "d", messages.TaskState_TASK_LOST)).(testkit.SchedulerEvent)
	if st := ev.Event.(*messages.StatusUpdate).Status; st.Reason != messages.TaskStatusReason_REASON_AGENT_DISCONNECTED {
		t.Fatalf("lost with %v %q, want REASON_AGENT_DISCONNECTED", st.Reason, st.Message)
	}
}

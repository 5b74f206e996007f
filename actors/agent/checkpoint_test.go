package agent_test

import (
	"bytes"
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
	"github.com/agora-sched/agora/testkit"
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
// Real processes; the clock stands still.
func TestNonCheckpointingFrameworkLosesItsTaskOnAgentRestart(t *testing.T) {
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	workDir := t.TempDir()
	first := addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir})
	acked := func(task string) func(any) bool {
		return func(ev any) bool {
			u, ok := ev.(agent.UpdateAcknowledged)
			return ok && u.TaskID == task && u.State == messages.TaskState_TASK_RUNNING
		}
	}
	c.StartScheduler(&messages.FrameworkInfo{Name: "kept", Roles: []string{"r"}},
		&launcher{task: scheduler.Command("k1", "sleep 600 & sleep 600", scheduler.Resources("cpus:0.5;mem:64"))})
	c.Events.WaitFor(t, acked("k1"))
	c.StartScheduler(&messages.FrameworkInfo{Name: "lost", Roles: []string{"r"}, Checkpoint: proto.Bool(false)},
		&launcher{task: scheduler.Command("n1", "sleep 600 & sleep 600", scheduler.Resources("cpus:0.5;mem:64"))})
	c.Events.WaitFor(t, acked("n1"))
	ids := map[string]string{}
	for _, f := range c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 2 }).Frameworks {
		ids[f.Info.Name] = f.Info.Id.Value
	}
	kept, lost := runningCheckpoint(t, workDir, ids["kept"], "k1"), runningCheckpoint(t, workDir, ids["lost"], "n1")
	t.Cleanup(func() { // their process groups, whatever the test left
		_ = syscall.Kill(-int(kept.Pid), syscall.SIGKILL)
		if running(int(lost.Pid), lost.StartTime) {
			_ = syscall.Kill(-int(lost.Pid), syscall.SIGKILL)
		}
	})
	lostSandbox := filepath.Join(workDir, "frameworks", ids["lost"], "tasks", "n1")
	if procs := sandboxProcesses(t, lostSandbox); len(procs) < 3 || !slices.Contains(procs, int(lost.Pid)) {
		t.Fatalf("the non-checkpointing task runs processes %v, want its own (%d) and its shell's two sleeps", procs, lost.Pid)
	}

	crash(c, first) // both tasks go on
	mark := c.Events.Mark()
	addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir})
	c.Events.WaitForSince(t, mark, func(ev any) bool { r, ok := ev.(master.AgentAdmitted); return ok && r.Reregistered })
	// Ended before the agent re-registered: the master frees nothing a
	// process still uses.
	if left := sandboxProcesses(t, lostSandbox); len(left) != 0 || running(int(lost.Pid), lost.StartTime) {
		t.Fatalf("the non-checkpointing task's processes %v still run after its agent re-registered", left)
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

package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// running reports whether process pid, started at start, still runs (a
// zombie, killed and not yet reaped, does not).
func running(pid int, start uint64) bool {
	st, err := containerizer.ProcessStartTime(pid)
	if err != nil || st != start {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(b, ')')
	return err == nil && i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// A restarted agent that cannot read a task's checkpoint (truncated, or
// garbled by the disk, even where what is left would parse) does not lose the task's process: it ends what runs
// in the task's container, and only then, before it re-registers, reports
// the task TASK_FAILED with the reason; so the master frees resources that
// no process uses any more. No cgroup is left. With cgroups the container
// is the task's group; without, its processes are found by their sandbox.
// Real processes; the task has a child in the background.
func TestUnreadableCheckpointEndsTheTaskBeforeReportingIt(t *testing.T) {
	cg, err := containerizer.DetectCgroups("/sys/fs/cgroup")
	if err != nil {
		t.Fatalf("this test runs where the agent can use cgroups (root): %v", err)
	}
	for _, tc := range []struct {
		name   string
		ctr    containerizer.Command
		damage func([]byte) []byte
	}{
		{"truncated, cgroups", containerizer.Command{Cgroups: cg}, func(b []byte) []byte { return b[:len(b)/2] }},
		{"garbled, no cgroups", containerizer.Command{}, func(b []byte) []byte { return bytes.Repeat([]byte{0xff}, len(b)) }},
		{"empty, cgroups", containerizer.Command{Cgroups: cg}, func([]byte) []byte { return nil }},
		// A flip that may leave a protobuf that parses (a changed byte of
		// an update): the frame's checksum tells it from a valid one.
		{"one bit flipped, cgroups", containerizer.Command{Cgroups: cg}, func(b []byte) []byte {
			b = append([]byte{}, b...)
			b[len(b)-1] ^= 1
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
			workDir := t.TempDir()
			first := addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir, Containerizer: tc.ctr})
			task := scheduler.Command("t1", "sleep 600 & sleep 600", scheduler.Resources("cpus:0.5;mem:64"))
			c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
			c.Events.WaitFor(t, func(ev any) bool {
				u, ok := ev.(agent.UpdateAcknowledged)
				return ok && u.State == messages.TaskState_TASK_RUNNING
			})
			fw := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 1 }).Frameworks[0].Info.Id.Value
			id := fw + ".t1"
			t.Cleanup(func() {
				_ = (containerizer.Command{Cgroups: cg}).Destroy(t.Context(), id, filepath.Join(workDir, "frameworks", fw, "tasks", "t1"))
			})
			path := agent.TaskCheckpointPath(workDir, fw, "t1")
			b, err := os.ReadFile(path)
			cp := &messages.TaskCheckpoint{}
			if err != nil || checkpoint.UnmarshalMessage(b, cp) != nil || cp.Pid == 0 {
				t.Fatalf("checkpoint of the running task: %v %v", err, cp)
			}
			pid, start := int(cp.Pid), cp.StartTime

			crash(c, first) // the task goes on
			if err := os.WriteFile(path, tc.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			mark := c.Events.Mark()
			addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir, Containerizer: tc.ctr})
			ev := c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_FAILED)).(testkit.SchedulerEvent)
			if running(pid, start) {
				t.Fatal("the task was reported ended while its process still runs")
			}
			if tc.ctr.Cgroups != nil && cg.Exists(id) {
				t.Fatalf("cgroup %s left", id)
			}
			st := ev.Event.(*messages.StatusUpdate).Status
			if st.Reason != messages.TaskStatusReason_REASON_AGENT_RESTARTED || !strings.Contains(st.Message, "could not read the task's checkpoint") {
				t.Fatalf("failed with %v %q", st.Reason, st.Message)
			}
			// The agent re-registered after the task ended, with it
			// ended: the master never counted it lost.
			c.Events.WaitForSince(t, mark, func(ev any) bool { r, ok := ev.(master.AgentAdmitted); return ok && r.Reregistered })
			if n := c.Events.Count(0, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_LOST)); n != 0 {
				t.Fatalf("the framework was also told TASK_LOST %d times", n)
			}
			c.StateWhere(t, func(s *messages.MasterState) bool {
				return len(s.Frameworks) == 1 && s.Frameworks[0].Tasks["TASK_RUNNING"] == 0 && len(s.Agents) == 1 && len(s.Agents[0].Used) == 0
			})
			// The report's own checkpoint goes once it is acknowledged.
			c.Events.WaitForSince(t, mark, func(ev any) bool {
				u, ok := ev.(agent.UpdateAcknowledged)
				return ok && u.TaskID == "t1" && u.State == messages.TaskState_TASK_FAILED
			})
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("the checkpoint of the acknowledged failure is still there: %v", err)
			}
		})
	}
}

// The same for a Docker task: its container, found by its label, is
// removed before the task is reported failed.
func TestUnreadableCheckpointOfADockerTaskEndsItsContainer(t *testing.T) {
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
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
	c.Events.WaitFor(t, func(ev any) bool {
		u, ok := ev.(agent.UpdateAcknowledged)
		return ok && u.State == messages.TaskState_TASK_RUNNING
	})
	fw := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 1 }).Frameworks[0].Info.Id.Value
	t.Cleanup(func() { _ = d.Destroy(context.Background(), fw+".d", "") })
	crash(c, first)
	if err := os.WriteFile(agent.TaskCheckpointPath(dir, fw, "d"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	mark := c.Events.Mark()
	addAgent(t, c, testkit.AgentSpec{Hostname: "node1", Docker: d, WorkDir: dir})
	c.Events.WaitForSince(t, mark, testkit.IsStatus("fw", "d", messages.TaskState_TASK_FAILED))
	left, err := d.Client.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", containerizer.LabelTask+"="+fw+".d"))})
	if err != nil || len(left) != 0 {
		t.Fatalf("the task was reported failed while its container is left: %v %v", left, err)
	}
}

// An agent upgraded in place reads the unframed checkpoints its older
// version wrote: the task is re-attached, not failed.
func TestUnframedCheckpointOfAnOlderAgentIsRecovered(t *testing.T) {
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	workDir := t.TempDir()
	first := addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir})
	task := scheduler.Command("t1", "sleep 600", scheduler.Resources("cpus:0.5;mem:64"))
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
	c.Events.WaitFor(t, func(ev any) bool {
		u, ok := ev.(agent.UpdateAcknowledged)
		return ok && u.State == messages.TaskState_TASK_RUNNING
	})
	fw := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 1 }).Frameworks[0].Info.Id.Value
	path := agent.TaskCheckpointPath(workDir, fw, "t1")
	b, err := os.ReadFile(path)
	cp := &messages.TaskCheckpoint{}
	if err != nil || checkpoint.UnmarshalMessage(b, cp) != nil || cp.Pid == 0 {
		t.Fatalf("checkpoint of the running task: %v %v", err, cp)
	}
	t.Cleanup(func() { _ = syscall.Kill(-int(cp.Pid), syscall.SIGKILL) })
	if _, framed, _ := checkpoint.Unframe(b); !framed {
		t.Fatal("the agent wrote an unframed checkpoint")
	}
	crash(c, first)
	unframed, err := proto.Marshal(cp) // as agents before framing wrote it
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, unframed, 0o600); err != nil {
		t.Fatal(err)
	}
	mark := c.Events.Mark()
	addAgent(t, c, testkit.AgentSpec{Hostname: "node1", WorkDir: workDir})
	c.Events.WaitForSince(t, mark, func(ev any) bool { r, ok := ev.(master.AgentAdmitted); return ok && r.Reregistered })
	c.StateWhere(t, func(s *messages.MasterState) bool {
		return len(s.Frameworks) == 1 && s.Frameworks[0].Tasks["TASK_RUNNING"] == 1
	})
	if !running(int(cp.Pid), cp.StartTime) {
		t.Fatal("the task's process is gone")
	}
	if n := c.Events.Count(0, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_FAILED)); n != 0 {
		t.Fatal("the task was reported failed")
	}
}

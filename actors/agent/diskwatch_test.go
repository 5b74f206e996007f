package agent_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"google.golang.org/protobuf/proto"
)

// Mesos' posix/disk isolator with --enforce_container_disk_quota: every
// --disk_watch_interval the agent measures each running task's sandbox and
// kills the task holding more than its disk, TASK_FAILED with
// REASON_CONTAINER_LIMITATION_DISK. A persistent volume is bounded by its
// size likewise; a task without disk is not bounded. Real processes write
// real files; the watch runs on the agent's fake clock.
func TestTaskOverItsDiskIsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes: make test runs it")
	}
	clock := testkit.NewFakeClock()
	const interval = 15 * time.Second
	sys, pid, sent := registeredAgentWith(t, clock, agent.Config{
		Info:          &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 2}, {Name: "mem", Scalar: 256}, {Name: "disk", Scalar: 100}}},
		Containerizer: containerizer.Command{}, DiskWatchInterval: interval,
	}, nil)
	checked := make(chan agent.DiskChecked, 16)
	sub := sys.EventStream.Subscribe(func(ev any) {
		if c, ok := ev.(agent.DiskChecked); ok {
			checked <- c
		}
	})
	t.Cleanup(func() { sys.EventStream.Unsubscribe(sub) })

	resv := &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: "r", Principal: "p"}
	volume := &messages.Resource{Name: "disk", Scalar: 1, Role: "r", Reservation: resv, Disk: &messages.DiskInfo{PersistenceId: "v1", ContainerPath: "data"}}
	sys.Root.Send(pid, &messages.CheckpointResources{Resources: []*messages.Resource{volume}, MasterEpoch: 1})

	// Each writes 3 MiB of real blocks, says so through a named pipe of
	// its own, then waits to be killed.
	pipes := t.TempDir()
	task := func(id, into string, disk ...*messages.Resource) *messages.RunTask {
		if err := syscall.Mkfifo(filepath.Join(pipes, id), 0o600); err != nil {
			t.Fatal(err)
		}
		rt := runTask(id, nil)
		rt.Task.Command.Shell = true
		rt.Task.Command.Value = "head -c 3145728 /dev/zero > " + into + "/blob && echo written > " + filepath.Join(pipes, id) + " && exec sleep 600"
		rt.Task.Resources = append(rt.Task.Resources, disk...)
		return rt
	}
	sys.Root.Send(pid, task("hog", ".", &messages.Resource{Name: "disk", Scalar: 1}))
	sys.Root.Send(pid, task("vol", "data", &messages.Resource{Name: "disk", Scalar: 8}, proto.Clone(volume).(*messages.Resource)))
	sys.Root.Send(pid, task("free", "."))
	for running := map[string]bool{}; len(running) < 3; {
		m := next(t, sent, "TASK_RUNNING for each task", isUpdate).msg.(*messages.StatusUpdate)
		if s := m.Status; s.State == messages.TaskState_TASK_RUNNING {
			running[s.TaskId.Value] = true
		} else if messages.IsTerminal(s.State) {
			t.Fatalf("task %s ended before it was measured: %v %s", s.TaskId.Value, s.State, s.Message)
		}
	}
	for _, id := range []string{"hog", "vol", "free"} {
		written := make(chan error, 1)
		go func() { _, err := os.ReadFile(filepath.Join(pipes, id)); written <- err }()
		select {
		case err := <-written:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(testkit.WaitTimeout):
			t.Fatalf("task %s never wrote its file", id)
		}
	}
	// One round after the files are written kills both over their disk.
	clock.Advance(interval)
	select {
	case c := <-checked:
		if !reflect.DeepEqual(c.Killed, []string{"hog", "vol"}) || c.Targets != 3 {
			t.Fatalf("the round measured %d directories and killed %v; want 3 (two sandboxes with disk, one volume) and [hog vol]", c.Targets, c.Killed)
		}
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("no disk check round ended after the interval")
	}
	want := map[string]string{"hog": "the sandbox uses at least", "vol": `persistent volume "v1" holds at least`}
	for done := map[string]bool{}; len(done) < len(want); {
		m := next(t, sent, "TASK_FAILED of the tasks over their disk", isUpdate).msg.(*messages.StatusUpdate)
		s := m.Status
		if !messages.IsTerminal(s.State) || done[s.TaskId.Value] {
			continue // a resend
		}
		says, ok := want[s.TaskId.Value]
		if !ok {
			t.Fatalf("task %s ended: %v %s", s.TaskId.Value, s.State, s.Message)
		}
		if s.State != messages.TaskState_TASK_FAILED || s.Reason != messages.TaskStatusReason_REASON_CONTAINER_LIMITATION_DISK || !strings.Contains(s.Message, says) {
			t.Fatalf("task %s ended %v %v %q; want TASK_FAILED, REASON_CONTAINER_LIMITATION_DISK and a message saying %q", s.TaskId.Value, s.State, s.Reason, s.Message, says)
		}
		done[s.TaskId.Value] = true
	}
}

// With enforcement off (Mesos' --enforce_container_disk_quota=false) a
// task over its disk is measured and logged, and runs on.
func TestTaskOverItsDiskRunsOnWithoutEnforcement(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes: make test runs it")
	}
	clock := testkit.NewFakeClock()
	const interval = 15 * time.Second
	sys, pid, sent := registeredAgentWith(t, clock, agent.Config{
		Info:          &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 2}, {Name: "mem", Scalar: 256}, {Name: "disk", Scalar: 100}}},
		Containerizer: containerizer.Command{}, DiskWatchInterval: interval, DiskQuotaWarnOnly: true,
	}, nil)
	checked := make(chan agent.DiskChecked, 16)
	sub := sys.EventStream.Subscribe(func(ev any) {
		if c, ok := ev.(agent.DiskChecked); ok {
			checked <- c
		}
	})
	t.Cleanup(func() { sys.EventStream.Unsubscribe(sub) })
	pipe := filepath.Join(t.TempDir(), "written")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}
	rt := runTask("hog", nil)
	rt.Task.Command.Shell = true
	rt.Task.Command.Value = "head -c 3145728 /dev/zero > blob && echo written > " + pipe + " && exec sleep 600"
	rt.Task.Resources = append(rt.Task.Resources, &messages.Resource{Name: "disk", Scalar: 1})
	sys.Root.Send(pid, rt)
	if s := next(t, sent, "TASK_RUNNING", isUpdate).msg.(*messages.StatusUpdate).Status; s.State != messages.TaskState_TASK_STARTING {
		t.Fatalf("first update %v %s, want TASK_STARTING", s.State, s.Message)
	}
	if s := next(t, sent, "TASK_RUNNING", isUpdate).msg.(*messages.StatusUpdate).Status; s.State != messages.TaskState_TASK_RUNNING {
		t.Fatalf("second update %v %s, want TASK_RUNNING", s.State, s.Message)
	}
	written := make(chan error, 1)
	go func() { _, err := os.ReadFile(pipe); written <- err }()
	select {
	case err := <-written:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the task never wrote its file")
	}
	for range 2 { // two rounds: the next one is armed after the first
		clock.Advance(interval)
		select {
		case c := <-checked:
			if c.Targets != 1 || len(c.Killed) != 0 {
				t.Fatalf("the round measured %d directories and killed %v; want 1 and none", c.Targets, c.Killed)
			}
		case <-time.After(testkit.WaitTimeout):
			t.Fatal("no disk check round ended after the interval")
		}
	}
}

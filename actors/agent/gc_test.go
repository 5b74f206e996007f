package agent_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
)

// A finished task's sandbox is removed off the actor after the GC delay.
// A new task of the same ID waits for that removal before it starts in the
// same sandbox (else the removal would take its files), and the agent goes
// on with other work meanwhile.
func TestTaskOfTheSameIDWaitsForItsSandboxRemoval(t *testing.T) {
	clock := testkit.NewFakeClock()
	hold := newHold()
	hold.match = func(path string) bool { return filepath.Base(path) == "t" } // the sandbox, not a file in it
	// Every other disk op, in the order the writer carries them out.
	ops := make(chan string, 64)
	hook := func(path string) {
		if !hold.match(path) {
			ops <- path
		}
		hold.hook(path)
	}
	sys, pid, sent := registeredAgentWith(t, clock, agent.Config{Containerizer: testkit.SimContainerizer{Clock: clock}, SandboxGC: time.Hour}, hook)
	t.Cleanup(hold.let)
	events := make(chan any, 16)
	sys.EventStream.Subscribe(func(ev any) {
		switch ev := ev.(type) {
		case agent.SandboxRemoved:
			events <- ev
		case agent.UpdateAcknowledged:
			if ev.State == messages.TaskState_TASK_KILLED {
				events <- ev
			}
		}
	})
	taskUpdate := func(task string) func(proto.Message) bool {
		return func(m proto.Message) bool {
			u, ok := m.(*messages.StatusUpdate)
			return ok && u.Status.TaskId.Value == task
		}
	}
	// Each update of the task, acknowledged as the scheduler would.
	acknowledge := func(want messages.TaskState) sentMsg {
		t.Helper()
		s := next(t, sent, want.String(), taskUpdate("t"))
		up := s.msg.(*messages.StatusUpdate)
		if up.Status.State != want {
			t.Fatalf("task went %v, want %v", up.Status.State, want)
		}
		sys.Root.Send(pid, &messages.StatusUpdateAcknowledgement{FrameworkId: up.FrameworkId, TaskId: up.Status.TaskId, Uuid: up.Status.Uuid})
		return s
	}
	waitEvent := func(what string) any {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(testkit.WaitTimeout):
			t.Fatalf("no %s", what)
		}
		return nil
	}

	sys.Root.Send(pid, runTask("t", nil))
	acknowledge(messages.TaskState_TASK_STARTING)
	acknowledge(messages.TaskState_TASK_RUNNING)
	sys.Root.Send(pid, &messages.KillTask{FrameworkId: &messages.FrameworkID{Value: "fw"}, TaskId: &messages.TaskID{Value: "t"}, MasterEpoch: 1})
	acknowledge(messages.TaskState_TASK_KILLING)
	acknowledge(messages.TaskState_TASK_KILLED)
	waitEvent("acknowledgement of TASK_KILLED") // the GC timer is armed
	clock.Advance(time.Hour)
	hold.waitHeld(t)

	for len(ops) > 0 {
		<-ops // the first task's, all done before it was acknowledged
	}
	// The new task of the same ID, then another whose checkpoint goes
	// through the same disk writer: the other's comes first, while the
	// new one waits for its sandbox.
	other := ""
	for i := 0; other == ""; i++ {
		if u := fmt.Sprintf("u%d", i); agent.DiskLaneOfTask("fw", u) == agent.DiskLaneOfTask("fw", "t") {
			other = u
		}
	}
	sys.Root.Send(pid, runTask("t", nil))
	sys.Root.Send(pid, runTask(other, nil))
	for waiting := true; waiting; {
		select {
		case path := <-ops:
			switch strings.TrimSuffix(filepath.Base(path), agent.CheckpointExt) {
			case "t":
				t.Fatalf("%s written while its sandbox was being removed", path)
			case other:
				waiting = false
			}
		case <-time.After(testkit.WaitTimeout):
			t.Fatal("the other task was not checkpointed while the sandbox was being removed")
		}
	}
	hold.let()
	if ev, ok := waitEvent("sandbox removal").(agent.SandboxRemoved); !ok || filepath.Base(ev.Dir) != "t" {
		t.Fatalf("event %v, want the sandbox of t removed", ev)
	}
	if s := acknowledge(messages.TaskState_TASK_STARTING); s.cp == nil {
		t.Fatal("the new task has no checkpoint")
	}
	acknowledge(messages.TaskState_TASK_RUNNING)
}

// Each finished task's sandbox goes at its own time after the GC delay:
// two finished together go together, one finished later goes later, and
// the metrics count what waits and what went.
func TestFinishedSandboxesGoEachAfterTheGCDelay(t *testing.T) {
	clock := testkit.NewFakeClock()
	reg := prometheus.NewRegistry()
	sys, pid, sent := registeredAgentWith(t, clock, agent.Config{Containerizer: testkit.SimContainerizer{Clock: clock}, SandboxGC: time.Hour, Metrics: agent.NewMetrics(reg)}, nil)
	// gc compares the GC's series; the agent sets them before it
	// publishes the removal events the test waits for.
	gc := func(pending, succeeded int) {
		t.Helper()
		want := fmt.Sprintf(`
# HELP agora_agent_gc_path_removals_pending Finished tasks' sandboxes waiting for the GC delay (--sandbox-gc) before their removal.
# TYPE agora_agent_gc_path_removals_pending gauge
agora_agent_gc_path_removals_pending %d
`, pending)
		if succeeded > 0 {
			want += fmt.Sprintf(`# HELP agora_agent_gc_path_removals_total Removals of finished tasks' sandboxes, by result (succeeded, failed: the agent's log says why).
# TYPE agora_agent_gc_path_removals_total counter
agora_agent_gc_path_removals_total{result="succeeded"} %d
`, succeeded)
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "agora_agent_gc_path_removals_pending", "agora_agent_gc_path_removals_total"); err != nil {
			t.Fatal(err)
		}
	}
	removed := make(chan string, 16)
	killed := make(chan string, 16)
	sys.EventStream.Subscribe(func(ev any) {
		switch ev := ev.(type) {
		case agent.SandboxRemoved:
			removed <- ev.Dir
		case agent.UpdateAcknowledged:
			if ev.State == messages.TaskState_TASK_KILLED {
				killed <- ev.TaskID
			}
		}
	})
	finish := func(task string) {
		t.Helper()
		acknowledge := func(want messages.TaskState) {
			t.Helper()
			s := next(t, sent, task+" "+want.String(), func(m proto.Message) bool {
				u, ok := m.(*messages.StatusUpdate)
				return ok && u.Status.TaskId.Value == task && u.Status.State == want
			})
			up := s.msg.(*messages.StatusUpdate)
			sys.Root.Send(pid, &messages.StatusUpdateAcknowledgement{FrameworkId: up.FrameworkId, TaskId: up.Status.TaskId, Uuid: up.Status.Uuid})
		}
		sys.Root.Send(pid, runTask(task, nil))
		acknowledge(messages.TaskState_TASK_STARTING)
		acknowledge(messages.TaskState_TASK_RUNNING)
		sys.Root.Send(pid, &messages.KillTask{FrameworkId: &messages.FrameworkID{Value: "fw"}, TaskId: &messages.TaskID{Value: task}, MasterEpoch: 1})
		acknowledge(messages.TaskState_TASK_KILLING)
		acknowledge(messages.TaskState_TASK_KILLED)
		select {
		case id := <-killed:
			if id != task {
				t.Fatalf("acknowledged %s, want %s", id, task)
			}
		case <-time.After(testkit.WaitTimeout):
			t.Fatalf("no acknowledgement of %s's TASK_KILLED", task)
		}
	}
	// expect waits for the removal of the sandboxes named.
	expect := func(want ...string) {
		t.Helper()
		var got []string
		for range want {
			select {
			case dir := <-removed:
				got = append(got, filepath.Base(dir))
			case <-time.After(testkit.WaitTimeout):
				t.Fatalf("removed %v, want %v", got, want)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("removed %v, want %v", got, want)
		}
	}

	finish("a")
	finish("b")
	clock.Advance(30 * time.Minute)
	finish("c")
	gc(3, 0)
	clock.Advance(30 * time.Minute) // a and b are an hour old
	expect("a", "b")
	gc(1, 2) // c, half an hour old, waits
	clock.Advance(30 * time.Minute)
	expect("c")
	gc(0, 3)
}

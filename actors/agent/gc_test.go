package agent_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
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

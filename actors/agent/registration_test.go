package agent_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/checkpoint"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// sentMsg is a message the agent sent and, for a status update or an
// acknowledgement to an executor, its task's checkpoint as it was on disk
// at that moment (nil if there was none).
type sentMsg struct {
	msg proto.Message
	cp  *messages.TaskCheckpoint
}

// recordSent is sender middleware that copies every message the agent
// sends into a channel, on the agent's goroutine, as it sends it, with
// the checkpoint of the task it is about (under work dir dir; tasks of
// framework "fw" for acknowledgements). A StatusUpdates batch is recorded
// as its updates, one by one: each is a fact of its own.
func recordSent(sent chan<- sentMsg, dir string) actor.SenderMiddleware {
	return func(next actor.SenderFunc) actor.SenderFunc {
		return func(ctx actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
			if b, ok := env.Message.(*messages.StatusUpdates); ok {
				for _, m := range b.Updates {
					sent <- sentMsg{msg: proto.Clone(m), cp: checkpointOf(dir, m.GetFrameworkId().GetValue(), m.GetStatus().GetTaskId().GetValue())}
				}
			} else if m, ok := env.Message.(proto.Message); ok {
				s := sentMsg{msg: proto.Clone(m)}
				switch m := m.(type) {
				case *messages.StatusUpdate:
					s.cp = checkpointOf(dir, m.GetFrameworkId().GetValue(), m.GetStatus().GetTaskId().GetValue())
				case *messages.ExecutorStatusAcknowledged:
					s.cp = checkpointOf(dir, "fw", m.GetTaskId().GetValue())
				}
				sent <- s
			}
			next(ctx, target, env)
		}
	}
}

func checkpointOf(dir, framework, task string) *messages.TaskCheckpoint {
	b, err := os.ReadFile(agent.TaskCheckpointPath(dir, framework, task))
	cp := &messages.TaskCheckpoint{}
	if err != nil || checkpoint.UnmarshalMessage(b, cp) != nil {
		return nil
	}
	return cp
}

// startMaster starts a master (with its allocator) on clock, in an actor
// system of its own, for an agent the test builds itself. The actors run
// on their own (not on testkit's serial dispatcher): these tests are about
// what the agent does while its own goroutines (the disk) are under way.
func startMaster(t *testing.T, clock *testkit.FakeClock) (*actor.ActorSystem, *actor.PID) {
	t.Helper()
	c := testkit.Start(t, testkit.Options{Clock: clock, Logger: testLogger(), Concurrent: true})
	return c.System, c.Master
}

// An agent acts as registered (publishes Registered, heartbeats, runs what
// the master sends, reports) only once the AgentID the master gave it is on
// disk: a restart before that must not leave a master that believes the node
// holds its ID while the node comes back without it (the flake of
// TestProcessesRegisterFailAndReturn: a second agent for the same node).
// The master acts on its answer at once, so a task it sends while the ID is
// being written waits and runs after: it is neither lost nor refused.
func TestAgentActsAsRegisteredOnlyOnceItsIDIsOnDisk(t *testing.T) {
	clock := testkit.NewFakeClock()
	sys, masterPID := startMaster(t, clock)
	dir := t.TempDir()
	idFile := filepath.Join(dir, "agent_id")
	writing, release := make(chan struct{}), make(chan struct{})
	hook := func(path string) {
		if path == idFile {
			close(writing)
			<-release
		}
	}
	// Whether the ID was on disk at the moment the agent said it registered.
	registered := make(chan bool, 1)
	sys.EventStream.Subscribe(func(ev any) {
		if r, ok := ev.(agent.Registered); ok {
			id, _ := agent.LoadAgentID(dir)
			registered <- id == r.AgentID
		}
	})
	sent := make(chan sentMsg, 256)
	pid := sys.Root.Spawn(agent.Props(agent.WithDiskHook(agent.Config{
		Info:   &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}, {Name: "mem", Scalar: 256}}},
		Master: masterPID, WorkDir: dir, Clock: clock, Logger: slog.New(slog.DiscardHandler),
		Containerizer: testkit.SimContainerizer{Clock: clock}, SenderMiddleware: []actor.SenderMiddleware{recordSent(sent, dir)},
	}, hook)))
	// Stopped (and so done writing) before its work dir is removed.
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	var let sync.Once
	letWrite := func() { let.Do(func() { close(release) }) }
	t.Cleanup(letWrite) // first: a failed test must not leave the write held

	select {
	case <-writing:
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the agent never wrote the AgentID the master gave it")
	}
	sys.Root.Send(pid, &messages.RunTask{
		Framework: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "fw"}, Name: "fw"}, Role: "r", MasterEpoch: 1,
		Task: &messages.TaskInfo{Name: "t", TaskId: &messages.TaskID{Value: "t"}, Command: &messages.CommandInfo{Value: "true"},
			Resources: []*messages.Resource{{Name: "cpus", Scalar: 0.5}}},
	})
	// And a batch (what a master sends an agent that takes batches): kept
	// task by task too.
	sys.Root.Send(pid, &messages.RunTasks{Tasks: []*messages.RunTask{{
		Framework: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "fw"}, Name: "fw"}, Role: "r", MasterEpoch: 1,
		Task: &messages.TaskInfo{Name: "t2", TaskId: &messages.TaskID{Value: "t2"}, Command: &messages.CommandInfo{Value: "true"},
			Resources: []*messages.Resource{{Name: "cpus", Scalar: 0.25}}},
	}}})
	// The registration retry fires after the task is in the agent's
	// mailbox; once the agent sends it, it has handled the task.
	clock.Advance(2 * time.Second)
	for registrations := 0; registrations < 2; {
		select {
		case m := <-sent:
			switch m.msg.(type) {
			case *messages.RegisterAgent:
				registrations++
			default:
				t.Fatalf("the agent sent %T before its ID was on disk", m.msg)
			}
		case <-registered:
			t.Fatal("the agent said it registered before its ID was on disk")
		case <-time.After(testkit.WaitTimeout):
			t.Fatal("the agent stopped retrying its registration while its ID was being written")
		}
	}

	letWrite()
	select {
	case onDisk := <-registered:
		if !onDisk {
			t.Fatal("the AgentID was not on disk when the agent said it registered")
		}
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the agent never registered once its ID was on disk")
	}
	running := map[string]bool{}
	for len(running) < 2 {
		select {
		case m := <-sent:
			if u, ok := m.msg.(*messages.StatusUpdate); ok && u.Status.State == messages.TaskState_TASK_RUNNING {
				running[u.Status.TaskId.GetValue()] = true // an early task ran
			}
		case <-time.After(testkit.WaitTimeout):
			t.Fatalf("of the tasks the master sent while the ID was being written (t alone, t2 in a RunTasks), only %v ran", running)
		}
	}
}

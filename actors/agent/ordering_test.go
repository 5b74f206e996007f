package agent_test

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// holdCheckpoints is a disk hook that holds back the first op on a path
// that match accepts (the first task checkpoint write, by default) until
// released, and says when it holds it.
type holdCheckpoints struct {
	held, release chan struct{}
	once          sync.Once
	match         func(path string) bool
	holding       bool // off the actor only
}

// let releases the held write (again: a no-op). Tests also call it on
// cleanup, so that a failed test does not leave the agent stuck.
func (h *holdCheckpoints) let() { h.once.Do(func() { close(h.release) }) }

func newHold() *holdCheckpoints {
	return &holdCheckpoints{held: make(chan struct{}), release: make(chan struct{}),
		match: func(path string) bool {
			return strings.HasSuffix(path, agent.CheckpointExt) && strings.Contains(path, "/tasks/")
		}}
}

func (h *holdCheckpoints) hook(path string) {
	if h.match(path) && !h.holding {
		h.holding = true
		close(h.held)
		<-h.release
	}
}

func (h *holdCheckpoints) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-h.held:
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the agent never got to the op held back")
	}
}

// registeredAgent starts a master and an agent on a fake clock (simulated
// tasks, a real work dir) and returns once the agent is registered. sent
// gets every message the agent sends.
func registeredAgent(t *testing.T, hook func(string)) (sys *actor.ActorSystem, pid *actor.PID, sent chan sentMsg) {
	t.Helper()
	clock := testkit.NewFakeClock()
	return registeredAgentWith(t, clock, agent.Config{Containerizer: testkit.SimContainerizer{Clock: clock}}, hook)
}

// registeredAgentWith is registeredAgent with the resources (Info, if
// set), containerizer, sandbox GC delay and disk watch of cfg.
func registeredAgentWith(t *testing.T, clock *testkit.FakeClock, cfg agent.Config, hook func(string)) (sys *actor.ActorSystem, pid *actor.PID, sent chan sentMsg) {
	t.Helper()
	// The master has a clock of its own that stays put: a test moves the
	// agent's time without the master losing sight of it.
	sys, masterPID := startMaster(t, testkit.NewFakeClock())
	dir := cfg.WorkDir
	if dir == "" {
		dir = t.TempDir()
	}
	registered := make(chan struct{})
	sub := sys.EventStream.Subscribe(func(ev any) {
		if _, ok := ev.(agent.Registered); ok {
			close(registered)
		}
	})
	defer sys.EventStream.Unsubscribe(sub)
	sent = make(chan sentMsg, 256)
	info := cfg.Info
	if info == nil {
		info = &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}, {Name: "mem", Scalar: 256}}}
	}
	pid = sys.Root.Spawn(agent.Props(agent.WithDiskHook(agent.Config{
		Info:   info,
		Master: masterPID, WorkDir: dir, Clock: clock, Logger: testLogger(), Metrics: cfg.Metrics, WriteInline: cfg.WriteInline,
		Containerizer: cfg.Containerizer, Docker: cfg.Docker, SandboxGC: cfg.SandboxGC, SenderMiddleware: []actor.SenderMiddleware{recordSent(sent, dir)},
		DiskWatchInterval: cfg.DiskWatchInterval, DiskQuotaWarnOnly: cfg.DiskQuotaWarnOnly,
	}, hook)))
	// Stopped (and so done writing) before its work dir is removed.
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	select {
	case <-registered:
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the agent never registered")
	}
	return sys, pid, sent
}

// next returns the next message the agent sends that ok accepts, skipping
// the others.
func next(t *testing.T, sent <-chan sentMsg, what string, ok func(proto.Message) bool) sentMsg {
	t.Helper()
	for {
		select {
		case m := <-sent:
			if ok(m.msg) {
				return m
			}
		case <-time.After(testkit.WaitTimeout):
			t.Fatalf("the agent never sent %s", what)
		}
	}
}

func isUpdate(m proto.Message) bool { _, ok := m.(*messages.StatusUpdate); return ok }

func isExecutorAck(m proto.Message) bool {
	_, ok := m.(*messages.ExecutorStatusAcknowledged)
	return ok
}

func runTask(task string, executor *messages.ExecutorInfo) *messages.RunTask {
	return &messages.RunTask{
		Framework: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "fw"}, Name: "fw"}, Role: "r", MasterEpoch: 1,
		Task: &messages.TaskInfo{Name: task, TaskId: &messages.TaskID{Value: task}, Command: &messages.CommandInfo{Value: "true"},
			Executor: executor, Resources: []*messages.Resource{{Name: "cpus", Scalar: 0.5}}},
	}
}

// A status update goes out only once the checkpoint holding it is on disk
// (so an agent that crashes after sending it resends it when it restarts),
// and the write happens off the actor: while a task's checkpoint is held
// back, the agent goes on with other work.
func TestStatusUpdateGoesOutOnlyOnceCheckpointed(t *testing.T) {
	hold := newHold()
	sys, pid, sent := registeredAgent(t, hold.hook)
	t.Cleanup(hold.let)
	sys.Root.Send(pid, runTask("t", nil))
	hold.waitHeld(t)
	// A kill of a task unknown here is answered TASK_LOST with no
	// checkpoint: it comes after the task in the agent's mailbox, so its
	// update going out first shows that the task's waits, and that the
	// agent is not blocked meanwhile.
	sys.Root.Send(pid, &messages.KillTask{FrameworkId: &messages.FrameworkID{Value: "fw"}, TaskId: &messages.TaskID{Value: "ghost"}, MasterEpoch: 1})
	first := next(t, sent, "a status update", isUpdate).msg.(*messages.StatusUpdate)
	if first.Status.TaskId.Value != "ghost" || first.Status.State != messages.TaskState_TASK_LOST {
		t.Fatalf("first update %v, want the unknown task's TASK_LOST (the task's own waits for its checkpoint)", first.Status)
	}
	hold.let()
	for _, want := range []messages.TaskState{messages.TaskState_TASK_STARTING, messages.TaskState_TASK_RUNNING} {
		s := next(t, sent, want.String(), isUpdate)
		up := s.msg.(*messages.StatusUpdate)
		if up.Status.TaskId.Value != "t" || up.Status.State != want {
			t.Fatalf("update %v, want the task's %v", up.Status, want)
		}
		if !holds(s.cp, up) {
			t.Fatalf("%v went out with the checkpoint at %v: want it on disk first", want, s.cp)
		}
	}
}

// holds reports whether checkpoint cp holds update up among its pending
// ones.
func holds(cp *messages.TaskCheckpoint, up *messages.StatusUpdate) bool {
	for _, p := range cp.GetPending() {
		if proto.Equal(p.Status, up.Status) {
			return true
		}
	}
	return false
}

// An executor's status update is acknowledged to the executor only once
// the agent's own update for it is checkpointed: until then the executor
// keeps it and resends it to a restarted agent.
func TestExecutorUpdateAcknowledgedOnlyOnceCheckpointed(t *testing.T) {
	hold := newHold()
	sys, pid, sent := registeredAgent(t, hold.hook)
	t.Cleanup(hold.let)
	execInfo := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "ex"}, Command: &messages.CommandInfo{Value: "/unused"}}
	sys.Root.Send(pid, runTask("t", execInfo))

	// The executor: registers and reports what the agent sends it.
	got := make(chan any, 16)
	exec := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			ctx.Send(pid, &messages.RegisterExecutor{FrameworkId: &messages.FrameworkID{Value: "fw"}, ExecutorId: &messages.ExecutorID{Value: "ex"}, Pid: ctx.Self()})
		case *messages.ExecutorRegistered, *messages.LaunchTask, *messages.ExecutorStatusAcknowledged:
			got <- m
		}
	}))
	defer sys.Root.Stop(exec)
	for _, want := range []string{"*messages.ExecutorRegistered", "*messages.LaunchTask"} {
		select {
		case m := <-got:
			if name := fmt.Sprintf("%T", m); name != want {
				t.Fatalf("executor got %s, want %s", name, want)
			}
		case <-time.After(testkit.WaitTimeout):
			t.Fatalf("executor never got %s", want)
		}
	}
	uuid := []byte("executor-update-1")
	sys.Root.Send(pid, &messages.ExecutorStatusUpdate{FrameworkId: &messages.FrameworkID{Value: "fw"}, ExecutorId: &messages.ExecutorID{Value: "ex"},
		Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: "t"}, State: messages.TaskState_TASK_RUNNING}, Uuid: uuid})
	hold.waitHeld(t)
	// A framework message from the executor comes after the update in the
	// agent's mailbox; once the agent forwards it, it has handled the
	// update, and must not have acknowledged it yet.
	sys.Root.Send(pid, &messages.ExecutorToFramework{FrameworkId: &messages.FrameworkID{Value: "fw"}, ExecutorId: &messages.ExecutorID{Value: "ex"}, Data: []byte("probe")})
	next(t, sent, "the framework message", func(m proto.Message) bool {
		if isExecutorAck(m) {
			t.Fatal("the executor's update was acknowledged before the agent's own was on disk")
		}
		_, fwd := m.(*messages.ExecutorToFramework)
		return fwd
	})
	hold.let()
	s := next(t, sent, "the acknowledgement", isExecutorAck)
	if ack := s.msg.(*messages.ExecutorStatusAcknowledged); string(ack.Uuid) != string(uuid) {
		t.Fatalf("acknowledged %v", ack)
	}
	if s.cp.GetState() != messages.TaskState_TASK_RUNNING {
		t.Fatalf("acknowledged with the checkpoint at %v, want RUNNING on disk first", s.cp)
	}
	select {
	case m := <-got:
		if _, ok := m.(*messages.ExecutorStatusAcknowledged); !ok {
			t.Fatalf("executor got %T", m)
		}
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the acknowledgement never reached the executor")
	}
}

// testLogger discards unless AGORA_TEST_LOG is set (as testkit's).
func testLogger() *slog.Logger {
	if os.Getenv("AGORA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

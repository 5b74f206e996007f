package agent_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// olderMaster answers a registration as a master of an earlier version
// does, without takes_batches, and passes on what the agent sends it.
type olderMaster struct{ got chan<- proto.Message }

func (m olderMaster) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *messages.RegisterAgent:
		m.got <- msg
		ctx.Send(msg.Pid, &messages.AgentRegistered{AgentId: &messages.AgentID{Value: "old-A1"},
			Master: &messages.MasterInfo{Id: "old", Epoch: 1}, HeartbeatIntervalNanos: int64(time.Hour)})
	case proto.Message:
		m.got <- msg
	}
}

// An agent says it takes batches, and sends its status updates one by one
// to a master that has not said it takes StatusUpdates (an older version,
// mid-upgrade), even those of the tasks of one RunTasks.
func TestAgentSendsUpdatesOneByOneToAnOlderMaster(t *testing.T) {
	clock := testkit.NewFakeClock()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	got := make(chan proto.Message, 64)
	master := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return olderMaster{got} }))
	registered := make(chan struct{}, 1)
	sys.EventStream.Subscribe(func(ev any) {
		if _, ok := ev.(agent.Registered); ok {
			registered <- struct{}{}
		}
	})
	pid := sys.Root.Spawn(agent.Props(agent.Config{
		Info:   &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 2}, {Name: "mem", Scalar: 512}}},
		Master: master, WorkDir: t.TempDir(), Clock: clock, Logger: slog.New(slog.DiscardHandler),
		Containerizer: testkit.SimContainerizer{Clock: clock},
	}))
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })

	next := func() proto.Message {
		t.Helper()
		select {
		case m := <-got:
			return m
		case <-time.After(testkit.WaitTimeout):
			t.Fatal("the agent sent nothing more")
			return nil
		}
	}
	reg, ok := next().(*messages.RegisterAgent)
	if !ok || !reg.GetInfo().GetTakesBatches() {
		t.Fatalf("the agent registered with %v; want a RegisterAgent saying it takes batches", reg)
	}
	select {
	case <-registered:
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the agent never registered")
	}
	run := func(id string) *messages.RunTask {
		return &messages.RunTask{Framework: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "fw"}, Name: "fw"}, Role: "r", MasterEpoch: 1,
			Task: &messages.TaskInfo{Name: id, TaskId: &messages.TaskID{Value: id}, Command: &messages.CommandInfo{Value: "true"},
				Resources: []*messages.Resource{{Name: "cpus", Scalar: 0.5}}}}
	}
	sys.Root.Send(pid, &messages.RunTasks{Tasks: []*messages.RunTask{run("t1"), run("t2")}})
	seen := map[string]bool{}
	for len(seen) < 2 {
		switch m := next().(type) {
		case *messages.StatusUpdate:
			seen[m.GetStatus().GetTaskId().GetValue()] = true
		case *messages.StatusUpdates:
			t.Fatalf("the agent sent a StatusUpdates of %d to a master that did not say it takes them", len(m.Updates))
		}
	}
}

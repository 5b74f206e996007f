package executor_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/executor"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

const wait = 30 * time.Second

// The SDK keeps every status update until the agent acknowledges it and
// resends the unacknowledged ones when a restarted agent asks it to
// re-register. What it sends is a copy: an agent in the same process that
// changes a message it got cannot change the SDK's own record (books and
// outgoing messages never share a protobuf).
func TestUnacknowledgedUpdatesAreResentUnchanged(t *testing.T) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer sys.Shutdown()
	got := make(chan proto.Message, 16)
	agent := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(proto.Message); ok {
			got <- m
		}
	}))
	receive := func(want string) proto.Message {
		t.Helper()
		select {
		case m := <-got:
			if name := string(m.ProtoReflect().Descriptor().Name()); name != want {
				t.Fatalf("agent got %s, want %s", name, want)
			}
			return m
		case <-time.After(wait):
			t.Fatalf("agent never got %s", want)
		}
		return nil
	}
	cfg := executor.Config{Agent: agent, FrameworkID: "fw", ExecutorID: "ex", Logger: slog.New(slog.DiscardHandler)}
	exec := sys.Root.Spawn(executor.Props(cfg, executor.HandlerFunc(func(d *executor.Driver, ev any) {
		if l, ok := ev.(*messages.LaunchTask); ok {
			d.SendStatus(l.Task.TaskId.Value, messages.TaskState_TASK_RUNNING, "up", nil)
		}
	})))
	receive("RegisterExecutor")
	sys.Root.Send(exec, &messages.LaunchTask{Task: &messages.TaskInfo{TaskId: &messages.TaskID{Value: "t"}}})
	sent := receive("ExecutorStatusUpdate").(*messages.ExecutorStatusUpdate)
	uuid := sent.Uuid
	sent.Status.State, sent.Status.Message = messages.TaskState_TASK_FAILED, "changed by the receiver"

	sys.Root.Send(exec, &messages.ReconnectExecutor{Agent: agent})
	re := receive("ReregisterExecutor").(*messages.ReregisterExecutor)
	if len(re.Unacknowledged) != 1 || re.Unacknowledged[0].Status.State != messages.TaskState_TASK_RUNNING || re.Unacknowledged[0].Status.Message != "up" {
		t.Fatalf("resent %v, want the RUNNING update as it was sent", re.Unacknowledged)
	}
	if len(re.Tasks) != 1 || re.Tasks[0].Value != "t" {
		t.Fatalf("re-registered with tasks %v", re.Tasks)
	}

	sys.Root.Send(exec, &messages.ExecutorStatusAcknowledged{TaskId: &messages.TaskID{Value: "t"}, Uuid: uuid})
	sys.Root.Send(exec, &messages.ReconnectExecutor{Agent: agent})
	if re := receive("ReregisterExecutor").(*messages.ReregisterExecutor); len(re.Unacknowledged) != 0 {
		t.Fatalf("an acknowledged update was resent: %v", re.Unacknowledged)
	}
}

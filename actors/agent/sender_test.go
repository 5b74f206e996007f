package agent_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
)

// What only a master may tell an agent is refused from any other
// certificate (issue 14: a RunTask sent straight to an agent ran as root).
// Remoting stamps each message with its sender's identity as a header;
// here the test stamps them itself, as remoting would.
func TestAgentTakesMastersMessagesOnlyFromAMaster(t *testing.T) {
	clock := testkit.NewFakeClock()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	defer sys.Shutdown()
	registered := make(chan agent.Registered, 4)
	sys.EventStream.Subscribe(func(ev any) {
		if r, ok := ev.(agent.Registered); ok {
			registered <- r
		}
	})
	asked := make(chan struct{}, 16)
	fakeMaster, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*messages.RegisterAgent); ok {
			asked <- struct{}{}
		}
	}), "master")
	if err != nil {
		t.Fatal(err)
	}
	pid := sys.Root.Spawn(agent.Props(agent.Config{
		Info:   &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}}},
		Master: fakeMaster, WorkDir: t.TempDir(), Clock: clock, Logger: slog.New(slog.DiscardHandler),
	}))
	select {
	case <-asked:
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the agent did not register")
	}
	answer := func(from security.Identity, id string) {
		sys.Root.Send(pid, &actor.MessageEnvelope{Header: from.Header(), Message: &messages.AgentRegistered{
			AgentId: &messages.AgentID{Value: id}, Master: &messages.MasterInfo{Id: "m", Epoch: 1},
		}})
	}
	// An agent's and a framework's certificate: refused. A master's: taken.
	answer(security.Identity{Role: security.RoleAgent, Name: "evil"}, "evil-A1")
	answer(security.Identity{Role: security.RoleFramework, Name: "evil"}, "evil-A2")
	answer(security.Identity{Role: security.RoleMaster, Name: "m1"}, "m-1-A1")
	select {
	case r := <-registered:
		if r.AgentID != "m-1-A1" {
			t.Fatalf("the agent took its AgentID %s from a sender that is not a master", r.AgentID)
		}
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the agent did not take the master's answer")
	}
}

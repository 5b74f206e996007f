package agent_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
)

// The reservations a master checkpoints on an agent survive the agent's
// restart: the agent applies them to its --resources and reports them
// when it registers again (Mesos' checkpointed resources), so a new leader
// learns them too.
func TestReservationsSurviveAgentRestart(t *testing.T) {
	clock := testkit.NewFakeClock()
	sys, masterPID := startMaster(t, clock)
	dir := t.TempDir()
	static := []*messages.Resource{{Name: "cpus", Scalar: 4}, {Name: "mem", Scalar: 1024}, {Name: "cpus", Scalar: 1, Role: "eng"}}
	written := make(chan struct{}, 4)
	hook := func(path string) {
		if filepath.Base(path) == "resources" {
			written <- struct{}{}
		}
	}
	start := func() (*actor.PID, chan sentMsg) {
		sent := make(chan sentMsg, 256)
		pid := sys.Root.Spawn(agent.Props(agent.WithDiskHook(agent.Config{
			Info:   &messages.AgentInfo{Hostname: "h", Resources: static},
			Master: masterPID, WorkDir: dir, Clock: clock, Logger: testLogger(), WriteInline: true,
			Containerizer: testkit.SimContainerizer{Clock: clock}, SenderMiddleware: []actor.SenderMiddleware{recordSent(sent, dir)},
		}, hook)))
		return pid, sent
	}
	registration := func(sent chan sentMsg) *messages.AgentInfo {
		t.Helper()
		for {
			select {
			case m := <-sent:
				switch r := m.msg.(type) {
				case *messages.RegisterAgent:
					return r.Info
				case *messages.ReregisterAgent:
					return r.Info
				}
			case <-time.After(testkit.WaitTimeout):
				t.Fatal("the agent did not register")
			}
		}
	}
	pid, sent := start()
	if got := messages.FormatResources(registration(sent).Resources); got != "cpus:4;mem:1024;cpus(eng):1" {
		t.Fatalf("first registration reports %s", got)
	}
	dyn := []*messages.Resource{{Name: "cpus", Scalar: 2, Role: "eng", Reservation: &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: "eng", Principal: "alice"}}}
	// Too much is refused (the books would disagree): nothing is kept.
	sys.Root.Send(pid, &messages.CheckpointResources{Resources: []*messages.Resource{{Name: "cpus", Scalar: 9, Role: "eng",
		Reservation: &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: "eng"}}}, MasterEpoch: 1})
	sys.Root.Send(pid, &messages.CheckpointResources{Resources: dyn, MasterEpoch: 1})
	// Written inline, on the agent's goroutine, right after the hook:
	// the stop comes after it.
	select {
	case <-written:
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the agent never wrote its reservations")
	}
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	pid, sent = start()
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	info := registration(sent)
	_, d := messages.SplitDynamic(info.Resources)
	if got := messages.FormatResources(messages.SumResources(info.Resources)); got != "cpus:2;cpus(eng):3;mem:1024" || len(d) != 1 || d[0].Reservation.Principal != "alice" {
		t.Fatalf("after a restart the agent reports %s (dynamic %v); want its reservation of cpus(eng):2 by alice kept", got, d)
	}
}

// Registration messages carry the agent's AgentInfo itself, not a copy (a
// copy per retry was a third of the retries' CPU after a failover at 40,000
// agents): a change (the ID the master assigns, the reservations it
// checkpoints) replaces the agent's AgentInfo, so what was sent, which a
// master in the same process reads after the send, stays as it was sent.
func TestSentRegistrationInfoIsNeverChanged(t *testing.T) {
	clock := testkit.NewFakeClock()
	sys, masterPID := startMaster(t, clock)
	dir := t.TempDir()
	written := make(chan struct{}, 4)
	hook := func(path string) {
		if filepath.Base(path) == "resources" {
			written <- struct{}{}
		}
	}
	// The message itself as sent, not a copy (recordSent clones).
	first := make(chan *messages.AgentInfo, 1)
	raw := func(next actor.SenderFunc) actor.SenderFunc {
		return func(ctx actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
			if r, ok := env.Message.(*messages.RegisterAgent); ok {
				select {
				case first <- r.Info:
				default:
				}
			}
			next(ctx, target, env)
		}
	}
	registered := make(chan struct{}, 1)
	sys.EventStream.Subscribe(func(ev any) {
		if _, ok := ev.(agent.Registered); ok {
			select {
			case registered <- struct{}{}:
			default:
			}
		}
	})
	pid := sys.Root.Spawn(agent.Props(agent.WithDiskHook(agent.Config{
		Info:   &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 4}, {Name: "mem", Scalar: 1024}}},
		Master: masterPID, WorkDir: dir, Clock: clock, Logger: testLogger(), WriteInline: true,
		Containerizer: testkit.SimContainerizer{Clock: clock}, SenderMiddleware: []actor.SenderMiddleware{raw},
	}, hook)))
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	var sent *messages.AgentInfo
	select {
	case sent = <-first:
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the agent did not register")
	}
	select {
	case <-registered:
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the agent was not registered")
	}
	sys.Root.Send(pid, &messages.CheckpointResources{MasterEpoch: 1, Resources: []*messages.Resource{{Name: "cpus", Scalar: 2, Role: "eng",
		Reservation: &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: "eng", Principal: "alice"}}}})
	select {
	case <-written:
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("the agent never applied the reservation")
	}
	if got := messages.FormatResources(sent.Resources); got != "cpus:4;mem:1024" || sent.Id != nil {
		t.Errorf("the registration's Info changed after it was sent: resources %s, ID %v; want cpus:4;mem:1024 and none", got, sent.Id)
	}
}

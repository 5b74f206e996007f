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

// handlingMaster answers a registration naming heartbeatTo as where
// heartbeats go, and passes on what the agent sends it.
type handlingMaster struct {
	got         chan<- proto.Message
	heartbeatTo func() *actor.PID
}

func (m handlingMaster) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *messages.RegisterAgent:
		ctx.Send(msg.Pid, &messages.AgentRegistered{AgentId: &messages.AgentID{Value: "A1"}, Master: &messages.MasterInfo{Id: "m", Epoch: 1},
			HeartbeatIntervalNanos: int64(time.Second), TakesBatches: true, HeartbeatTo: m.heartbeatTo()})
	case proto.Message:
		m.got <- msg
	}
}

// stubHandler acknowledges heartbeats as the master's handler does, and
// passes on what it gets.
type stubHandler struct{ got chan<- proto.Message }

func (h stubHandler) Receive(ctx actor.Context) {
	msg, ok := ctx.Message().(proto.Message)
	if !ok {
		return
	}
	h.got <- msg
	if hb, ok := msg.(*messages.AgentHeartbeat); ok {
		ctx.Respond(&messages.AgentHeartbeatAck{AgentId: hb.AgentId, Seq: hb.Seq, Master: &messages.MasterInfo{Id: "m", Epoch: 1}})
	}
}

// An agent sends its heartbeats where the master's registration says
// (its handler there), to the master itself when that is on another node
// (nowhere else is trusted), and to the master after one went unanswered
// (the handler is gone once the master forgot the agent).
func TestAgentHeartbeatsWhereTheMasterSays(t *testing.T) {
	for _, tc := range []struct {
		name string
		to   func(handler *actor.PID) *actor.PID
		// where the first two heartbeats arrive
		want [2]string
	}{
		{"the handler", func(h *actor.PID) *actor.PID { return h }, [2]string{"handler", "handler"}},
		{"another node", func(h *actor.PID) *actor.PID { return actor.NewPID("elsewhere:1", h.Id) }, [2]string{"master", "master"}},
		{"a handler that is gone", func(h *actor.PID) *actor.PID { return actor.NewPID(h.Address, "gone") }, [2]string{"nowhere", "master"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Every actor on one Serial dispatcher: after the clock
			// moves, Run lets each react (a heartbeat sent, its answer
			// taken, the next timer armed) before the test looks.
			serial := &testkit.Serial{}
			onSerial := actor.WithDispatcher(serial)
			clock := testkit.NewFakeClock()
			sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
			toMaster, toHandler, lost := make(chan proto.Message, 64), make(chan proto.Message, 64), make(chan proto.Message, 64)
			handler := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return stubHandler{toHandler} }, onSerial))
			master := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
				return handlingMaster{got: toMaster, heartbeatTo: func() *actor.PID { return tc.to(handler) }}
			}, onSerial))
			registered := make(chan struct{}, 1)
			sys.EventStream.Subscribe(func(ev any) {
				switch ev := ev.(type) {
				case agent.Registered:
					registered <- struct{}{}
				case *actor.DeadLetterEvent:
					if m, ok := ev.Message.(proto.Message); ok {
						lost <- m
					}
				}
			})
			pid := sys.Root.Spawn(agent.Props(agent.Config{
				Info:   &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 2}}},
				Master: master, WorkDir: t.TempDir(), Clock: clock, Logger: slog.New(slog.DiscardHandler),
				Containerizer: testkit.SimContainerizer{Clock: clock}, MaxMissedAcks: 10, ActorOptions: []actor.PropsOption{onSerial},
			}))
			t.Cleanup(func() {
				stopped := make(chan struct{})
				go func() { _ = sys.Root.StopFuture(pid).Wait(); close(stopped) }()
				serial.RunUntil(func() bool {
					select {
					case <-stopped:
						return true
					default:
						return false
					}
				}, stopped, testkit.WaitTimeout)
			})
			if !serial.RunUntil(func() bool { return len(registered) > 0 }, nil, testkit.WaitTimeout) {
				t.Fatal("the agent never registered")
			}
			// where says where the heartbeats sent since the last look
			// went: the master, the handler, or nowhere (a PID that is
			// gone: a dead letter).
			where := func() (at []string) {
				for {
					var m proto.Message
					select {
					case m = <-toMaster:
						at = append(at, "master")
					case m = <-toHandler:
						at = append(at, "handler")
					case m = <-lost:
						at = append(at, "nowhere")
					default:
						return at
					}
					if _, ok := m.(*messages.AgentHeartbeat); !ok {
						at = at[:len(at)-1]
					}
				}
			}
			where()
			for i, want := range tc.want {
				clock.Advance(time.Second)
				serial.Run()
				if got := where(); len(got) != 1 || got[0] != want {
					t.Fatalf("heartbeat %d went to %v, want %s", i+1, got, want)
				}
			}
		})
	}
}

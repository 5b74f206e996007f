package scheduler_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// A status update delivered twice (an agent's resend crossed the first
// acknowledgement) reaches the handler once; both are acknowledged.
func TestRepeatedStatusUpdateDeliveredOnce(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	acks := make(chan *messages.Acknowledge, 4)
	subscribed := make(chan struct{})
	master := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *messages.SubscribeFramework:
			ctx.Send(m.Pid, &messages.FrameworkSubscribed{FrameworkId: &messages.FrameworkID{Value: "f1"}, Master: &messages.MasterInfo{Epoch: 1}})
		case *messages.Acknowledge:
			acks <- m
		case *messages.Acknowledgements: // those of one mailbox turn
			for _, a := range m.Acks {
				acks <- a
			}
		}
	}))
	var seen atomic.Int32
	pid := sys.Root.Spawn(scheduler.Props(scheduler.Config{Master: master, Info: &messages.FrameworkInfo{Name: "f", Roles: []string{"r"}}},
		scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
			switch ev.(type) {
			case *messages.FrameworkSubscribed:
				close(subscribed)
			case *messages.StatusUpdate:
				seen.Add(1)
			}
		})))
	<-subscribed
	up := &messages.StatusUpdate{FrameworkId: &messages.FrameworkID{Value: "f1"}, MasterEpoch: 1, Status: &messages.TaskStatus{
		TaskId: &messages.TaskID{Value: "t1"}, AgentId: &messages.AgentID{Value: "a1"}, State: messages.TaskState_TASK_FINISHED, Uuid: []byte("u1"),
	}}
	sys.Root.Send(pid, up)
	sys.Root.Send(pid, up)
	for i := 0; i < 2; i++ {
		select {
		case a := <-acks:
			if string(a.Uuid) != "u1" {
				t.Fatalf("ack %v", a)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d acknowledgements, want 2", i)
		}
	}
	if n := seen.Load(); n != 1 {
		t.Fatalf("handler saw the update %d times, want once", n)
	}
}

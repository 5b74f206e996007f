package scheduler_test

import (
	"fmt"
	"slices"
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

// A StatusUpdates batch (the master forwards those of one turn together to a
// framework declaring STATUS_UPDATE_BATCHES, as the SDK does) is delivered
// update by update, a repeat inside it only acknowledged, and every update
// acknowledged: in one Acknowledgements to a master that said it takes
// them, one by one to a master that did not (an older version).
func TestStatusUpdatesBatchDeliveredOneByOne(t *testing.T) {
	for _, masterBatches := range []bool{true, false} {
		t.Run(fmt.Sprintf("master takes batches %v", masterBatches), func(t *testing.T) {
			statusUpdatesBatch(t, masterBatches)
		})
	}
}

func statusUpdatesBatch(t *testing.T, masterBatches bool) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	acks := make(chan *messages.Acknowledge, 8)
	subscribed := make(chan struct{})
	declared := make(chan bool, 1)
	batches := make(chan int, 8) // the size of each Acknowledgements
	master := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *messages.SubscribeFramework:
			declared <- slices.Contains(m.Info.Capabilities, messages.Capability_STATUS_UPDATE_BATCHES)
			ctx.Send(m.Pid, &messages.FrameworkSubscribed{FrameworkId: &messages.FrameworkID{Value: "f1"}, Master: &messages.MasterInfo{Epoch: 1}, TakesBatches: masterBatches})
		case *messages.Acknowledge:
			acks <- m
		case *messages.Acknowledgements:
			batches <- len(m.Acks)
			for _, a := range m.Acks {
				acks <- a
			}
		}
	}))
	seen := make(chan string, 8)
	pid := sys.Root.Spawn(scheduler.Props(scheduler.Config{Master: master, Info: &messages.FrameworkInfo{Name: "f", Roles: []string{"r"}}},
		scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
			switch ev := ev.(type) {
			case *messages.FrameworkSubscribed:
				close(subscribed)
			case *messages.StatusUpdate:
				seen <- ev.Status.TaskId.GetValue()
			}
		})))
	<-subscribed
	if !<-declared {
		t.Fatal("the SDK did not declare STATUS_UPDATE_BATCHES")
	}
	up := func(task, uuid string) *messages.StatusUpdate {
		return &messages.StatusUpdate{FrameworkId: &messages.FrameworkID{Value: "f1"}, MasterEpoch: 1, Status: &messages.TaskStatus{
			TaskId: &messages.TaskID{Value: task}, AgentId: &messages.AgentID{Value: "a1"}, State: messages.TaskState_TASK_RUNNING, Uuid: []byte(uuid),
		}}
	}
	sys.Root.Send(pid, &messages.StatusUpdates{Updates: []*messages.StatusUpdate{up("t1", "u1"), up("t2", "u2"), up("t1", "u1")}})
	var got []string
	for range 3 {
		select {
		case a := <-acks:
			got = append(got, string(a.Uuid))
		case <-time.After(10 * time.Second):
			t.Fatalf("acknowledgements %v, want u1, u2, u1", got)
		}
	}
	if !slices.Equal(got, []string{"u1", "u2", "u1"}) {
		t.Errorf("acknowledgements %v, want u1, u2, u1 (each update, in order)", got)
	}
	var sizes []int
	for len(batches) > 0 {
		sizes = append(sizes, <-batches)
	}
	if want := map[bool][]int{true: {3}, false: nil}[masterBatches]; !slices.Equal(sizes, want) {
		t.Errorf("Acknowledgements of sizes %v, want %v (the master takes batches: %v)", sizes, want, masterBatches)
	}
	var delivered []string
	for len(seen) > 0 {
		delivered = append(delivered, <-seen)
	}
	if !slices.Equal(delivered, []string{"t1", "t2"}) {
		t.Errorf("handler saw %v, want t1 then t2 once each", delivered)
	}
}

package master

import (
	"testing"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// What the outbox sends an agent: the held messages in order, each run of
// two or more RunTask or StatusUpdateAcknowledgement as its batch, any
// other message (and a run of one) as it is.
func TestCoalesceKeepsOrderAndBatchesRuns(t *testing.T) {
	run := func(id string) *messages.RunTask {
		return &messages.RunTask{Task: &messages.TaskInfo{TaskId: &messages.TaskID{Value: id}}}
	}
	ack := func(id string) *messages.StatusUpdateAcknowledgement {
		return &messages.StatusUpdateAcknowledgement{TaskId: &messages.TaskID{Value: id}}
	}
	update := func(id string) *messages.StatusUpdate {
		return &messages.StatusUpdate{Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: id}}}
	}
	kill := &messages.KillTask{TaskId: &messages.TaskID{Value: "t1"}}
	for _, tc := range []struct {
		name string
		in   []proto.Message
		want []proto.Message
	}{
		{"nothing", nil, nil},
		{"one RunTask goes alone", []proto.Message{run("t1")}, []proto.Message{run("t1")}},
		{"a run of RunTask is one RunTasks",
			[]proto.Message{run("t1"), run("t2"), run("t3")},
			[]proto.Message{&messages.RunTasks{Tasks: []*messages.RunTask{run("t1"), run("t2"), run("t3")}}}},
		{"a kill between launches splits them, in order",
			[]proto.Message{run("t1"), run("t2"), kill, run("t3")},
			[]proto.Message{&messages.RunTasks{Tasks: []*messages.RunTask{run("t1"), run("t2")}}, kill, run("t3")}},
		{"status updates held for a framework that takes batches go as one StatusUpdates",
			[]proto.Message{update("t1"), update("t2")},
			[]proto.Message{&messages.StatusUpdates{Updates: []*messages.StatusUpdate{update("t1"), update("t2")}}}},
		{"acknowledgements and launches batch apart",
			[]proto.Message{ack("a"), ack("b"), run("t1"), run("t2"), ack("c")},
			[]proto.Message{&messages.StatusUpdateAcknowledgements{Acks: []*messages.StatusUpdateAcknowledgement{ack("a"), ack("b")}},
				&messages.RunTasks{Tasks: []*messages.RunTask{run("t1"), run("t2")}}, ack("c")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := coalesce(tc.in)
			if len(got) != len(tc.want) {
				t.Fatalf("%d messages sent, want %d: %v", len(got), len(tc.want), got)
			}
			for i := range got {
				if !proto.Equal(got[i], tc.want[i]) {
					t.Errorf("message %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

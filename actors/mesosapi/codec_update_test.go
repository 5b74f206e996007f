package mesosapi

import (
	"bytes"
	"testing"

	"github.com/agora-sched/agora/messages"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

func genericUpdateJSON(t testing.TB, s *messages.TaskStatus) []byte {
	b, err := appendJSON(nil, &sched.Event{Type: sched.Event_UPDATE.Enum(), Update: &sched.Event_Update{Status: statusOut(s)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUpdateJSONMatchesGeneric(t *testing.T) {
	healthy, sick := true, false
	for _, s := range []*messages.TaskStatus{
		{TaskId: &messages.TaskID{Value: "t1"}, State: messages.TaskState_TASK_RUNNING, AgentId: &messages.AgentID{Value: "A1"}, TimestampUnixNano: 1764650000123456789, Uuid: []byte{1, 2, 3, 250}},
		{TaskId: &messages.TaskID{Value: "t\"2\n"}, State: messages.TaskState_TASK_FAILED, Reason: messages.TaskStatusReason_REASON_FETCHER_FAILED, Message: "404 é"},
		{TaskId: &messages.TaskID{Value: "t3"}, State: messages.TaskState_TASK_LOST, Reason: messages.TaskStatusReason_REASON_RECONCILIATION, ExecutorId: &messages.ExecutorID{Value: "e"}, Healthy: &healthy},
		{TaskId: &messages.TaskID{Value: "t4"}, State: messages.TaskState_TASK_KILLED, Reason: messages.TaskStatusReason_REASON_AGENT_DRAINING, Message: "drained", Healthy: &sick, TimestampUnixNano: 1},
		{TaskId: &messages.TaskID{Value: "t5"}, State: messages.TaskState_TASK_STARTING},
		{},
	} {
		fast, ok := appendUpdateJSON([]byte("x"), s)
		if want := genericUpdateJSON(t, s); !ok || !bytes.Equal(fast[1:], want) || fast[0] != 'x' {
			t.Errorf("%v:\n fast    %s (%v)\n generic %s", s, fast, ok, want)
		}
	}
	if _, ok := appendUpdateJSON(nil, &messages.TaskStatus{CheckStatus: &messages.CheckStatusInfo{}}); ok {
		t.Error("a status with a check status was taken; it is the generic encoder's")
	}
}

// FuzzUpdateJSON: for any status, the direct encoder writes the generic
// encoder's bytes.
func FuzzUpdateJSON(f *testing.F) {
	f.Add("t", int32(1), int32(0), "msg", "A", "E", int64(1764650000123456789), []byte("uuid"), byte(0))
	f.Add("", int32(99), int32(12345), "", "", "", int64(-5), []byte{}, byte(2))
	f.Fuzz(func(t *testing.T, task string, state, reason int32, msg, agent, executor string, ts int64, uuid []byte, healthy byte) {
		s := &messages.TaskStatus{TaskId: &messages.TaskID{Value: task}, State: messages.TaskState(state), Reason: messages.TaskStatusReason(reason),
			Message: msg, TimestampUnixNano: ts, Uuid: uuid}
		if agent != "" {
			s.AgentId = &messages.AgentID{Value: agent}
		}
		if executor != "" {
			s.ExecutorId = &messages.ExecutorID{Value: executor}
		}
		if healthy > 0 {
			s.Healthy = proto.Bool(healthy == 1)
		}
		fast, _ := appendUpdateJSON(nil, s)
		if want := genericUpdateJSON(t, s); !bytes.Equal(fast, want) {
			t.Fatalf("%v:\n fast    %s\n generic %s", s, fast, want)
		}
	})
}

// BenchmarkUpdateJSON: one UPDATE event, straight and through the Mesos
// messages and the generic encoder.
func BenchmarkUpdateJSON(b *testing.B) {
	s := &messages.TaskStatus{TaskId: &messages.TaskID{Value: "role3-1234"}, State: messages.TaskState_TASK_RUNNING, AgentId: &messages.AgentID{Value: "M-A123"},
		TimestampUnixNano: 1764650000123456789, Uuid: []byte("0123456789abcdef")}
	var buf []byte
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf, _ = appendUpdateJSON(buf[:0], s)
		}
	})
	b.Run("generic", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			buf, _ = appendJSON(buf[:0], &sched.Event{Type: sched.Event_UPDATE.Enum(), Update: &sched.Event_Update{Status: statusOut(s)}})
		}
	})
}

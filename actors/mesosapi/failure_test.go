package mesosapi

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/agora-sched/agora/messages"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
)

// An executor's exit and an agent's loss reach a Mesos framework as
// FAILURE events, in both codecs, as Mesos evolves ExitedExecutorMessage
// (agent_id, executor_id, status) and LostSlaveMessage (agent_id alone).
// status is a waitpid stat_loc, as Mesos' agent reports it: an exit code
// c is c<<8 (WEXITSTATUS gives c back), a signal N is N (WTERMSIG), and
// an end nobody knows is -1.
func TestFailureEvents(t *testing.T) {
	for _, codec := range []Codec{JSONCodec, ProtobufCodec} {
		t.Run(codec.MediaType, func(t *testing.T) {
			h := newHarness(t)
			res := h.post(codec, "alice", "", subscribeCall(0), "Accept", codec.MediaType)
			defer res.Body.Close()
			rr := NewRecordReader(res.Body, 1<<20)
			ev := &events{t: t, r: rr, c: codec}
			sub, _ := next[*messages.SubscribeFramework](h)
			if e := ev.next(); e.GetType() != sched.Event_SUBSCRIBED {
				t.Fatalf("first event: %v", e)
			}
			for _, tc := range []struct {
				status, signal, want int32
			}{{3, 0, 3 << 8}, {0, 0, 0}, {137, 9, 9}, {137, 0, 137 << 8}, {-1, 0, -1}} {
				h.sys.Root.Send(sub.Pid, &messages.ExecutorExited{FrameworkId: &messages.FrameworkID{Value: "F1"}, ExecutorId: &messages.ExecutorID{Value: "E1"},
					AgentId: &messages.AgentID{Value: "A1"}, Status: tc.status, Signal: tc.signal, Message: "the executor exited"})
				rec, e := ev.nextRecord()
				if want := fmt.Sprintf(`"status":%d`, tc.want); codec.MediaType == MediaJSON && !bytes.Contains(rec, []byte(want)) {
					t.Fatalf("exit in JSON: %s; want %s, a number", rec, want)
				}
				f := e.GetFailure()
				if e.GetType() != sched.Event_FAILURE || f.GetAgentId().GetValue() != "A1" || f.GetExecutorId().GetValue() != "E1" ||
					f.Status == nil || f.GetStatus() != tc.want {
					t.Fatalf("exit with status %d signal %d: %v; want FAILURE of E1 on A1 with status %d", tc.status, tc.signal, e, tc.want)
				}
			}
			h.sys.Root.Send(sub.Pid, &messages.AgentLost{AgentId: &messages.AgentID{Value: "A2"}})
			rec, e := ev.nextRecord()
			if f := e.GetFailure(); e.GetType() != sched.Event_FAILURE || f.GetAgentId().GetValue() != "A2" || f.ExecutorId != nil || f.Status != nil {
				t.Fatalf("agent lost: %v; want FAILURE with agent A2 alone", e)
			}
			if codec.MediaType == MediaJSON {
				if want := `{"type":"FAILURE","failure":{"agent_id":{"value":"A2"}}}`; !bytes.Equal(bytes.TrimSpace(rec), []byte(want)) {
					t.Fatalf("agent lost in JSON: %s; want %s", rec, want)
				}
			}
		})
	}
}

package mesosapi

import (
	"testing"

	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var ackSeeds = []string{
	`{"framework_id":{"value":"M-F1"},"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"A1"},"task_id":{"value":"t-1"},"uuid":"3q2+7w=="}}`,
	"{ \"type\" : \"ACKNOWLEDGE\",\n\t\"acknowledge\": {\"uuid\": \"\", \"task_id\": {\"value\": \"a\\\"b\\\\c\\/d\\n\"}, \"agent_id\": {\"value\": \"é\"}}, \"framework_id\": {\"value\": \"F\"} }",
	`{"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"A1"},"task_id":{"value":"t"},"uuid":"3q2-7w"}}`,
	`{"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"A1"},"task_id":{"value":"t"}}}`,
	`{"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"A1"},"task_id":{"value":"t\u00e9"},"uuid":"AA=="}}`,
	`{"type":"ACKNOWLEDGE","type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"A1"},"task_id":{"value":"t"},"uuid":"AA=="}}`,
	`{"type":"DECLINE","decline":{"offer_ids":[{"value":"O1"}]}}`,
	`{"frameworkId":{"value":"F"},"type":"ACKNOWLEDGE","acknowledge":{"agentId":{"value":"A1"},"taskId":{"value":"t"},"uuid":"AA=="}}`,
	`{"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"A1"},"task_id":{"value":"t"},"uuid":"AA=="}} x`,
}

// The ACKNOWLEDGE fast path decodes the shape Mesos clients send, with
// the result protojson gives, and leaves everything else to protojson.
func TestAcknowledgeJSONFastPath(t *testing.T) {
	c := &sched.Call{}
	if !decodeAcknowledgeJSON([]byte(ackSeeds[0]), c) {
		t.Fatal("a mesos-go ACKNOWLEDGE was not taken by the fast path")
	}
	if c.GetFrameworkId().GetValue() != "M-F1" || c.GetAcknowledge().GetTaskId().GetValue() != "t-1" || string(c.GetAcknowledge().GetUuid()) != "\xde\xad\xbe\xef" {
		t.Fatalf("decoded %v", c)
	}
	if !decodeAcknowledgeJSON([]byte(ackSeeds[1]), c) || c.GetAcknowledge().GetTaskId().GetValue() != "a\"b\\c/d\n" || c.GetAcknowledge().Uuid == nil {
		t.Fatalf("reordered keys, whitespace and escapes: %v", c)
	}
	for _, s := range ackSeeds[2:] {
		if decodeAcknowledgeJSON([]byte(s), &sched.Call{}) {
			t.Errorf("%s: taken by the fast path; it is protojson's to read", s)
		}
	}
}

// FuzzAcknowledgeJSON: whatever the fast path takes, protojson reads to
// the same call.
func FuzzAcknowledgeJSON(f *testing.F) {
	for _, s := range ackSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast := &sched.Call{}
		if !decodeAcknowledgeJSON(b, fast) {
			return
		}
		ref := &sched.Call{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, ref); err != nil {
			t.Fatalf("fast path took %q, which protojson refuses: %v", b, err)
		}
		if !proto.Equal(fast, ref) {
			t.Fatalf("%q: fast path %v, protojson %v", b, fast, ref)
		}
	})
}

// BenchmarkAcknowledgeJSON: reading one ACKNOWLEDGE as mesos-go sends it,
// through the fast path and through protojson.
func BenchmarkAcknowledgeJSON(b *testing.B) {
	body := []byte(ackSeeds[0])
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := unmarshalJSON(body, &sched.Call{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protojson", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &sched.Call{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

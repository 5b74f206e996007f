package mesosapi

import (
	"testing"

	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// benchAccept is an ACCEPT as the flood benchmark's frameworks send it:
// one LAUNCH of n command tasks of cpus and mem allocated to role3.
func benchAccept(n int) *sched.Call {
	scalar := func(name string, v float64) *mesos.Resource {
		return &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)},
			AllocationInfo: &mesos.Resource_AllocationInfo{Role: proto.String("role3")}}
	}
	var tasks []*mesos.TaskInfo
	for i := range n {
		id := "role3-" + string(rune('a'+i%26))
		tasks = append(tasks, &mesos.TaskInfo{Name: proto.String(id), TaskId: &mesos.TaskID{Value: proto.String(id)}, AgentId: &mesos.AgentID{Value: proto.String("M-A12")},
			Command: &mesos.CommandInfo{Value: proto.String("true")}, Resources: []*mesos.Resource{scalar("cpus", 0.1), scalar("mem", 128)}})
	}
	return &sched.Call{FrameworkId: &mesos.FrameworkID{Value: proto.String("M-F1")}, Type: sched.Call_ACCEPT.Enum(), Accept: &sched.Call_Accept{
		OfferIds:   []*mesos.OfferID{{Value: proto.String("O1")}},
		Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH.Enum(), Launch: &mesos.Offer_Operation_Launch{TaskInfos: tasks}}},
		Filters:    &mesos.Filters{RefuseSeconds: proto.Float64(0)}}}
}

// acceptTaken are calls the fast path reads.
var acceptTaken = []string{
	// mesos-go's shape: a task with a command of every supported part,
	// labels, ranges and a reservation's role.
	`{"framework_id":{"value":"F"},"type":"ACCEPT","accept":{"offer_ids":[{"value":"O1"},{"value":"O2"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[` +
		`{"name":"t 1","task_id":{"value":"t1"},"agent_id":{"value":"A1"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1.5e-1},"role":"*","allocation_info":{"role":"web"}},` +
		`{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31001},{"begin":0,"end":18446744073709551615}]}}],` +
		`"command":{"value":"echo \"hi\"\n","shell":false,"arguments":["echo","a\\b",""],"user":"nobody","environment":{"variables":[{"name":"A","value":"1"},{"name":"B"}]},` +
		`"uris":[{"value":"http://x/y.tgz","executable":false,"extract":true,"cache":true,"output_file":"y"}]},"labels":{"labels":[{"key":"k","value":"v"},{"key":"k2"}]}}]}}],` +
		`"filters":{"refuse_seconds":-0.5E+2}}}`,
	" {\n\t\"accept\" : { \"filters\" : { } , \"operations\" : [ ] } , \"type\" : \"ACCEPT\" } ",
	`{"type":"DECLINE","decline":{"offer_ids":[{"value":"O\/1"}],"filters":{"refuse_seconds":3600}}}`,
	`{"type":"ACCEPT","accept":{"operations":[{"type":"RESERVE"},{"launch":{}},{}]}}`,
	`{"accept":{}}`,
	`{"type":"ACKNOWLEDGE","decline":{"filters":{"refuse_seconds":1e-400}}}`,
}

// unnamedTask launches a TaskInfo without its (required) name.
const unnamedTask = `{"type":"ACCEPT","accept":{"operations":[{"launch":{"task_infos":[{"task_id":{"value":"t"},"agent_id":{"value":"a"}}]}}]}}`

// acceptRefused are calls the fast path leaves to protojson (which reads
// some of them, refuses others).
var acceptRefused = []string{
	`{"type":"ACCEPT","accept":{"offerIds":[{"value":"O1"}]}}`,
	`{"type":"ACCEPT","accept":{"filters":{"refuse_seconds":"5"}}}`,
	`{"type":"ACCEPT","accept":{"filters":{"refuse_seconds":NaN}}}`,
	`{"type":"ACCEPT","accept":{"filters":{"refuse_seconds":01}}}`,
	`{"type":"ACCEPT","accept":{"filters":{"refuse_seconds":.5}}}`,
	`{"type":"ACCEPT","accept":{"filters":{"refuse_seconds":null}}}`,
	`{"type":"ACCEPT","accept":{"filters":{"refuse_seconds":1e400}}}`,
	`{"type":"ACCEPT","accept":{"offer_ids":[{}]}}`,
	unnamedTask,
	`{"type":"ACCEPT","accept":{"operations":[{"launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"container":{}}]}}]}}`,
	`{"type":"ACCEPT","accept":{"operations":[{"launch":{"task_infos":[{"name":"t\u00e9","task_id":{"value":"t"},"agent_id":{"value":"a"}}]}}]}}`,
	`{"type":"ACCEPT","accept":{"operations":[{"launch":{"task_infos":[{"name":"t","name":"u","task_id":{"value":"t"},"agent_id":{"value":"a"}}]}}]}}`,
	`{"type":"ACCEPT","accept":{"operations":[{"launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"resources":[{"name":"p","type":"RANGES","ranges":{"range":[{"begin":1e3,"end":2}]}}]}]}}]}}`,
	`{"type":"ACCEPT","accept":{"operations":[{"launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"a"},"resources":[{"name":"p","type":"RANGES","ranges":{"range":[{"begin":-1,"end":2}]}}]}]}}]}}`,
	`{"type":"ACCEPT","accept":{"operations":[{"type":"LAUNCH_GROUP","launch_group":{}}]}}`,
	`{"type":1,"accept":{}}`,
	`{"type":"ACCEPT","accept":{}} {}`,
	`{"type":"REVIVE"}`,
	`{"type":"ACCEPT","accept":{"operations":[{"type":"NOPE"}]}}`,
}

func protojsonCall(b []byte) (*sched.Call, error) {
	c := &sched.Call{}
	return c, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, c)
}

// The ACCEPT fast path reads what frameworks launching command tasks
// send, to protojson's result, and leaves everything else to protojson.
func TestAcceptJSONFastPath(t *testing.T) {
	generated, err := marshalJSON(benchAccept(3))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append([]string{string(generated)}, acceptTaken...) {
		fast := &sched.Call{}
		if !decodeAcceptJSON([]byte(s), fast) {
			t.Errorf("%s: not taken by the fast path", s)
			continue
		}
		ref, err := protojsonCall([]byte(s))
		if err != nil || !proto.Equal(fast, ref) {
			t.Errorf("%s:\n fast path %v\n protojson %v (%v)", s, fast, ref, err)
		}
	}
	for _, s := range acceptRefused {
		if decodeAcceptJSON([]byte(s), &sched.Call{}) {
			t.Errorf("%s: taken by the fast path; it is protojson's to read", s)
		}
	}
	// Through the codec: the fast path's result, or protojson's error.
	c := &sched.Call{}
	if err := JSONCodec.Unmarshal(generated, c); err != nil || !proto.Equal(c, benchAccept(3)) {
		t.Errorf("JSONCodec read %v (%v); want %v", c, err, benchAccept(3))
	}
	if err := JSONCodec.Unmarshal([]byte(unnamedTask), c); err == nil {
		t.Error("a TaskInfo without its name was read; protojson refuses it, naming the field")
	}
}

// FuzzAcceptJSON: whatever the fast path takes, protojson reads to the
// same call.
func FuzzAcceptJSON(f *testing.F) {
	generated, _ := marshalJSON(benchAccept(2))
	f.Add(generated)
	for _, s := range append(acceptTaken, acceptRefused...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast := &sched.Call{}
		if !decodeAcceptJSON(b, fast) {
			return
		}
		ref, err := protojsonCall(b)
		if err != nil {
			t.Fatalf("fast path took %q, which protojson refuses: %v", b, err)
		}
		if !proto.Equal(fast, ref) {
			t.Fatalf("%q: fast path %v, protojson %v", b, fast, ref)
		}
	})
}

// BenchmarkAcceptJSON: reading an ACCEPT launching 10 command tasks,
// through the fast path and through protojson.
func BenchmarkAcceptJSON(b *testing.B) {
	body, err := marshalJSON(benchAccept(10))
	if err != nil {
		b.Fatal(err)
	}
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
			if _, err := protojsonCall(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package mesosapi

import (
	"encoding/json"
	"strings"
	"testing"

	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	exec "github.com/agora-sched/agora/messages/mesos/v1/executor"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

func sampleEvent() *sched.Event {
	return &sched.Event{Type: sched.Event_OFFERS.Enum(), Offers: &sched.Event_Offers{Offers: []*mesos.Offer{{
		Id: &mesos.OfferID{Value: proto.String("O1")}, FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")},
		AgentId: &mesos.AgentID{Value: proto.String("A1")}, Hostname: proto.String("h1"),
		Resources: []*mesos.Resource{
			{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(1.5)}},
			{Name: proto.String("ports"), Type: mesos.Value_RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []*mesos.Value_Range{{Begin: proto.Uint64(31000), End: proto.Uint64(1 << 40)}}}},
		},
	}}}}
}

// Mesos' JSON: proto field names, enums by name, 64-bit integers as
// numbers (mesos-go decodes them into int64/uint64 fields with
// encoding/json, which refuses strings).
func TestJSONCodecWritesMesosJSON(t *testing.T) {
	b, err := JSONCodec.Marshal(sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"type":"OFFERS"`, `"framework_id":{"value":"F1"}`, `"begin":31000`, `"end":1099511627776`, `"type":"RANGES"`, `"value":1.5`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s:\n%s", want, s)
		}
	}
	if strings.Contains(s, `"31000"`) || strings.Contains(s, "frameworkId") {
		t.Errorf("64-bit integers quoted or camelCase names:\n%s", s)
	}
	// What a Go client with plain structs reads.
	var plain struct {
		Offers struct {
			Offers []struct {
				Resources []struct {
					Ranges struct {
						Range []struct{ Begin, End uint64 }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(b, &plain); err != nil {
		t.Fatalf("encoding/json cannot read it: %v", err)
	}
	if got := plain.Offers.Offers[0].Resources[1].Ranges.Range[0].End; got != 1<<40 {
		t.Fatalf("end read as %d", got)
	}
}

func TestCodecsRoundTrip(t *testing.T) {
	for _, c := range []Codec{JSONCodec, ProtobufCodec} {
		b, err := c.Marshal(sampleEvent())
		if err != nil {
			t.Fatal(err)
		}
		got := &sched.Event{}
		if err := c.Unmarshal(b, got); err != nil {
			t.Fatalf("%s: %v", c.MediaType, err)
		}
		if !proto.Equal(got, sampleEvent()) {
			t.Fatalf("%s: round trip changed the event:\n%v", c.MediaType, got)
		}
	}
	// Mesos clients send 64-bit integers as numbers or strings; both read.
	call := &sched.Call{}
	in := `{"type":"KILL","framework_id":{"value":"F"},"kill":{"task_id":{"value":"t"},"kill_policy":{"grace_period":{"nanoseconds":5000000000}}},"unknown_field":1}`
	if err := JSONCodec.Unmarshal([]byte(in), call); err != nil {
		t.Fatal(err)
	}
	if call.GetKill().GetKillPolicy().GetGracePeriod().GetNanoseconds() != 5e9 {
		t.Fatalf("read %v", call)
	}
}

func TestAcceptNegotiation(t *testing.T) {
	for _, tc := range []struct {
		accept string
		want   string
	}{
		{"", MediaJSON},
		{"*/*", MediaJSON},
		{"application/x-protobuf", MediaProtobuf},
		{"text/html, application/json;q=0.9", MediaJSON},
		{"application/json; charset=utf-8", MediaJSON},
		{"text/html", ""},
	} {
		c, ok := accepts(tc.accept, JSONCodec)
		if got := map[bool]string{true: c.MediaType, false: ""}[ok]; got != tc.want {
			t.Errorf("Accept %q: %q; want %q", tc.accept, got, tc.want)
		}
	}
}

// FuzzCallCodecs: no input makes either codec or the call mappings
// (scheduler and executor) panic,
// and a call read from JSON writes back to JSON that reads the same.
func FuzzCallCodecs(f *testing.F) {
	f.Add([]byte(`{"type":"DECLINE","framework_id":{"value":"F"},"decline":{"offer_ids":[{"value":"O"}],"filters":{"refuse_seconds":5}}}`))
	f.Add([]byte(`{"type":"ACCEPT","accept":{"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t"},"agent_id":{"value":"A"},"command":{"value":"true"}}]}}]}}`))
	b, _ := proto.Marshal(&sched.Call{Type: sched.Call_ACKNOWLEDGE.Enum(), Acknowledge: &sched.Call_Acknowledge{Uuid: []byte{1, 2}}})
	f.Add(b)
	f.Add([]byte(`{"type":"UPDATE","update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"AQI=","reason":"REASON_COMMAND_EXECUTOR_FAILED"}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, c := range []Codec{JSONCodec, ProtobufCodec} {
			call := &sched.Call{}
			if c.Unmarshal(in, call) != nil {
				continue
			}
			_, _ = callIn(call)
			ecall := &exec.Call{}
			if c.Unmarshal(in, ecall) == nil {
				_, _ = executorCallIn(executorKey{"F", "E"}, ecall)
			}
			if sub := call.GetSubscribe().GetFrameworkInfo(); sub != nil {
				_, _ = frameworkIn(sub)
			}
			if c.MediaType != MediaJSON {
				continue
			}
			out, err := JSONCodec.Marshal(call)
			if err != nil {
				continue // a proto2 call missing required fields
			}
			again := &sched.Call{}
			if err := JSONCodec.Unmarshal(out, again); err != nil || !proto.Equal(again, call) {
				t.Fatalf("JSON round trip: %v\n%s", err, out)
			}
		}
	})
}

package mesosapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// marshalJSONReference is the JSON codec as first written: protojson,
// then its quoted 64-bit integers made numbers. The one-pass encoder
// must say the same.
func marshalJSONReference(m proto.Message) ([]byte, error) {
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("re-reading protojson output: %w", err)
	}
	numbers64(v, m.ProtoReflect().Descriptor())
	return json.Marshal(v)
}

// numbers64 turns the quoted 64-bit integers of a message's protojson
// form back into numbers.
func numbers64(v any, md protoreflect.MessageDescriptor) {
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	fields := md.Fields()
	for name, val := range obj {
		fd := fields.ByName(protoreflect.Name(name))
		if fd == nil {
			continue
		}
		switch {
		case fd.IsMap():
			if m, ok := val.(map[string]any); ok {
				for k, e := range m {
					m[k] = number64(e, fd.MapValue())
				}
			}
		case fd.IsList():
			if l, ok := val.([]any); ok {
				for i, e := range l {
					l[i] = number64(e, fd)
				}
			}
		default:
			obj[name] = number64(val, fd)
		}
	}
}

// number64 is one value of field fd with a quoted 64-bit integer made a
// number; messages are walked into.
func number64(v any, fd protoreflect.FieldDescriptor) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		numbers64(v, fd.Message())
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if s, ok := v.(string); ok {
			return json.Number(s)
		}
	}
	return v
}

// sameJSON fails unless the one-pass encoder and the reference write
// the same JSON value for m.
func sameJSON(t testing.TB, m proto.Message) {
	t.Helper()
	got, err := marshalJSON(m)
	if err != nil {
		t.Fatal(err)
	}
	want, err := marshalJSONReference(m)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	dg := json.NewDecoder(bytes.NewReader(got))
	dg.UseNumber()
	if err := dg.Decode(&g); err != nil {
		t.Fatalf("the encoder wrote invalid JSON %s: %v", got, err)
	}
	dw := json.NewDecoder(bytes.NewReader(want))
	dw.UseNumber()
	if err := dw.Decode(&w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON differs from the reference:\n got %s\nwant %s", got, want)
	}
}

func TestJSONEncoderMatchesReference(t *testing.T) {
	ev := &sched.Event{Type: sched.Event_OFFERS.Enum(), Offers: &sched.Event_Offers{}}
	for i := range 50 {
		ev.Offers.Offers = append(ev.Offers.Offers, &mesos.Offer{
			Id: &mesos.OfferID{Value: proto.String(fmt.Sprintf("O%d", i))}, FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")},
			AgentId: &mesos.AgentID{Value: proto.String("A\"1\u00e9\x01<&>")}, Hostname: proto.String("h\u2028\t"),
			Resources: []*mesos.Resource{
				{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(1e-9 * float64(i+1))}},
				{Name: proto.String("mem"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(1e22 + float64(i))}},
				{Name: proto.String("ports"), Type: mesos.Value_RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []*mesos.Value_Range{{Begin: proto.Uint64(31000), End: proto.Uint64(1 << 40)}}}},
			}})
	}
	sameJSON(t, ev)
	sameJSON(t, &sched.Event{Type: sched.Event_MESSAGE.Enum(), Message: &sched.Event_Message{
		AgentId: &mesos.AgentID{Value: proto.String("a")}, ExecutorId: &mesos.ExecutorID{Value: proto.String("e")}, Data: []byte{0, 1, 2, 250}}})
	sameJSON(t, &sched.Event{Type: sched.Event_HEARTBEAT.Enum()})
}

// FuzzJSONEncoder: for any call that decodes, the one-pass encoder and
// the reference agree.
func FuzzJSONEncoder(f *testing.F) {
	f.Add([]byte(`{"type":"KILL","framework_id":{"value":"F"},"kill":{"task_id":{"value":"t"},"kill_policy":{"grace_period":{"nanoseconds":5000000000}}}}`))
	f.Add([]byte(`{"type":"ACCEPT","accept":{"offer_ids":[{"value":"o"}],"filters":{"refuse_seconds":1e-7}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &sched.Call{}
		if unmarshalJSON(b, c) != nil {
			return
		}
		sameJSON(t, c)
	})
}

package mesosapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Media types of Mesos' HTTP APIs.
const (
	MediaProtobuf = "application/x-protobuf"
	MediaJSON     = "application/json"
	// MediaRecordIO is a stream of records (RecordIO framing), each in the
	// codec Message-Accept / Message-Content-Type names.
	MediaRecordIO = "application/recordio"
)

// Codec encodes and decodes Mesos messages in one media type.
type Codec struct {
	// MediaType is the codec's Content-Type, exactly as Mesos writes it.
	MediaType string
	Marshal   func(proto.Message) ([]byte, error)
	Unmarshal func([]byte, proto.Message) error
}

// ProtobufCodec is Mesos' binary codec.
var ProtobufCodec = Codec{MediaType: MediaProtobuf, Marshal: proto.Marshal, Unmarshal: proto.Unmarshal}

// JSONCodec is Mesos' JSON: protobuf field names, enums by name, 64-bit
// integers as JSON numbers (protojson writes them as strings, which
// Mesos clients reject), bytes in base64. Fields this Mesos version does
// not know are skipped on reading, so newer clients still get through.
var JSONCodec = Codec{MediaType: MediaJSON, Marshal: marshalJSON, Unmarshal: unmarshalJSON}

// codecFor is the codec of a media type (parameters such as charset
// ignored), or false.
func codecFor(mediaType string) (Codec, bool) {
	mt, _, err := mime.ParseMediaType(mediaType)
	if err != nil {
		return Codec{}, false
	}
	switch mt {
	case MediaProtobuf:
		return ProtobufCodec, true
	case MediaJSON:
		return JSONCodec, true
	}
	return Codec{}, false
}

// accepts picks the codec an Accept header asks for: the first supported
// type listed; a wildcard, or no header, takes def.
func accepts(header string, def Codec) (Codec, bool) {
	if strings.TrimSpace(header) == "" {
		return def, true
	}
	for _, part := range strings.Split(header, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "*/*", "application/*":
			return def, true
		}
		if c, ok := codecFor(mt); ok {
			return c, true
		}
	}
	return Codec{}, false
}

func unmarshalJSON(b []byte, m proto.Message) error {
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
}

func marshalJSON(m proto.Message) ([]byte, error) {
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

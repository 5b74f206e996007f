package mesosapi

import (
	"encoding/base64"
	"fmt"
	"math"
	"mime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
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
	// Append is Marshal into the end of a buffer the caller reuses (a
	// stream encodes every event into the same one).
	Append func([]byte, proto.Message) ([]byte, error)
}

// ProtobufCodec is Mesos' binary codec.
var ProtobufCodec = Codec{MediaType: MediaProtobuf, Marshal: proto.Marshal, Unmarshal: proto.Unmarshal, Append: proto.MarshalOptions{}.MarshalAppend}

// JSONCodec is Mesos' JSON: protobuf field names, enums by name, 64-bit
// integers as JSON numbers (protojson writes them as strings, which
// Mesos clients reject), bytes in base64. Fields this Mesos version does
// not know are skipped on reading, so newer clients still get through.
var JSONCodec = Codec{MediaType: MediaJSON, Marshal: marshalJSON, Unmarshal: unmarshalJSON, Append: appendJSON}

// codecFor is the codec of a media type (parameters such as charset
// ignored), or false.
func codecFor(mediaType string) (Codec, bool) {
	// The exact types first: every call is parsed here, and parsing
	// allocates.
	switch mediaType {
	case MediaProtobuf:
		return ProtobufCodec, true
	case MediaJSON:
		return JSONCodec, true
	}
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
	// The calls an HTTP framework sends most, read without reflection
	// when they have the shape Mesos' clients send (codec_ack.go,
	// codec_accept.go); anything else is protojson's.
	if c, ok := m.(*sched.Call); ok && (decodeAcknowledgeJSON(b, c) || decodeAcceptJSON(b, c)) {
		return nil
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, m)
}

// marshalJSON writes m as Mesos does, in one walk of the message (a
// first OFFERS event of 1,000 agents is half a megabyte: protojson and a
// second pass to unquote its 64-bit integers took three times as long).
func marshalJSON(m proto.Message) ([]byte, error) {
	return appendMessage(make([]byte, 0, 512), m.ProtoReflect())
}

func appendJSON(b []byte, m proto.Message) ([]byte, error) {
	return appendMessage(b, m.ProtoReflect())
}

// jsonField is what the encoder needs of one field, worked out once per
// message type: the encoder writes thousands of offers and updates a
// second, and asking the descriptor each time was a good part of it.
type jsonField struct {
	fd protoreflect.FieldDescriptor
	// key is the field's name quoted, with the colon: "name":
	key         []byte
	list, isMap bool
}

// jsonPlans holds each message type's []jsonField, in declaration order
// (the order the encoder writes fields in), by descriptor.
var jsonPlans sync.Map

func jsonPlan(md protoreflect.MessageDescriptor) []jsonField {
	if p, ok := jsonPlans.Load(md); ok {
		return p.([]jsonField)
	}
	fields := md.Fields()
	plan := make([]jsonField, fields.Len())
	for i := range plan {
		fd := fields.Get(i)
		key := append(append([]byte{'"'}, fd.Name()...), '"', ':')
		plan[i] = jsonField{fd: fd, key: key, list: fd.IsList(), isMap: fd.IsMap()}
	}
	p, _ := jsonPlans.LoadOrStore(md, plan)
	return p.([]jsonField)
}

func appendMessage(b []byte, m protoreflect.Message) ([]byte, error) {
	b = append(b, '{')
	plan := jsonPlan(m.Descriptor())
	n := 0
	for i := range plan {
		f := &plan[i]
		fd := f.fd
		if !m.Has(fd) {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, f.key...)
		var err error
		v := m.Get(fd)
		switch {
		case f.list:
			l := v.List()
			b = append(b, '[')
			for j := 0; j < l.Len(); j++ {
				if j > 0 {
					b = append(b, ',')
				}
				if b, err = appendValue(b, fd, l.Get(j)); err != nil {
					return nil, err
				}
			}
			b = append(b, ']')
		case f.isMap:
			type entry struct {
				k string
				v protoreflect.Value
			}
			var entries []entry
			v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				entries = append(entries, entry{k.String(), v})
				return true
			})
			sort.Slice(entries, func(i, j int) bool { return entries[i].k < entries[j].k })
			b = append(b, '{')
			for j, e := range entries {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendString(b, e.k)
				b = append(b, ':')
				if b, err = appendValue(b, fd.MapValue(), e.v); err != nil {
					return nil, err
				}
			}
			b = append(b, '}')
		default:
			if b, err = appendValue(b, fd, v); err != nil {
				return nil, err
			}
		}
	}
	return append(b, '}'), nil
}

// appendValue writes one value of field fd: enums by name, 64-bit
// integers as numbers, bytes in base64, floats as protojson writes them.
func appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) ([]byte, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessage(b, v.Message())
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(b, string(ev.Name())), nil
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64), nil
	case protoreflect.StringKind:
		return appendString(b, v.String()), nil
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"'), nil
	}
	return nil, fmt.Errorf("mesosapi: field %s has kind %s, which the JSON codec does not write", fd.FullName(), fd.Kind())
}

// appendFloat is protojson's (and encoding/json's) form of a float:
// NaN and infinities as strings, exponents only for very small or large.
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// 1e-07 -> 1e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString writes s as a JSON string (invalid UTF-8 as U+FFFD).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

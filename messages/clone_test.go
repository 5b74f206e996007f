package messages

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fill sets every field of m (recursively) to a value that is not the
// default, so that a copy that forgets a field is told apart.
func fill(m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsList() || fd.IsMap():
			continue // none in the messages cloned here
		case fd.Kind() == protoreflect.MessageKind:
			sub := m.Mutable(fd).Message()
			fill(sub)
		case fd.Kind() == protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(1))
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("x"))
		case fd.Kind() == protoreflect.BytesKind:
			m.Set(fd, protoreflect.ValueOfBytes([]byte("x")))
		case fd.Kind() == protoreflect.BoolKind:
			m.Set(fd, protoreflect.ValueOfBool(true))
		case fd.Kind() == protoreflect.Int32Kind, fd.Kind() == protoreflect.Sint32Kind:
			m.Set(fd, protoreflect.ValueOfInt32(7))
		case fd.Kind() == protoreflect.Int64Kind, fd.Kind() == protoreflect.Sint64Kind:
			m.Set(fd, protoreflect.ValueOfInt64(7))
		case fd.Kind() == protoreflect.Uint32Kind:
			m.Set(fd, protoreflect.ValueOfUint32(7))
		case fd.Kind() == protoreflect.Uint64Kind:
			m.Set(fd, protoreflect.ValueOfUint64(7))
		case fd.Kind() == protoreflect.DoubleKind:
			m.Set(fd, protoreflect.ValueOfFloat64(7))
		default:
			panic("fill: add kind " + fd.Kind().String())
		}
	}
}

func TestClonesCopyEveryField(t *testing.T) {
	st := &TaskStatus{}
	fill(st.ProtoReflect())
	c := CloneTaskStatus(st)
	if !proto.Equal(c, st) {
		t.Fatalf("CloneTaskStatus forgets a field:\n got %v\nwant %v", c, st)
	}
	c.TaskId.Value, c.Uuid[0] = "changed", 'y'
	if st.TaskId.Value != "x" || st.Uuid[0] != 'x' {
		t.Fatal("CloneTaskStatus shares what it should copy")
	}
	if CloneTaskStatus(nil) != nil || CloneStatusUpdate(nil) != nil {
		t.Fatal("nil")
	}
	u := &StatusUpdate{}
	fill(u.ProtoReflect())
	if cu := CloneStatusUpdate(u); !proto.Equal(cu, u) {
		t.Fatalf("CloneStatusUpdate forgets a field:\n got %v\nwant %v", cu, u)
	}
}

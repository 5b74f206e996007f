package core

import (
	"testing"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestAdoptedTaskKeepsEveryField: the books' copy of a reported task
// (adoptedTask, a field by field copy) carries every field of Task; a field
// added to Task and not to adoptedTask fails here instead of being dropped
// from every task a new leader adopts.
func TestAdoptedTaskKeepsEveryField(t *testing.T) {
	reported := &messages.Task{}
	m := reported.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsList() && fd.Message() != nil:
			m.Mutable(fd).List().Append(protoreflect.ValueOfMessage(m.Mutable(fd).List().NewElement().Message()))
		case fd.IsList():
			t.Fatalf("Task.%s: a repeated scalar field; fill it in this test", fd.Name())
		case fd.Message() != nil:
			m.Mutable(fd)
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString("x"))
		case fd.Kind() == protoreflect.BoolKind:
			m.Set(fd, protoreflect.ValueOfBool(true))
		case fd.Kind() == protoreflect.EnumKind:
			m.Set(fd, protoreflect.ValueOfEnum(1))
		default:
			t.Fatalf("Task.%s: a %v field; fill it in this test", fd.Name(), fd.Kind())
		}
	}
	before := proto.Clone(reported)
	got := adoptedTask(reported)
	if !proto.Equal(got, reported) {
		t.Fatalf("adoptedTask dropped a field:\n got %v\nwant %v", got, reported)
	}
	got.State, got.Statuses = messages.TaskState_TASK_KILLED, nil
	if !proto.Equal(reported, before) {
		t.Fatalf("changing the books' task changed the report: %v", reported)
	}
}

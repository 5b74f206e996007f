package core

import (
	"slices"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// A subscription naming suppressed roles (Mesos' v1 SUBSCRIBE
// suppressed_roles: a framework re-subscribing to a new leader) suppresses
// them with the allocator right after adding the framework, in the same
// step, so no allocation comes between; a role the framework is not in is
// refused, and nothing changes.
func TestSubscriptionSuppressesItsSuppressedRoles(t *testing.T) {
	c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 2}})
	c.Start(t0)
	sched := Peer{Endpoint: Endpoint{"s", "sched"}}
	info := &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "m-1-F1"}, Name: "f", Roles: []string{"a", "b"}}
	r := c.Subscribe(sched, &messages.SubscribeFramework{Info: info, SuppressedRoles: []string{"c"}}, t0)
	for _, e := range r.Effects {
		if s, ok := e.(Send); ok {
			if m, ok := s.Msg.(*messages.Error); ok && m.Code == messages.Error_INVALID_ARGUMENT {
				continue
			}
		}
		t.Errorf("a subscription suppressing a role not its own produced %T %+v, want only the refusal", e, e)
	}
	if len(r.Effects) == 0 {
		t.Error("a subscription suppressing a role not its own was not refused")
	}
	r = c.Subscribe(sched, &messages.SubscribeFramework{Info: info, SuppressedRoles: []string{"a"}}, t0)
	var toAllocator []string
	for _, e := range r.Effects {
		if a, ok := e.(ToAllocator); ok {
			switch m := a.Msg.(type) {
			case *messages.AllocatorAddFramework:
				toAllocator = append(toAllocator, "add")
			case *messages.AllocatorSuppress:
				toAllocator = append(toAllocator, "suppress "+m.FrameworkId+" "+m.Roles[0])
			}
		}
	}
	if want := []string{"add", "suppress m-1-F1 a"}; !slices.Equal(toAllocator, want) {
		t.Errorf("the allocator was told %v, want %v", toAllocator, want)
	}
	if got := c.books.frameworks["m-1-F1"].pending.suppressed; len(got) != 1 || !got["a"] {
		t.Errorf("the books hold suppressed roles %v, want a alone", got)
	}
}

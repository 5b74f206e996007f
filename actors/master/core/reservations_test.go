package core

import (
	"testing"

	"github.com/agora-sched/agora/messages"
)

// Offers of a reservation name its principal and labels (Mesos frameworks
// unreserve what they see as DYNAMIC) when the agent's reservation for the
// role is one dynamic reservation; otherwise only the role.
func TestOfferedReservation(t *testing.T) {
	dyn := func(principal string) *messages.Resource {
		return &messages.Resource{Name: "cpus", Scalar: 1, Role: "prod",
			Reservation: &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: "prod", Principal: principal}}
	}
	static := &messages.Resource{Name: "mem", Scalar: 1, Role: "prod"}
	for _, tc := range []struct {
		name      string
		rs        []*messages.Resource
		principal string
	}{
		{"one dynamic", []*messages.Resource{{Name: "cpus", Scalar: 4}, dyn("alice")}, "alice"},
		{"two dynamic alike", []*messages.Resource{dyn("alice"), dyn("alice")}, "alice"},
		{"two principals", []*messages.Resource{dyn("alice"), dyn("bob")}, ""},
		{"dynamic and static", []*messages.Resource{dyn("alice"), static}, ""},
		{"static", []*messages.Resource{static}, ""},
	} {
		got := offeredReservation(tc.rs, "prod")
		if got.Role != "prod" || got.Principal != tc.principal || (tc.principal != "") != messages.IsDynamic(&messages.Resource{Role: "prod", Reservation: got}) {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}

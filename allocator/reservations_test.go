package allocator

import (
	"errors"
	"testing"
	"time"
)

func (e *env) reservedAgent(id, res string, reserved map[string]string) {
	e.t.Helper()
	a := Agent{ID: id, Total: MustParse(res), Reserved: map[string]Resources{}}
	for role, r := range reserved {
		a.Reserved[role] = MustParse(r)
	}
	if err := e.h.AddAgent(a); err != nil {
		e.t.Fatal(err)
	}
	e.check()
}

func grantsOf(gs []Grant, fw string) []Grant {
	var out []Grant
	for _, g := range gs {
		if g.FrameworkID == fw {
			out = append(out, g)
		}
	}
	return out
}

// Mesos (Resources::isAllocatableTo): resources reserved for a role are
// allocatable to that role and its descendants, never to others.
func TestReservedOfferedOnlyToRoleAndDescendants(t *testing.T) {
	for _, tc := range []struct {
		role string
		gets bool
	}{{"prod", true}, {"prod/db", true}, {"prod/db/x", true}, {"production", false}, {"dev", false}, {"pro", false}} {
		t.Run(tc.role, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.reservedAgent("a1", "cpus:1;mem:1024", map[string]string{"prod": "cpus:2;mem:2048"})
			e.framework(Framework{ID: "f", Roles: []string{tc.role}})
			gs := e.cycle(time.Second)
			var reserved []Grant
			for _, g := range gs {
				if g.Reservation != "" {
					reserved = append(reserved, g)
				}
			}
			if !tc.gets {
				if len(reserved) != 0 {
					t.Fatalf("role %s was offered resources reserved for prod: %+v", tc.role, reserved)
				}
				return
			}
			if len(reserved) != 1 || reserved[0].Reservation != "prod" || reserved[0].Role != tc.role || reserved[0].Resources.String() != "cpus:2;mem:2048" {
				t.Fatalf("grants %+v: want all of prod's reservation to role %s", gs, tc.role)
			}
		})
	}
}

// Reserved resources count in the holder's dominant share (Mesos' role
// sorter counts reserved allocations): a role holding its reservation is
// behind a role holding nothing for the unreserved agent.
func TestReservedCountsInShareAndGuarantee(t *testing.T) {
	e := newEnv(t, Options{})
	e.reservedAgent("a1", "", map[string]string{"prod": "cpus:4;mem:4096"})
	e.framework(Framework{ID: "p", Roles: []string{"prod"}})
	if err := e.h.SetQuota("prod", NoLimit(MustParse("cpus:4;mem:4096").Scalars)); err != nil {
		t.Fatal(err)
	}
	gs := e.cycle(time.Second)
	if len(gs) != 1 || gs[0].Reservation != "prod" {
		t.Fatalf("grants %+v: want prod's reservation", gs)
	}
	if !e.h.required.IsZero() {
		t.Fatalf("prod holds its guarantee in reserved resources, yet headroom %v is kept for it", e.h.required)
	}
	e.framework(Framework{ID: "d", Roles: []string{"dev"}})
	e.agent("a2", "cpus:4;mem:4096", nil)
	gs = e.cycle(time.Second)
	if len(gs) != 1 || gs[0].FrameworkID != "d" {
		t.Fatalf("grants %+v: want a2 to d (prod's share is 1/2 with its reservation, dev's 0)", gs)
	}
}

func TestOperatorReserveAndUnreserveFreeResources(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("a1", "cpus:4;mem:4096", nil)
	if err := e.h.UpdateReservation("a1", "prod", MustParse("cpus:5"), false, "", ""); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("reserving more than is free: err %v, want ErrNotAllocated", err)
	}
	if err := e.h.UpdateReservation("a1", "prod", MustParse("cpus:3;mem:1024"), false, "", ""); err != nil {
		t.Fatal(err)
	}
	e.check()
	e.framework(Framework{ID: "d", Roles: []string{"dev"}})
	gs := e.cycle(time.Second)
	if len(gs) != 1 || gs[0].Resources.String() != "cpus:1;mem:3072" || gs[0].Reservation != "" {
		t.Fatalf("grants %+v: dev should get only the unreserved rest", gs)
	}
	e.framework(Framework{ID: "p", Roles: []string{"prod"}})
	gs = e.cycle(time.Second)
	if len(gs) != 1 || gs[0].FrameworkID != "p" || gs[0].Reservation != "prod" || gs[0].Resources.String() != "cpus:3;mem:1024" {
		t.Fatalf("grants %+v: want the reservation to p", gs)
	}
	if err := e.h.UpdateReservation("a1", "prod", MustParse("cpus:3;mem:1024"), true, "", ""); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("unreserving what is offered without naming the framework: err %v, want ErrNotAllocated", err)
	}
	if err := e.h.ReturnReserved("p", "prod", "a1", "prod", gs[0].Resources, ReturnRecover, 0, e.now); err != nil {
		t.Fatal(err)
	}
	if err := e.h.UpdateReservation("a1", "prod", MustParse("cpus:3;mem:1024"), true, "", ""); err != nil {
		t.Fatal(err)
	}
	e.check()
	if len(e.h.agents["a1"].resv) != 0 {
		t.Fatalf("an emptied reservation is kept: %+v", e.h.agents["a1"].resv)
	}
}

// A framework reserves part of its offer (RESERVE), launches nothing and
// returns the rest: the reserved part comes back to its role only, the
// rest to anyone.
func TestFrameworkReservesOfferedResources(t *testing.T) {
	e := newEnv(t, Options{})
	e.agent("a1", "cpus:4;mem:4096", nil)
	e.framework(Framework{ID: "p", Roles: []string{"prod"}})
	gs := e.cycle(time.Second)
	if len(gs) != 1 {
		t.Fatalf("grants %+v", gs)
	}
	if err := e.h.UpdateReservation("a1", "dev", MustParse("cpus:2"), false, "p", "prod"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reserving for a role other than the offer's: err %v, want ErrInvalid", err)
	}
	if err := e.h.UpdateReservation("a1", "prod", MustParse("cpus:2;mem:2048"), false, "p", "prod"); err != nil {
		t.Fatal(err)
	}
	e.check()
	if err := e.h.ReturnReserved("p", "prod", "a1", "prod", MustParse("cpus:2;mem:2048"), ReturnDecline, time.Hour, e.now); err != nil {
		t.Fatal(err)
	}
	e.recover(Grant{FrameworkID: "p", Role: "prod", AgentID: "a1", Resources: MustParse("cpus:2;mem:2048")})
	e.framework(Framework{ID: "d", Roles: []string{"dev"}})
	gs = e.cycle(time.Second)
	if len(grantsOf(gs, "p")) != 0 || len(gs) != 1 || gs[0].Resources.String() != "cpus:2;mem:2048" || gs[0].Reservation != "" {
		t.Fatalf("grants %+v: want the unreserved half to d, nothing to p (filtered)", gs)
	}
	e.framework(Framework{ID: "p2", Roles: []string{"prod"}})
	gs = e.cycle(time.Second)
	if len(gs) != 1 || gs[0].FrameworkID != "p2" || gs[0].Reservation != "prod" {
		t.Fatalf("grants %+v: want the reservation to p2, the other framework of prod", gs)
	}
	// Unreserving offered resources makes them unreserved, still p2's.
	if err := e.h.UpdateReservation("a1", "prod", gs[0].Resources, true, "p2", "prod"); err != nil {
		t.Fatal(err)
	}
	e.check()
	e.recover(Grant{FrameworkID: "p2", Role: "prod", AgentID: "a1", Resources: gs[0].Resources})
}

func TestRemovingAFrameworkFreesItsReservedAllocation(t *testing.T) {
	e := newEnv(t, Options{})
	e.reservedAgent("a1", "cpus:1", map[string]string{"prod": "cpus:2"})
	e.framework(Framework{ID: "p", Roles: []string{"prod"}})
	e.cycle(time.Second)
	if err := e.h.RemoveFramework("p"); err != nil {
		t.Fatal(err)
	}
	e.check()
	e.framework(Framework{ID: "q", Roles: []string{"prod"}})
	if gs := grantsOf(e.cycle(time.Second), "q"); len(gs) != 2 {
		t.Fatalf("grants %+v: want the reservation and the rest back to q", gs)
	}
	if err := e.h.RemoveAgent("a1"); err != nil {
		t.Fatal(err)
	}
	e.check()
}

// An agent re-registering with tasks on reserved resources: they are
// allocated from its reservation.
func TestAgentAddedWithReservedAllocations(t *testing.T) {
	e := newEnv(t, Options{})
	e.framework(Framework{ID: "p", Roles: []string{"prod/db"}})
	a := Agent{ID: "a1", Total: MustParse("cpus:1"), Reserved: map[string]Resources{"prod": MustParse("cpus:2")},
		Allocated: []Grant{{FrameworkID: "p", Role: "prod/db", Resources: MustParse("cpus:1.5"), Reservation: "prod"}}}
	if err := e.h.AddAgent(a); err != nil {
		t.Fatal(err)
	}
	e.check()
	a.ID, a.Allocated[0].Resources = "a2", MustParse("cpus:3")
	if err := e.h.AddAgent(a); !errors.Is(err, ErrInvalid) {
		t.Fatalf("allocation beyond the reservation: err %v, want ErrInvalid", err)
	}
}

func TestReservedGrantsRoundTripTheWire(t *testing.T) {
	gs := []Grant{
		{FrameworkID: "f", Role: "r", AgentID: "a", Resources: MustParse("cpus:1")},
		{FrameworkID: "f", Role: "prod/db", AgentID: "a", Resources: MustParse("cpus:2;ports:[1-2]"), Reservation: "prod"},
	}
	back, err := DecodeGrants(EncodeGrants(gs))
	if err != nil {
		t.Fatal(err)
	}
	if back[0].Reservation != "" || back[1].Reservation != "prod" || back[1].Resources.String() != "cpus:2;ports:[1-2]" {
		t.Fatalf("decoded %+v", back)
	}
	if m := EncodeGrants(gs[:1]); m.Reservation != nil {
		t.Fatalf("unreserved grants carry a reservation column: %v", m.Reservation)
	}
}

// Mesos (quota.md): reservations count as consumed quota, allocated or not,
// so no unreserved headroom is held back for a guarantee they cover.
func TestUnallocatedReservationsCountTowardsTheGuarantee(t *testing.T) {
	e := newEnv(t, Options{})
	e.reservedAgent("a1", "", map[string]string{"prod": "cpus:4;mem:4096"})
	e.agent("a2", "cpus:4;mem:4096", nil)
	e.framework(Framework{ID: "p", Roles: []string{"prod"}})
	if err := e.h.SetQuota("prod", NoLimit(MustParse("cpus:4;mem:4096").Scalars)); err != nil {
		t.Fatal(err)
	}
	e.check()
	if !e.h.required.IsZero() {
		t.Fatalf("headroom %v kept for prod, whose guarantee its reservation covers", e.h.required)
	}
	if err := e.h.Suppress("p"); err != nil {
		t.Fatal(err)
	}
	e.framework(Framework{ID: "d", Roles: []string{"dev"}})
	if gs := e.cycle(time.Second); len(gs) != 1 || gs[0].FrameworkID != "d" || gs[0].AgentID != "a2" {
		t.Fatalf("grants %+v: want all of a2 to dev", gs)
	}
	if err := e.h.Revive("p"); err != nil {
		t.Fatal(err)
	}
	e.check()
	if gs := e.cycle(time.Second); len(gs) != 1 || gs[0].Reservation != "prod" {
		t.Fatalf("grants %+v: want prod's reservation to p", gs)
	}
	if err := e.h.UpdateReservation("a2", "prod", MustParse("cpus:1"), false, "", ""); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("reserving what dev holds: err %v", err)
	}
}

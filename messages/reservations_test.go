package messages

import (
	"errors"
	"testing"
)

func TestApplyAndSplitReservations(t *testing.T) {
	static, err := ParseResources("cpus:4;mem:4096;cpus(prod):1")
	if err != nil {
		t.Fatal(err)
	}
	dyn := []*Resource{{Name: CPUs, Scalar: 2, Role: "prod", Reservation: &ReservationInfo{Type: ReservationInfo_DYNAMIC, Role: "prod", Principal: "ops", Labels: map[string]string{"k": "v"}}}}
	got, err := ApplyReservations(static, dyn)
	if err != nil {
		t.Fatal(err)
	}
	if s := FormatResources(SumResources(got)); s != "cpus:2;cpus(prod):3;mem:4096" {
		t.Fatalf("applied: %s", s)
	}
	back, d := SplitDynamic(got)
	if FormatResources(back) != FormatResources(SumResources(static)) || len(d) != 1 || d[0].Reservation.Principal != "ops" || d[0].Reservation.Labels["k"] != "v" {
		t.Fatalf("split: static %s dynamic %v", FormatResources(back), d)
	}
	dyn[0].Scalar = 5
	if _, err := ApplyReservations(static, dyn); !errors.Is(err, ErrBadResource) {
		t.Fatalf("reserving more than is unreserved: err %v", err)
	}
	if _, err := ApplyReservations(static, []*Resource{{Name: CPUs, Scalar: 1, Role: "prod"}}); !errors.Is(err, ErrBadResource) {
		t.Fatalf("a static reservation in the dynamic list: err %v", err)
	}
}

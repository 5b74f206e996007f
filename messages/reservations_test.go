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

// A volume's persistence id names a directory on the agent: a checkpoint
// naming one outside the volumes' directory is refused whole.
func TestApplyReservationsChecksVolumes(t *testing.T) {
	static := []*Resource{{Name: Disk, Scalar: 100}}
	resv := &ReservationInfo{Type: ReservationInfo_DYNAMIC, Role: "eng"}
	for _, id := range []string{"../../etc", "a/b", ""} {
		vol := []*Resource{{Name: Disk, Scalar: 10, Role: "eng", Reservation: resv, Disk: &DiskInfo{PersistenceId: id, ContainerPath: "data"}}}
		if _, err := ApplyReservations(static, vol); !errors.Is(err, ErrBadResource) {
			t.Errorf("volume id %q applied (err %v); want ErrBadResource", id, err)
		}
	}
	ok := []*Resource{{Name: Disk, Scalar: 10, Role: "eng", Reservation: resv, Disk: &DiskInfo{PersistenceId: "v1", ContainerPath: "data"}}}
	got, err := ApplyReservations(static, ok)
	if err != nil || len(got) != 2 || !IsVolume(got[1]) {
		t.Fatalf("a valid volume: %v, %v", got, err)
	}
}

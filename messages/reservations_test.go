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

// A volume on a static reservation (Mesos allows volumes on any reserved
// disk) is checkpointed with the dynamic reservations: it is carved out of
// its role's statically reserved disk, not the unreserved disk, and
// SplitDynamic gives it back there.
func TestVolumeOnStaticReservation(t *testing.T) {
	static, err := ParseResources("disk:100;disk(prod):1024")
	if err != nil {
		t.Fatal(err)
	}
	vol := &Resource{Name: Disk, Scalar: 1000, Role: "prod", Disk: &DiskInfo{PersistenceId: "db", ContainerPath: "data"}}
	dyn := &Resource{Name: Disk, Scalar: 100, Role: "prod", Reservation: &ReservationInfo{Type: ReservationInfo_DYNAMIC, Role: "prod"}}
	got, err := ApplyReservations(static, []*Resource{vol, dyn})
	if err != nil {
		t.Fatal(err)
	}
	if s := FormatResources(SumResources(got)); s != "disk(prod):1124" {
		t.Fatalf("applied: %s", s)
	}
	var plain, vols float64
	for _, r := range got {
		switch {
		case IsVolume(r) && r.Role == "prod" && r.Reservation == nil:
			vols += r.Scalar
		case r.Role == "prod" && !IsDynamic(r):
			plain += r.Scalar
		}
	}
	if plain != 24 || vols != 1000 {
		t.Fatalf("static disk left %g MiB beside a volume of %g MiB, want 24 and 1000: %v", plain, vols, got)
	}
	back, cp := SplitDynamic(got)
	if FormatResources(back) != FormatResources(SumResources(static)) || len(cp) != 2 {
		t.Fatalf("split: static %s, checkpointed %v", FormatResources(back), cp)
	}
	again, err := ApplyReservations(back, cp)
	if err != nil || FormatResources(again) != FormatResources(got) {
		t.Fatalf("split and applied again: %v, %v; want %v", again, err, got)
	}
	// The static disk bounds its volumes: restarted with less, the
	// checkpoint no longer fits; the unreserved disk does not make up for it.
	vol.Scalar = 1025
	if _, err := ApplyReservations(static, []*Resource{vol}); !errors.Is(err, ErrBadResource) {
		t.Fatalf("a volume larger than the static reservation: err %v", err)
	}
	// Only volumes and dynamic reservations are checkpointed.
	if _, err := ApplyReservations(static, []*Resource{{Name: Disk, Scalar: 1, Role: "prod"}}); !errors.Is(err, ErrBadResource) {
		t.Fatalf("plain static disk in the checkpoint: err %v", err)
	}
}

package mesosapi

import (
	"errors"
	"testing"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// A persistent volume goes out as Mesos' DiskInfo (persistence id and
// principal, a read-write volume at container_path) and comes back the
// same, with and without reservation refinement; disk infos Agora cannot
// hold (read-only volumes, disk sources) are refused by name.
func TestVolumeResourcesRoundTrip(t *testing.T) {
	vol := []*messages.Resource{{Name: "disk", Scalar: 256, Role: "db",
		Reservation: &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: "db", Principal: "alice"},
		Disk:        &messages.DiskInfo{PersistenceId: "data", ContainerPath: "state", Principal: "alice"}}}
	for _, refinement := range []bool{false, true} {
		out := resourcesOut(vol, "", refinement)
		if got := out[0].GetDisk().GetPersistence().GetId(); got != "data" || out[0].GetDisk().GetVolume().GetMode() != mesos.Volume_RW {
			t.Fatalf("refinement=%v: the volume went out as %v", refinement, out[0].GetDisk())
		}
		back, err := resourcesIn(out)
		if err != nil || !proto.Equal(back[0].Disk, vol[0].Disk) || back[0].Role != "db" {
			t.Fatalf("refinement=%v: came back as %v (%v)", refinement, back, err)
		}
	}
	ro := resourcesOut(vol, "", true)
	ro[0].Disk.Volume.Mode = mesos.Volume_RO.Enum()
	if _, err := resourcesIn(ro); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("a read-only volume was taken (err %v); want ErrUnsupported", err)
	}
	src := resourcesOut(vol, "", true)
	src[0].Disk.Source = &mesos.Resource_DiskInfo_Source{}
	if _, err := resourcesIn(src); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("a disk source was taken (err %v); want ErrUnsupported", err)
	}
}

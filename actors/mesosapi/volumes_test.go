package mesosapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// A persistent volume goes out as Mesos' DiskInfo (persistence id and
// principal, a read-write volume at container_path) and comes back the
// same, with and without reservation refinement; a task's volume of mode
// RO comes in read-only (and goes out RO), a shared one (SharedInfo)
// shared; disk infos Agora cannot hold (disk sources) are refused by name,
// as are a shared resource that is not a volume and a mode on disk that
// is not one.
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
	back, err := resourcesIn(ro)
	if err != nil || !back[0].Disk.ReadOnly || back[0].Shared {
		t.Fatalf("a task's read-only volume came in as %v (%v); want read-only", back, err)
	}
	if out := resourcesOut(back, "", true); out[0].GetDisk().GetVolume().GetMode() != mesos.Volume_RO || out[0].Shared != nil {
		t.Fatalf("a read-only volume went out as %v", out[0])
	}
	shared := resourcesOut(vol, "", true)
	shared[0].Shared = &mesos.Resource_SharedInfo{}
	back, err = resourcesIn(shared)
	if err != nil || !back[0].Shared || back[0].Disk.ReadOnly {
		t.Fatalf("a shared volume came in as %v (%v); want shared", back, err)
	}
	if out := resourcesOut(back, "", false); out[0].Shared == nil {
		t.Fatalf("a shared volume went out as %v; want SharedInfo set", out[0])
	}
	cpus := &mesos.Resource{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(1)}, Shared: &mesos.Resource_SharedInfo{}}
	if _, err := resourcesIn([]*mesos.Resource{cpus}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "only persistent volumes can be shared") {
		t.Fatalf("shared cpus: %v; want ErrInvalid saying only persistent volumes can be shared", err)
	}
	plain := &mesos.Resource{Name: proto.String("disk"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(1)},
		Disk: &mesos.Resource_DiskInfo{Volume: &mesos.Volume{Mode: mesos.Volume_RO.Enum(), ContainerPath: proto.String("x")}}}
	if _, err := resourcesIn([]*mesos.Resource{plain}); err == nil || !strings.Contains(err.Error(), "not a persistent volume") {
		t.Fatalf("mode RO on disk without persistence: %v; want it refused as not a persistent volume", err)
	}
	src := resourcesOut(vol, "", true)
	src[0].Disk.Source = &mesos.Resource_DiskInfo_Source{}
	if _, err := resourcesIn(src); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("a disk source was taken (err %v); want ErrUnsupported", err)
	}
}

// SHARED_RESOURCES comes in as Agora's capability: the master then offers
// the framework shared volumes, also while in use.
func TestSharedResourcesCapabilityIn(t *testing.T) {
	f, err := frameworkIn(&mesos.FrameworkInfo{Name: proto.String("db"), User: proto.String("u"),
		Capabilities: []*mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_SHARED_RESOURCES.Enum()}}})
	if err != nil {
		t.Fatal(err)
	}
	if caps := f.info.GetCapabilities(); len(caps) != 1 || caps[0] != messages.Capability_SHARED_RESOURCES {
		t.Fatalf("capabilities %v; want SHARED_RESOURCES", caps)
	}
}

package mesosapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	mmaster "github.com/agora-sched/agora/messages/mesos/v1/master"
	"google.golang.org/protobuf/proto"
)

// Mesos' operator reservations and volumes map onto the master's native
// requests (OperatorReserve, OperatorVolumes), which the master checks
// against reserve_resources, unreserve_resources, create_volumes and
// destroy_volumes; what Agora does not do is refused by name.
func TestResourceCallsMapOntoTheMastersRequests(t *testing.T) {
	agent := &mesos.AgentID{Value: proto.String("A1")}
	disk := func(persistence string) *mesos.Resource {
		r := &mesos.Resource{Name: proto.String("disk"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(64)},
			Reservations: []*mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("ops"),
				Labels: &mesos.Labels{Labels: []*mesos.Label{{Key: proto.String("owner"), Value: proto.String("db")}}}}}}
		if persistence != "" {
			r.Disk = &mesos.Resource_DiskInfo{Persistence: &mesos.Resource_DiskInfo_Persistence{Id: proto.String(persistence)},
				Volume: &mesos.Volume{Mode: mesos.Volume_RW.Enum(), ContainerPath: proto.String("data")}}
		}
		return r
	}
	reserve := &mmaster.Call{Type: mmaster.Call_RESERVE_RESOURCES.Enum(), ReserveResources: &mmaster.Call_ReserveResources{AgentId: agent, Resources: []*mesos.Resource{disk("")}}}
	msg, err := resourceCallIn(reserve)
	if err != nil {
		t.Fatal(err)
	}
	want := &messages.OperatorReserve{AgentId: &messages.AgentID{Value: "A1"}, Resources: []*messages.Resource{{Name: "disk", Scalar: 64, Role: "ops"}},
		Labels: map[string]string{"owner": "db"}}
	if !proto.Equal(msg, want) {
		t.Errorf("RESERVE_RESOURCES: %v, want %v", msg, want)
	}
	unreserve := &mmaster.Call{Type: mmaster.Call_UNRESERVE_RESOURCES.Enum(), UnreserveResources: &mmaster.Call_UnreserveResources{AgentId: agent, Resources: []*mesos.Resource{disk("")}}}
	if msg, err := resourceCallIn(unreserve); err != nil || !msg.(*messages.OperatorReserve).Unreserve {
		t.Errorf("UNRESERVE_RESOURCES: %v %v", msg, err)
	}
	for _, destroy := range []bool{false, true} {
		call := &mmaster.Call{Type: mmaster.Call_CREATE_VOLUMES.Enum(), CreateVolumes: &mmaster.Call_CreateVolumes{AgentId: agent, Volumes: []*mesos.Resource{disk("v1")}}}
		if destroy {
			call = &mmaster.Call{Type: mmaster.Call_DESTROY_VOLUMES.Enum(), DestroyVolumes: &mmaster.Call_DestroyVolumes{AgentId: agent, Volumes: []*mesos.Resource{disk("v1")}}}
		}
		msg, err := resourceCallIn(call)
		if err != nil {
			t.Fatalf("%s: %v", call.GetType(), err)
		}
		v, ok := msg.(*messages.OperatorVolumes)
		if !ok || v.Destroy != destroy || v.AgentId.GetValue() != "A1" || len(v.Volumes) != 1 || v.Volumes[0].Role != "ops" ||
			v.Volumes[0].Disk.GetPersistenceId() != "v1" || v.Volumes[0].Disk.GetContainerPath() != "data" || v.Volumes[0].Scalar != 64 {
			t.Errorf("%s: %v", call.GetType(), msg)
		}
	}

	for _, tc := range []struct {
		name string
		call *mmaster.Call
		err  error
		says string
	}{
		{"no agent", &mmaster.Call{Type: mmaster.Call_CREATE_VOLUMES.Enum(), CreateVolumes: &mmaster.Call_CreateVolumes{Volumes: []*mesos.Resource{disk("v1")}}},
			ErrInvalid, "'create_volumes.agent_id'"},
		{"no volumes", &mmaster.Call{Type: mmaster.Call_DESTROY_VOLUMES.Enum(), DestroyVolumes: &mmaster.Call_DestroyVolumes{AgentId: agent}},
			ErrInvalid, "names no resources"},
		{"plain disk as a volume", &mmaster.Call{Type: mmaster.Call_CREATE_VOLUMES.Enum(), CreateVolumes: &mmaster.Call_CreateVolumes{AgentId: agent, Volumes: []*mesos.Resource{disk("")}}},
			ErrInvalid, "no persistent volume"},
		{"reserving a volume", &mmaster.Call{Type: mmaster.Call_UNRESERVE_RESOURCES.Enum(), UnreserveResources: &mmaster.Call_UnreserveResources{AgentId: agent, Resources: []*mesos.Resource{disk("v1")}}},
			ErrInvalid, "destroy it first"},
		{"reservation update", &mmaster.Call{Type: mmaster.Call_RESERVE_RESOURCES.Enum(), ReserveResources: &mmaster.Call_ReserveResources{AgentId: agent, Source: []*mesos.Resource{disk("")}, Resources: []*mesos.Resource{disk("")}}},
			ErrUnsupported, "source"},
	} {
		_, err := resourceCallIn(tc.call)
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v; want %v saying %q", tc.name, err, tc.err, tc.says)
		}
	}
}

// A task killed for its disk reaches a Mesos framework with Mesos' reason
// (REASON_CONTAINER_LIMITATION_DISK, 20 there) and the agent's words.
func TestDiskLimitationReachesMesosFrameworks(t *testing.T) {
	out := statusOut(&messages.TaskStatus{TaskId: &messages.TaskID{Value: "t"}, State: messages.TaskState_TASK_FAILED,
		Reason: messages.TaskStatusReason_REASON_CONTAINER_LIMITATION_DISK, Message: "disk limit reached"})
	if out.GetReason() != mesos.TaskStatus_REASON_CONTAINER_LIMITATION_DISK || out.GetMessage() != "disk limit reached" || out.GetState() != mesos.TaskState_TASK_FAILED {
		t.Fatalf("status %v", out)
	}
}

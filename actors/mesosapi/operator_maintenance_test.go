package mesosapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	"github.com/agora-sched/agora/messages/mesos/v1/maintenance"
	mmaster "github.com/agora-sched/agora/messages/mesos/v1/master"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

func operatorMetrics() prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "agora_master_offers_total"}, []string{"role"})
	c.WithLabelValues("web").Add(3)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "agora_allocation_seconds"})
	h.Observe(0.5)
	reg.MustRegister(c, h)
	return reg
}

func machines(names ...string) []*mesos.MachineID {
	out := make([]*mesos.MachineID, len(names))
	for i, n := range names {
		out[i] = &mesos.MachineID{Hostname: proto.String(n)}
	}
	return out
}

// Mesos' maintenance calls over Agora's schedule: UPDATE then GET reads it
// back; GET_MAINTENANCE_STATUS says DRAINING before a window, DOWN in it;
// START_MAINTENANCE moves machines into a window starting now, ending as
// theirs did; STOP_MAINTENANCE takes them out of the schedule.
func TestOperatorMaintenance(t *testing.T) {
	h := newOperatorHarness(t, nil, 0)
	now := h.clock.Now()
	start := now.Add(time.Hour)
	window := &maintenance.Window{MachineIds: machines("h1", "h2", "h3"), Unavailability: &mesos.Unavailability{
		Start: &mesos.TimeInfo{Nanoseconds: proto.Int64(start.UnixNano())}, Duration: &mesos.DurationInfo{Nanoseconds: proto.Int64(int64(2 * time.Hour))}}}
	update := &mmaster.Call{Type: mmaster.Call_UPDATE_MAINTENANCE_SCHEDULE.Enum(),
		UpdateMaintenanceSchedule: &mmaster.Call_UpdateMaintenanceSchedule{Schedule: &maintenance.Schedule{Windows: []*maintenance.Window{window}}}}
	if status, body := h.status(update, JSONCodec); status != http.StatusOK {
		t.Fatalf("UPDATE_MAINTENANCE_SCHEDULE: %d %s", status, body)
	}
	if got := h.read(callOf(mmaster.Call_GET_MAINTENANCE_SCHEDULE), ProtobufCodec).GetGetMaintenanceSchedule().GetSchedule(); !proto.Equal(got, update.UpdateMaintenanceSchedule.Schedule) {
		t.Fatalf("GET_MAINTENANCE_SCHEDULE: %v; want what was set, %v", got, update.UpdateMaintenanceSchedule.Schedule)
	}
	st := h.read(callOf(mmaster.Call_GET_MAINTENANCE_STATUS), JSONCodec).GetGetMaintenanceStatus().GetStatus()
	if len(st.GetDrainingMachines()) != 3 || len(st.GetDownMachines()) != 0 {
		t.Fatalf("status before the window: %v; want 3 draining", st)
	}

	start2 := &mmaster.Call{Type: mmaster.Call_START_MAINTENANCE.Enum(), StartMaintenance: &mmaster.Call_StartMaintenance{Machines: machines("h2")}}
	if status, body := h.status(start2, JSONCodec); status != http.StatusOK {
		t.Fatalf("START_MAINTENANCE: %d %s", status, body)
	}
	want := &messages.MaintenanceSchedule{Windows: []*messages.MaintenanceWindow{
		{Machines: []string{"h1", "h3"}, StartUnixNano: start.UnixNano(), DurationNanos: int64(2 * time.Hour)},
		{Machines: []string{"h2"}, StartUnixNano: now.UnixNano(), DurationNanos: int64(3 * time.Hour)},
	}}
	if !proto.Equal(h.schedule(), want) {
		t.Fatalf("after START_MAINTENANCE h2 the master holds %v; want %v", h.schedule(), want)
	}
	st = h.read(callOf(mmaster.Call_GET_MAINTENANCE_STATUS), JSONCodec).GetGetMaintenanceStatus().GetStatus()
	if len(st.GetDownMachines()) != 1 || st.GetDownMachines()[0].GetHostname() != "h2" || len(st.GetDrainingMachines()) != 2 {
		t.Fatalf("status after START_MAINTENANCE h2: %v; want h2 down, two draining", st)
	}

	stop := &mmaster.Call{Type: mmaster.Call_STOP_MAINTENANCE.Enum(), StopMaintenance: &mmaster.Call_StopMaintenance{Machines: machines("h2", "h1")}}
	if status, body := h.status(stop, ProtobufCodec); status != http.StatusOK {
		t.Fatalf("STOP_MAINTENANCE: %d %s", status, body)
	}
	want = &messages.MaintenanceSchedule{Windows: []*messages.MaintenanceWindow{{Machines: []string{"h3"}, StartUnixNano: start.UnixNano(), DurationNanos: int64(2 * time.Hour)}}}
	if !proto.Equal(h.schedule(), want) {
		t.Fatalf("after STOP_MAINTENANCE h2 h1 the master holds %v; want %v", h.schedule(), want)
	}

	for _, tc := range []struct {
		name string
		call *mmaster.Call
		want string
	}{
		{"a machine not scheduled", &mmaster.Call{Type: mmaster.Call_START_MAINTENANCE.Enum(), StartMaintenance: &mmaster.Call_StartMaintenance{Machines: machines("h9")}}, `machine "h9" is in no maintenance window`},
		{"a machine by IP", &mmaster.Call{Type: mmaster.Call_STOP_MAINTENANCE.Enum(), StopMaintenance: &mmaster.Call_StopMaintenance{Machines: []*mesos.MachineID{{Ip: proto.String("10.0.0.1")}}}}, "by IP alone"},
		{"an endless window", &mmaster.Call{Type: mmaster.Call_UPDATE_MAINTENANCE_SCHEDULE.Enum(), UpdateMaintenanceSchedule: &mmaster.Call_UpdateMaintenanceSchedule{Schedule: &maintenance.Schedule{
			Windows: []*maintenance.Window{{MachineIds: machines("h1"), Unavailability: &mesos.Unavailability{Start: &mesos.TimeInfo{Nanoseconds: proto.Int64(start.UnixNano())}}}}}}}, "without a duration"},
	} {
		if status, body := h.status(tc.call, JSONCodec); status != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %q; want 400 with %q", tc.name, status, body, tc.want)
		}
	}
}

// GET_FLAGS and GET_METRICS: the master's flags by name; /metrics' series
// as Mesos metrics (a histogram as its count and sum).
func TestOperatorFlagsAndMetrics(t *testing.T) {
	h := newOperatorHarness(t, nil, 0)
	flags := h.read(callOf(mmaster.Call_GET_FLAGS), JSONCodec).GetGetFlags().GetFlags()
	if len(flags) != 2 || flags[0].GetName() != "allocator" || flags[0].GetValue() != "drf" || flags[1].GetName() != "max-agents" {
		t.Fatalf("GET_FLAGS: %v; want allocator=drf and max-agents, by name", flags)
	}
	got := map[string]float64{}
	for _, m := range h.read(callOf(mmaster.Call_GET_METRICS), ProtobufCodec).GetGetMetrics().GetMetrics() {
		got[m.GetName()] = m.GetValue()
	}
	if got[`agora_master_offers_total{role="web"}`] != 3 || got["agora_allocation_seconds_count"] != 1 || got["agora_allocation_seconds_sum"] != 0.5 || len(got) != 3 {
		t.Fatalf("GET_METRICS: %v", got)
	}
}

func (h *operatorHarness) schedule() *messages.MaintenanceSchedule {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.maint
}

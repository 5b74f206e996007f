package mesosapi

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	"github.com/agora-sched/agora/messages/mesos/v1/maintenance"
	mmaster "github.com/agora-sched/agora/messages/mesos/v1/master"
	"google.golang.org/protobuf/proto"
)

// Mesos' maintenance calls map onto Agora's maintenance schedule, which
// acts by itself: before a window starts, frameworks with tasks on its
// machines get inverse offers (Mesos' DRAINING); at its start its agents
// drain (Mesos' DOWN); at its end they are offered again. So
// START_MAINTENANCE moves machines into a window that starts now (ending
// when theirs would), and STOP_MAINTENANCE takes them out of the schedule
// (which reactivates them), each as one schedule update through the
// master. Machines are named by hostname (or agent ID) as in Agora's
// schedule; a MachineID with only an IP is refused.

// maintenanceCall answers GET_MAINTENANCE_SCHEDULE, GET_MAINTENANCE_STATUS,
// UPDATE_MAINTENANCE_SCHEDULE, START_MAINTENANCE and STOP_MAINTENANCE.
func (s *OperatorServer) maintenanceCall(w http.ResponseWriter, r *http.Request, in Codec, call *mmaster.Call) {
	if s.cfg.Ask == nil {
		http.Error(w, "this master takes no operations", http.StatusNotImplemented)
		return
	}
	t := call.GetType()
	var update *messages.UpdateMaintenanceSchedule
	switch t {
	case mmaster.Call_UPDATE_MAINTENANCE_SCHEDULE:
		sched, err := maintenanceScheduleIn(call.GetUpdateMaintenanceSchedule().GetSchedule())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		update = &messages.UpdateMaintenanceSchedule{Schedule: sched}
	default:
		current, ok := s.maintenanceSchedule(w, r)
		if !ok {
			return
		}
		now := s.cfg.Clock.Now()
		switch t {
		case mmaster.Call_GET_MAINTENANCE_SCHEDULE, mmaster.Call_GET_MAINTENANCE_STATUS:
			res := &mmaster.Response{Type: mmaster.Response_GET_MAINTENANCE_SCHEDULE.Enum(),
				GetMaintenanceSchedule: &mmaster.Response_GetMaintenanceSchedule{Schedule: maintenanceScheduleOut(current)}}
			if t == mmaster.Call_GET_MAINTENANCE_STATUS {
				res = &mmaster.Response{Type: mmaster.Response_GET_MAINTENANCE_STATUS.Enum(),
					GetMaintenanceStatus: &mmaster.Response_GetMaintenanceStatus{Status: maintenanceStatusOut(current, now)}}
			}
			s.respond(w, r, in, res)
			return
		case mmaster.Call_START_MAINTENANCE, mmaster.Call_STOP_MAINTENANCE:
			var next *messages.MaintenanceSchedule
			machines, err := machinesIn(call.GetStartMaintenance().GetMachines())
			if t == mmaster.Call_STOP_MAINTENANCE {
				machines, err = machinesIn(call.GetStopMaintenance().GetMachines())
			}
			if err == nil && t == mmaster.Call_START_MAINTENANCE {
				next, err = startMaintenance(current, machines, now)
			} else if err == nil {
				next, err = stopMaintenance(current, machines, now)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			update = &messages.UpdateMaintenanceSchedule{Schedule: next}
		}
	}
	if s.apply(w, r, t.String(), update) {
		w.WriteHeader(http.StatusOK)
	}
}

// maintenanceSchedule asks the master for its schedule (view_state);
// false: answered here.
func (s *OperatorServer) maintenanceSchedule(w http.ResponseWriter, r *http.Request) (*messages.MaintenanceSchedule, bool) {
	res, err := s.cfg.Ask(r.Context(), &messages.GetMaintenanceSchedule{})
	if err != nil {
		http.Error(w, "the master did not answer: "+err.Error(), http.StatusServiceUnavailable)
		return nil, false
	}
	switch res := res.(type) {
	case *messages.MaintenanceSchedule:
		return res, true
	case *messages.Error:
		http.Error(w, res.GetCode().String()+": "+res.GetMessage(), master.ErrorStatus(res.GetCode()))
	default:
		http.Error(w, fmt.Sprintf("unexpected answer %T from the master", res), http.StatusInternalServerError)
	}
	return nil, false
}

// respond writes a read's Response in the codec Accept asks for.
func (s *OperatorServer) respond(w http.ResponseWriter, r *http.Request, in Codec, res *mmaster.Response) {
	out, ok := accepts(r.Header.Get("Accept"), in)
	if !ok {
		http.Error(w, fmt.Sprintf("Expecting 'Accept' to allow %s or %s", MediaProtobuf, MediaJSON), http.StatusNotAcceptable)
		return
	}
	b, err := out.Marshal(res)
	if err != nil {
		http.Error(w, "encoding the response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", out.MediaType)
	_, _ = w.Write(b)
}

func maintenanceScheduleOut(s *messages.MaintenanceSchedule) *maintenance.Schedule {
	out := &maintenance.Schedule{}
	for _, w := range s.GetWindows() {
		mw := &maintenance.Window{Unavailability: &mesos.Unavailability{Start: &mesos.TimeInfo{Nanoseconds: proto.Int64(w.GetStartUnixNano())},
			Duration: &mesos.DurationInfo{Nanoseconds: proto.Int64(w.GetDurationNanos())}}}
		for _, m := range w.GetMachines() {
			mw.MachineIds = append(mw.MachineIds, &mesos.MachineID{Hostname: proto.String(m)})
		}
		out.Windows = append(out.Windows, mw)
	}
	return out
}

// maintenanceScheduleIn is a Mesos schedule as Agora's; the master
// validates the rest (one window per machine, a start, a bounded
// duration).
func maintenanceScheduleIn(s *maintenance.Schedule) (*messages.MaintenanceSchedule, error) {
	out := &messages.MaintenanceSchedule{}
	for i, w := range s.GetWindows() {
		machines, err := machinesIn(w.GetMachineIds())
		if err != nil {
			return nil, fmt.Errorf("window %d: %w", i+1, err)
		}
		u := w.GetUnavailability()
		if u.GetDuration() == nil {
			return nil, fmt.Errorf("%w: window %d: an unavailability without a duration (Agora's windows end; give one, at most a year)", ErrUnsupported, i+1)
		}
		out.Windows = append(out.Windows, &messages.MaintenanceWindow{Machines: machines, StartUnixNano: u.GetStart().GetNanoseconds(),
			DurationNanos: u.GetDuration().GetNanoseconds()})
	}
	return out, nil
}

func machinesIn(ids []*mesos.MachineID) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id.GetHostname() == "" {
			return nil, fmt.Errorf("%w: a machine named by IP alone (%q): name it by the hostname its agent reports", ErrUnsupported, id.GetIp())
		}
		out = append(out, id.GetHostname())
	}
	return out, nil
}

// maintenanceStatusOut is Mesos' cluster status: machines of a window not
// started yet are DRAINING (their frameworks have inverse offers), those
// of a window under way are DOWN.
func maintenanceStatusOut(s *messages.MaintenanceSchedule, now time.Time) *maintenance.ClusterStatus {
	out := &maintenance.ClusterStatus{}
	for _, w := range s.GetWindows() {
		start := time.Unix(0, w.GetStartUnixNano())
		end := start.Add(time.Duration(w.GetDurationNanos()))
		for _, m := range w.GetMachines() {
			id := &mesos.MachineID{Hostname: proto.String(m)}
			switch {
			case now.Before(start):
				out.DrainingMachines = append(out.DrainingMachines, &maintenance.ClusterStatus_DrainingMachine{Id: id})
			case now.Before(end):
				out.DownMachines = append(out.DownMachines, id)
			}
		}
	}
	return out
}

// startMaintenance is s with machines moved into windows that start now,
// each ending when its old window would. Every machine must be scheduled
// and its window not over (Mesos: only DRAINING machines go DOWN). Windows
// over are left out: they no longer act.
func startMaintenance(s *messages.MaintenanceSchedule, machines []string, now time.Time) (*messages.MaintenanceSchedule, error) {
	out, moved, err := takeMachines(s, machines, now)
	if err != nil {
		return nil, err
	}
	// One window per end, in the order the machines were named.
	byEnd := map[int64]*messages.MaintenanceWindow{}
	for _, m := range machines {
		end := moved[m]
		w := byEnd[end]
		if w == nil {
			w = &messages.MaintenanceWindow{StartUnixNano: now.UnixNano(), DurationNanos: end - now.UnixNano()}
			byEnd[end] = w
			out.Windows = append(out.Windows, w)
		}
		if !slices.Contains(w.Machines, m) {
			w.Machines = append(w.Machines, m)
		}
	}
	return out, nil
}

// stopMaintenance is s without machines: the master reactivates them.
func stopMaintenance(s *messages.MaintenanceSchedule, machines []string, now time.Time) (*messages.MaintenanceSchedule, error) {
	out, _, err := takeMachines(s, machines, now)
	return out, err
}

// takeMachines is s without machines and without windows over, and the
// end (Unix nanoseconds) of each machine's window; an error names a
// machine not scheduled.
func takeMachines(s *messages.MaintenanceSchedule, machines []string, now time.Time) (*messages.MaintenanceSchedule, map[string]int64, error) {
	if len(machines) == 0 {
		return nil, nil, fmt.Errorf("%w: no machines named", ErrInvalid)
	}
	ends := map[string]int64{}
	out := &messages.MaintenanceSchedule{}
	for _, w := range s.GetWindows() {
		end := w.GetStartUnixNano() + w.GetDurationNanos()
		if end <= now.UnixNano() {
			continue
		}
		kept := &messages.MaintenanceWindow{StartUnixNano: w.GetStartUnixNano(), DurationNanos: w.GetDurationNanos()}
		for _, m := range w.GetMachines() {
			if slices.Contains(machines, m) {
				ends[m] = end
			} else {
				kept.Machines = append(kept.Machines, m)
			}
		}
		if len(kept.Machines) > 0 {
			out.Windows = append(out.Windows, kept)
		}
	}
	for _, m := range machines {
		if _, ok := ends[m]; !ok {
			return nil, nil, fmt.Errorf("%w: machine %q is in no maintenance window under way or to come: schedule it first (UPDATE_MAINTENANCE_SCHEDULE)", ErrInvalid, m)
		}
	}
	return out, ends, nil
}

package core

import (
	"fmt"
	"strings"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// format prints a Ready one effect per line, as a protocol trace:
//
//	a1 <- AgentRegistered m-1-A1 interval=5s
//	allocator <- AddAgent m-1-A1 cpus:4;mem:8192 incarnation=1
//	timer +30s offer-timeout m-1-F1 [m-1-O1]
//	event TaskUpdated m-1-F1/t1 TASK_RUNNING
//
// (protobuf's own text format is unstable on purpose, so every message
// has its own line here).
func (e *traceEnv) format(r Ready) string {
	var out strings.Builder
	for _, o := range e.observed {
		fmt.Fprintln(&out, o)
	}
	e.observed = e.observed[:0]
	for _, eff := range r.Effects {
		switch eff := eff.(type) {
		case Send:
			name, ok := e.names[eff.To]
			if !ok {
				name = eff.To.String()
			}
			fmt.Fprintf(&out, "%s <- %s\n", name, msgLine(eff.Msg))
		case ToAllocator:
			fmt.Fprintf(&out, "allocator <- %s\n", msgLine(eff.Msg))
		case Arm:
			e.timers = append(e.timers, armed{at: e.now.Add(eff.After), timer: eff.Timer, seq: len(e.timers) + int(e.now.UnixNano())})
			fmt.Fprintf(&out, "timer +%s %s\n", eff.After, timerName(eff.Timer))
		case WatchAgent:
			fmt.Fprintf(&out, "watch agent %s at %s every %s\n", eff.AgentID, e.names[eff.Agent], eff.Interval)
		case ForgetAgent:
			fmt.Fprintf(&out, "forget agent %s\n", eff.AgentID)
		case WatchScheduler:
			fmt.Fprintf(&out, "watch scheduler %s of %s\n", e.names[eff.Scheduler], eff.FrameworkID)
		case ForgetScheduler:
			fmt.Fprintf(&out, "forget scheduler of %s\n", eff.FrameworkID)
		case PersistRoles:
			fmt.Fprintf(&out, "persist roles token=%d %s\n", eff.Token, roleConfigLine(eff.Config))
		case Publish:
			if _, ok := eff.Event.(TaskAdded); ok {
				// Every launch has one; the sends show the launch.
				continue
			}
			fmt.Fprintf(&out, "event %s\n", eventLine(eff.Event))
		case PersistMaintenance:
			fmt.Fprintf(&out, "persist maintenance token=%d %s\n", eff.Token, scheduleLine(eff.Schedule))
		default:
			fmt.Fprintf(&out, "?? %T\n", eff)
		}
	}
	if out.Len() == 0 {
		return "ok\n"
	}
	return out.String()
}

func timerName(t Timer) string {
	switch t := t.(type) {
	case offerTimeout:
		return fmt.Sprintf("offer-timeout %s", t.frameworkID)
	case failoverTimeout:
		return fmt.Sprintf("failover-timeout %s gen=%d", t.frameworkID, t.gen)
	case reclaimTick:
		return "reclaim-check"
	case recoveryEnded:
		return "reregistration-window-ended"
	case agentRemoval:
		return fmt.Sprintf("agent-removal %s", t.agentID)
	case drainDeadline:
		return fmt.Sprintf("drain-deadline %s gen=%d", t.agentID, t.gen)
	case maintenanceStart:
		return fmt.Sprintf("maintenance-start window=%d gen=%d", t.window+1, t.gen)
	case maintenanceEnd:
		return fmt.Sprintf("maintenance-end window=%d gen=%d", t.window+1, t.gen)
	}
	return fmt.Sprintf("%T", t)
}

// scheduleLine is a maintenance schedule in trace time.
func scheduleLine(s *messages.MaintenanceSchedule) string {
	var ws []string
	for _, w := range s.GetWindows() {
		ws = append(ws, fmt.Sprintf("%v@%s+%s", w.Machines, sinceT0(w.StartUnixNano), time.Duration(w.DurationNanos)))
	}
	return "[" + strings.Join(ws, " ") + "]"
}

// sinceT0 shows a wall-clock time in the trace's own time.
func sinceT0(unixNano int64) time.Duration { return time.Unix(0, unixNano).Sub(traceT0) }

func eventLine(ev any) string {
	switch ev := ev.(type) {
	case AgentDrainChanged:
		if !ev.Draining {
			return "AgentDrainChanged " + ev.AgentID + " active"
		}
		return fmt.Sprintf("AgentDrainChanged %s draining deadline=@%s", ev.AgentID, ev.Deadline.Sub(traceT0))
	case TaskUpdated:
		return fmt.Sprintf("TaskUpdated %s/%s %s", ev.FrameworkID, ev.TaskID, ev.State)
	case AgentAdmitted:
		return fmt.Sprintf("AgentAdmitted {AgentID:%s Hostname:%s Reregistered:%t}", ev.AgentID, ev.Hostname, ev.Reregistered)
	case FrameworkSubscribed:
		return fmt.Sprintf("FrameworkSubscribed {FrameworkID:%s Resubscribed:%t}", ev.FrameworkID, ev.Resubscribed)
	case ReclaimChecked:
		return fmt.Sprintf("ReclaimChecked starved=%v rescinded=%d preempted=%v", ev.Starved, ev.Rescinded, ev.Preempted)
	}
	s := fmt.Sprintf("%T %+v", ev, ev)
	return strings.TrimPrefix(s, "core.")
}

// volumeFlags is how a volume is marked: :ro (a task mounts it
// read-only), :shared.
func volumeFlags(r *messages.Resource) string {
	s := ""
	if r.GetDisk().GetReadOnly() {
		s += ":ro"
	}
	if r.Shared {
		s += ":shared"
	}
	return s
}

func resText(rs []*messages.Resource) string {
	if len(rs) == 0 {
		return "-"
	}
	s := messages.FormatResources(rs)
	for _, r := range rs {
		if messages.IsVolume(r) {
			s += fmt.Sprintf(" volume=%s:%s:%s:%g%s", r.Role, r.Disk.PersistenceId, r.Disk.ContainerPath, r.Scalar, volumeFlags(r))
		}
	}
	return s
}

func quantities(q *messages.Quantities) string {
	r, err := policy.FromQuantities(q)
	if err != nil {
		return "invalid(" + err.Error() + ")"
	}
	if r.IsEmpty() {
		return "-"
	}
	return r.String()
}

func status(st *messages.TaskStatus) string {
	s := fmt.Sprintf("%s %s", st.GetTaskId().GetValue(), strings.TrimPrefix(st.State.String(), "TASK_"))
	if st.Reason != messages.TaskStatusReason_REASON_UNSPECIFIED {
		s += " " + strings.TrimPrefix(st.Reason.String(), "REASON_")
	}
	if len(st.Uuid) > 0 {
		s += " uuid=" + string(st.Uuid)
	}
	if st.Message != "" {
		s += fmt.Sprintf(" %q", st.Message)
	}
	return s
}

func roleConfigLine(c *messages.RoleConfig) string {
	var parts []string
	for _, r := range c.GetRoles() {
		parts = append(parts, fmt.Sprintf("%s(weight=%v guarantee=%s)", r.Role, r.Weight, resText(r.GetQuota().GetGuarantee())))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func msgLine(m proto.Message) string {
	switch m := m.(type) {
	case *messages.AgentRegistered:
		return fmt.Sprintf("AgentRegistered %s interval=%s reregistered=%v", m.AgentId.GetValue(), time.Duration(m.HeartbeatIntervalNanos), m.Reregistered)
	case *messages.AgentHeartbeatAck:
		return fmt.Sprintf("AgentHeartbeatAck %s seq=%d", m.AgentId.GetValue(), m.Seq)
	case *messages.Error:
		return fmt.Sprintf("Error %s %q", m.Code, m.Message)
	case *messages.FrameworkSubscribed:
		return fmt.Sprintf("FrameworkSubscribed %s", m.FrameworkId.GetValue())
	case *messages.FrameworkFailedOver:
		return fmt.Sprintf("FrameworkFailedOver %s", m.FrameworkId.GetValue())
	case *messages.Offers:
		var parts []string
		for _, o := range m.Offers {
			parts = append(parts, fmt.Sprintf("%s on %s role=%s %s", o.Id.Value, o.AgentId.GetValue(), o.Role, resText(o.Resources)))
		}
		return "Offers [" + strings.Join(parts, ", ") + "]"
	case *messages.RescindOffer:
		return fmt.Sprintf("RescindOffer %s %q", m.OfferId.GetValue(), m.Reason)
	case *messages.StatusUpdate:
		return "StatusUpdate " + status(m.Status)
	case *messages.StatusUpdateAcknowledgement:
		return fmt.Sprintf("StatusUpdateAcknowledgement %s/%s uuid=%s", m.FrameworkId.GetValue(), m.TaskId.GetValue(), m.Uuid)
	case *messages.RunTask:
		s := fmt.Sprintf("RunTask %s/%s role=%s %s", m.Framework.GetId().GetValue(), m.Task.TaskId.GetValue(), m.Role, resText(m.Task.Resources))
		if m.Revocable {
			s += " revocable"
		}
		return s
	case *messages.RunTaskGroup:
		var parts []string
		for _, rt := range m.Tasks {
			parts = append(parts, fmt.Sprintf("%s/%s role=%s %s group=%d", rt.Framework.GetId().GetValue(), rt.Task.TaskId.GetValue(), rt.Role, resText(rt.Task.Resources), len(rt.Group.GetTaskIds())))
		}
		kind := "default"
		if m.Executor.GetCommand().GetValue() != "" {
			kind = "custom"
		}
		return fmt.Sprintf("RunTaskGroup executor=%s (%s) [%s]", m.Executor.GetExecutorId().GetValue(), kind, strings.Join(parts, ", "))
	case *messages.KillTask:
		s := fmt.Sprintf("KillTask %s/%s %s", m.FrameworkId.GetValue(), m.TaskId.GetValue(), strings.TrimPrefix(m.Reason.String(), "REASON_"))
		if g := m.GetKillPolicy().GetGracePeriodNanos(); g > 0 {
			s += fmt.Sprintf(" grace=%s", time.Duration(g))
		}
		return s
	case *messages.RoleConfig:
		return "RoleConfig " + roleConfigLine(m)
	case *messages.OperatorAccepted:
		return fmt.Sprintf("OperatorAccepted %q", m.Message)
	case *messages.AllocatorAddAgent:
		var used []string
		for _, u := range m.Allocated {
			reserved := ""
			if u.Reservation != "" {
				reserved = "(reserved " + u.Reservation + ")"
			}
			used = append(used, fmt.Sprintf("%s/%s:%s%s", u.FrameworkId, u.Role, quantities(u.Resources), reserved))
		}
		return fmt.Sprintf("AddAgent %s %s incarnation=%d used=%v", m.Info.GetId().GetValue(), resText(m.Info.GetResources()), m.Incarnation, used)
	case *messages.AllocatorRemoveAgent:
		return "RemoveAgent " + m.AgentId
	case *messages.AllocatorAddFramework:
		return fmt.Sprintf("AddFramework %s roles=%v", m.Info.GetId().GetValue(), m.Info.GetRoles())
	case *messages.AllocatorRemoveFramework:
		return "RemoveFramework " + m.FrameworkId
	case *messages.AllocatorActivateFramework:
		return "ActivateFramework " + m.FrameworkId
	case *messages.AllocatorDeactivateFramework:
		return "DeactivateFramework " + m.FrameworkId
	case *messages.AllocatorSuppress:
		return fmt.Sprintf("Suppress %s roles=%v", m.FrameworkId, m.Roles)
	case *messages.AllocatorRevive:
		s := fmt.Sprintf("Revive %s roles=%v", m.FrameworkId, m.Roles)
		if m.Demand != nil {
			s += " demand=" + quantities(m.Demand)
		}
		return s
	case *messages.AllocatorSetRole:
		return "SetRole " + roleConfigLine(&messages.RoleConfig{Roles: []*messages.RoleSettings{m.Settings}})
	case *messages.AllocatorReturn:
		s := fmt.Sprintf("Return %s %s/%s on %s %s", m.Kind, m.FrameworkId, m.Role, m.AgentId, quantities(m.Resources))
		if rv := quantities(m.Revocable); rv != "-" {
			s += " revocable " + rv
		}
		if m.Reservation != "" {
			s += " reserved=" + m.Reservation
		}
		if m.Kind != messages.AllocatorReturn_RECOVER {
			if m.RefuseNanos < 0 {
				s += " refuse=default"
			} else {
				s += fmt.Sprintf(" refuse=%s", time.Duration(m.RefuseNanos))
			}
		}
		return s
	case *messages.AllocatorCheckShortfalls:
		return "CheckShortfalls"
	case *messages.AllocatorDeactivateAgent:
		return "DeactivateAgent " + m.AgentId
	case *messages.AllocatorActivateAgent:
		return "ActivateAgent " + m.AgentId
	case *messages.AgentDrain:
		if !m.Draining {
			return fmt.Sprintf("AgentDrain draining=false epoch=%d", m.MasterEpoch)
		}
		return fmt.Sprintf("AgentDrain draining=true deadline=@%s epoch=%d", sinceT0(m.DeadlineUnixNano), m.MasterEpoch)
	case *messages.AllocatorUpdateReservation:
		verb := "Reserve"
		if m.Unreserve {
			verb = "Unreserve"
		}
		by := "free"
		if m.FrameworkId != "" {
			by = m.FrameworkId + "/" + m.FrameworkRole
		}
		return fmt.Sprintf("%s %s for %s on %s by %s", verb, quantities(m.Resources), m.Role, m.AgentId, by)
	case *messages.AllocatorTransfer:
		s := fmt.Sprintf("Transfer %s on %s from %s/%s to %s/%s", quantities(m.Resources), m.AgentId, m.FromFrameworkId, m.FromRole, m.ToFrameworkId, m.ToRole)
		if m.Reservation != "" {
			s += " reserved=" + m.Reservation
		}
		return s
	case *messages.CheckpointResources:
		var parts []string
		for _, r := range m.Resources {
			vol := ""
			if messages.IsVolume(r) {
				vol = ",volume=" + r.Disk.PersistenceId + "@" + r.Disk.ContainerPath + volumeFlags(r)
			}
			if r.Reservation == nil { // a volume on a static reservation
				parts = append(parts, fmt.Sprintf("%s(%s,static%s):%g", r.Name, r.Role, vol, r.Scalar))
				continue
			}
			parts = append(parts, fmt.Sprintf("%s(%s,%s,%s%s):%g", r.Name, r.Role, r.GetReservation().GetType(), r.GetReservation().GetPrincipal(), vol, r.Scalar))
		}
		return fmt.Sprintf("CheckpointResources %s [%s] epoch=%d", m.AgentId.GetValue(), strings.Join(parts, " "), m.MasterEpoch)
	case *messages.AgentDraining:
		return fmt.Sprintf("AgentDraining %s deadline=@%s", m.AgentId.GetValue(), sinceT0(m.DeadlineUnixNano))
	case *messages.AgentDrainEnded:
		return "AgentDrainEnded " + m.AgentId.GetValue()
	case *messages.DemandUnfit:
		return demandUnfit(m)
	case *messages.ExecutorExited:
		text := fmt.Sprintf("ExecutorExited %s/%s on %s status=%d", m.FrameworkId.GetValue(), m.ExecutorId.GetValue(), m.AgentId.GetValue(), m.Status)
		if m.Signal != 0 {
			text += fmt.Sprintf(" signal=%d", m.Signal)
		}
		if m.Message != "" {
			text += fmt.Sprintf(" %q", m.Message)
		}
		return text
	case *messages.AgentLost:
		return "AgentLost " + m.AgentId.GetValue()
	case *messages.KillExecutor:
		return fmt.Sprintf("KillExecutor %s/%s on %s", m.FrameworkId.GetValue(), m.ExecutorId.GetValue(), m.AgentId.GetValue())
	}
	name := string(m.ProtoReflect().Descriptor().Name())
	return name + " (no trace format)"
}

// demandUnfit prints a DemandUnfit: the units that fit no agent, the most
// of each resource an agent has, and how many agents there are.
func demandUnfit(m *messages.DemandUnfit) string {
	var units []string
	for _, u := range m.Unfit {
		r, _, _ := policy.FromMessages(u.Resources)
		units = append(units, r.String())
	}
	largest, _, _ := policy.FromMessages(m.Largest)
	return fmt.Sprintf("DemandUnfit [%s] largest=%s agents=%d", strings.Join(units, " "), largest, m.Agents)
}

package mesosapi

import (
	"fmt"
	"time"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// callIn is a scheduler call (other than SUBSCRIBE) as the Agora message
// the master takes for it; nil for a call Mesos accepts and ignores
// (REQUEST).
func callIn(c *sched.Call) (proto.Message, error) {
	fid := &messages.FrameworkID{Value: c.GetFrameworkId().GetValue()}
	switch c.GetType() {
	case sched.Call_TEARDOWN:
		return &messages.Teardown{FrameworkId: fid}, nil
	case sched.Call_ACCEPT:
		a := c.GetAccept()
		if a == nil {
			return nil, fmt.Errorf("%w: ACCEPT without accept", ErrInvalid)
		}
		out := &messages.Accept{FrameworkId: fid, OfferIds: offerIDsIn(a.OfferIds), Filters: filtersIn(a.Filters)}
		for _, op := range a.Operations {
			if op.Id != nil {
				return nil, fmt.Errorf("%w: operation IDs (operation status feedback)", ErrUnsupported)
			}
			switch op.GetType() {
			case mesos.Offer_Operation_LAUNCH:
			case mesos.Offer_Operation_RESERVE, mesos.Offer_Operation_UNRESERVE:
				rs := op.GetReserve().GetResources()
				if op.GetType() == mesos.Offer_Operation_UNRESERVE {
					rs = op.GetUnreserve().GetResources()
				}
				in, err := resourcesIn(rs)
				if err != nil {
					return nil, err
				}
				if op.GetType() == mesos.Offer_Operation_RESERVE {
					out.Operations = append(out.Operations, &messages.Operation{Op: &messages.Operation_Reserve{Reserve: &messages.ReserveResources{Resources: in}}})
				} else {
					out.Operations = append(out.Operations, &messages.Operation{Op: &messages.Operation_Unreserve{Unreserve: &messages.UnreserveResources{Resources: in}}})
				}
				continue
			case mesos.Offer_Operation_CREATE, mesos.Offer_Operation_DESTROY:
				rs := op.GetCreate().GetVolumes()
				if op.GetType() == mesos.Offer_Operation_DESTROY {
					rs = op.GetDestroy().GetVolumes()
				}
				in, err := resourcesIn(rs)
				if err != nil {
					return nil, err
				}
				if op.GetType() == mesos.Offer_Operation_CREATE {
					out.Operations = append(out.Operations, &messages.Operation{Op: &messages.Operation_Create{Create: &messages.CreateVolumes{Volumes: in}}})
				} else {
					out.Operations = append(out.Operations, &messages.Operation{Op: &messages.Operation_Destroy{Destroy: &messages.DestroyVolumes{Volumes: in}}})
				}
				continue
			case mesos.Offer_Operation_LAUNCH_GROUP:
				g, err := groupIn(op.GetLaunchGroup())
				if err != nil {
					return nil, err
				}
				out.Operations = append(out.Operations, &messages.Operation{Op: &messages.Operation_LaunchGroup{LaunchGroup: g}})
				continue
			default:
				return nil, fmt.Errorf("%w: ACCEPT with a %s operation (Agora has LAUNCH, LAUNCH_GROUP, RESERVE, UNRESERVE, CREATE and DESTROY)", ErrUnsupported, op.GetType())
			}
			l := &messages.Operation_Launch{}
			for _, t := range op.GetLaunch().GetTaskInfos() {
				ti, err := taskIn(t)
				if err != nil {
					return nil, err
				}
				l.Tasks = append(l.Tasks, ti)
			}
			out.Operations = append(out.Operations, &messages.Operation{Op: &messages.Operation_Launch_{Launch: l}})
		}
		return out, nil
	case sched.Call_DECLINE:
		d := c.GetDecline()
		if d == nil {
			return nil, fmt.Errorf("%w: DECLINE without decline", ErrInvalid)
		}
		return &messages.Decline{FrameworkId: fid, OfferIds: offerIDsIn(d.OfferIds), Filters: filtersIn(d.Filters)}, nil
	case sched.Call_REVIVE:
		return &messages.Revive{FrameworkId: fid, Roles: c.GetRevive().GetRoles()}, nil
	case sched.Call_SUPPRESS:
		return &messages.Suppress{FrameworkId: fid, Roles: c.GetSuppress().GetRoles()}, nil
	case sched.Call_KILL:
		k := c.GetKill()
		if k.GetTaskId().GetValue() == "" {
			return nil, fmt.Errorf("%w: KILL without a task_id", ErrInvalid)
		}
		out := &messages.KillTask{FrameworkId: fid, TaskId: &messages.TaskID{Value: k.GetTaskId().GetValue()}}
		if a := k.GetAgentId().GetValue(); a != "" {
			out.AgentId = &messages.AgentID{Value: a}
		}
		if g := k.GetKillPolicy().GetGracePeriod(); g != nil {
			out.KillPolicy = &messages.KillPolicy{GracePeriodNanos: g.GetNanoseconds()}
		}
		return out, nil
	case sched.Call_ACKNOWLEDGE:
		a := c.GetAcknowledge()
		if a.GetTaskId().GetValue() == "" || len(a.GetUuid()) == 0 {
			return nil, fmt.Errorf("%w: ACKNOWLEDGE needs a task_id and a uuid", ErrInvalid)
		}
		return &messages.Acknowledge{FrameworkId: fid, AgentId: &messages.AgentID{Value: a.GetAgentId().GetValue()},
			TaskId: &messages.TaskID{Value: a.GetTaskId().GetValue()}, Uuid: a.Uuid}, nil
	case sched.Call_RECONCILE:
		out := &messages.Reconcile{FrameworkId: fid}
		for _, t := range c.GetReconcile().GetTasks() {
			rt := &messages.Reconcile_Task{TaskId: &messages.TaskID{Value: t.GetTaskId().GetValue()}}
			if a := t.GetAgentId().GetValue(); a != "" {
				rt.AgentId = &messages.AgentID{Value: a}
			}
			out.Tasks = append(out.Tasks, rt)
		}
		return out, nil
	case sched.Call_MESSAGE:
		m := c.GetMessage()
		if m.GetAgentId().GetValue() == "" || m.GetExecutorId().GetValue() == "" {
			return nil, fmt.Errorf("%w: MESSAGE needs an agent_id and an executor_id", ErrInvalid)
		}
		return &messages.FrameworkToExecutor{FrameworkId: fid, AgentId: &messages.AgentID{Value: m.GetAgentId().GetValue()},
			ExecutorId: &messages.ExecutorID{Value: m.GetExecutorId().GetValue()}, Data: m.Data}, nil
	case sched.Call_REQUEST:
		return nil, nil // Mesos' allocator ignores requests too
	case sched.Call_ACCEPT_INVERSE_OFFERS, sched.Call_DECLINE_INVERSE_OFFERS:
		// An inverse offer tells of a drain the operator decided: the
		// agent drains at its deadline whatever the framework answers
		// (Mesos' allocator, too, only records the answer).
		return nil, nil
	case sched.Call_SUBSCRIBE:
		return nil, fmt.Errorf("%w: SUBSCRIBE on an existing stream", ErrInvalid)
	case sched.Call_SHUTDOWN:
		m := c.GetShutdown()
		if m.GetAgentId().GetValue() == "" || m.GetExecutorId().GetValue() == "" {
			return nil, fmt.Errorf("%w: SHUTDOWN needs an agent_id and an executor_id", ErrInvalid)
		}
		return &messages.KillExecutor{FrameworkId: fid, AgentId: &messages.AgentID{Value: m.GetAgentId().GetValue()},
			ExecutorId: &messages.ExecutorID{Value: m.GetExecutorId().GetValue()}}, nil
	case sched.Call_UPDATE_FRAMEWORK:
		return nil, fmt.Errorf("%w: UPDATE_FRAMEWORK goes through the framework's bridge", ErrInvalid)
	case sched.Call_ACKNOWLEDGE_OPERATION_STATUS, sched.Call_RECONCILE_OPERATIONS:
		return nil, fmt.Errorf("%w: the %s call", ErrUnsupported, c.GetType())
	}
	return nil, fmt.Errorf("%w: call type %s", ErrInvalid, c.GetType())
}

func offerIDsIn(ids []*mesos.OfferID) []*messages.OfferID {
	out := make([]*messages.OfferID, len(ids))
	for i, id := range ids {
		out[i] = &messages.OfferID{Value: id.GetValue()}
	}
	return out
}

func filtersIn(f *mesos.Filters) *messages.Filters {
	if f == nil || f.RefuseSeconds == nil {
		return nil
	}
	return &messages.Filters{RefuseSeconds: proto.Float64(f.GetRefuseSeconds())}
}

// inverseOfferOut is Mesos' INVERSE_OFFERS event for an agent being
// drained: the framework's tasks there end at the drain's deadline (the
// unavailability's start; now for a drain without one). Its ID names the
// agent and the deadline, so a framework sees one inverse offer per drain.
func inverseOfferOut(m *messages.AgentDraining, frameworkID string, now time.Time) *sched.Event {
	start := m.GetDeadlineUnixNano()
	if start == 0 {
		start = now.UnixNano()
	}
	agent := m.GetAgentId().GetValue()
	return &sched.Event{Type: sched.Event_INVERSE_OFFERS.Enum(), InverseOffers: &sched.Event_InverseOffers{InverseOffers: []*mesos.InverseOffer{{
		Id:             &mesos.OfferID{Value: proto.String(fmt.Sprintf("%s-drain-%d", agent, m.GetDeadlineUnixNano()))},
		FrameworkId:    &mesos.FrameworkID{Value: proto.String(frameworkID)},
		AgentId:        &mesos.AgentID{Value: proto.String(agent)},
		Unavailability: &mesos.Unavailability{Start: &mesos.TimeInfo{Nanoseconds: proto.Int64(start)}},
	}}}}
}

// executorFailureOut is Mesos' FAILURE event for an executor's exit
// (evolve(ExitedExecutorMessage)): its agent, its ID and how it ended.
func executorFailureOut(m *messages.ExecutorExited) *sched.Event {
	return &sched.Event{Type: sched.Event_FAILURE.Enum(), Failure: &sched.Event_Failure{
		AgentId:    &mesos.AgentID{Value: proto.String(m.GetAgentId().GetValue())},
		ExecutorId: &mesos.ExecutorID{Value: proto.String(m.GetExecutorId().GetValue())},
		Status:     proto.Int32(waitStatus(m.GetStatus(), m.GetSignal())),
	}}
}

// agentFailureOut is Mesos' FAILURE event for a lost agent
// (evolve(LostSlaveMessage)): the agent alone.
func agentFailureOut(m *messages.AgentLost) *sched.Event {
	return &sched.Event{Type: sched.Event_FAILURE.Enum(), Failure: &sched.Event_Failure{
		AgentId: &mesos.AgentID{Value: proto.String(m.GetAgentId().GetValue())},
	}}
}

// waitStatus is an executor's end as Mesos reports it in FAILURE.status:
// the stat_loc of waitpid, which schedulers read with WEXITSTATUS and
// WTERMSIG (code c is c<<8, signal N is N), not Agora's exit code (c, or
// 128+N with the signal apart); -1, unknown, stays -1, as Mesos sends it.
func waitStatus(code, signal int32) int32 {
	switch {
	case signal > 0:
		return signal & 0x7f
	case code >= 0:
		return (code & 0xff) << 8
	}
	return -1
}

package master

import (
	"bytes"
	"strings"

	"github.com/agora-sched/agora/actors/allocation"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// handleStatusUpdate takes a task status from an agent, frees the task's
// resources when it is terminal, and forwards it to the scheduler. The
// agent retries until the scheduler acknowledges, so nothing is lost while
// the scheduler is away.
func (m *master) handleStatusUpdate(ctx actor.Context, msg *messages.StatusUpdate) {
	st := msg.GetStatus()
	fwID := msg.GetFrameworkId().GetValue()
	f, err := m.books.framework(fwID)
	if err != nil {
		m.log.Info("status update for a framework that is gone; acknowledging for it", "framework_id", fwID, "task_id", st.GetTaskId().GetValue())
		m.ackForFramework(ctx, ctx.Sender(), msg)
		return
	}
	t, terminalNow, err := m.books.updateTask(fwID, st)
	if err != nil {
		if messages.IsTerminal(st.GetState()) && !f.tearingDown {
			// A task that ended while no master knew it (during a
			// failover): its framework must still hear of it. Forwarded
			// while connected; the agent retries until then.
			if f.connected {
				m.toFramework(ctx, fwID, fwSend{msg: &messages.StatusUpdate{FrameworkId: msg.FrameworkId, Status: st, MasterEpoch: m.cfg.Info.Epoch}})
			}
			return
		}
		m.log.Info("status update for an unknown task; acknowledging it", "framework_id", fwID, "task_id", st.GetTaskId().GetValue())
		m.ackForFramework(ctx, ctx.Sender(), msg)
		return
	}
	if terminalNow {
		ctx.Send(m.cfg.Allocator, allocation.Return{FrameworkID: fwID, Role: t.task.Role, AgentID: t.agentID(), Resources: t.res, Revocable: t.rev})
		delete(m.preempting, taskKey{fwID, t.id()})
	}
	m.cfg.Metrics.statusUpdates.WithLabelValues(st.State.String()).Inc()
	ctx.ActorSystem().EventStream.Publish(TaskUpdated{FrameworkID: fwID, TaskID: t.id(), State: st.State})
	m.changed()
	if f.tearingDown {
		m.ackForFramework(ctx, ctx.Sender(), msg)
		if messages.IsTerminal(t.task.State) {
			m.maybeRemove(ctx, f)
		}
		return
	}
	m.toFramework(ctx, fwID, fwSend{msg: &messages.StatusUpdate{FrameworkId: msg.FrameworkId, Status: st, MasterEpoch: m.cfg.Info.Epoch}})
}

func (m *master) ackForFramework(ctx actor.Context, agent *actor.PID, msg *messages.StatusUpdate) {
	if agent == nil || len(msg.GetStatus().GetUuid()) == 0 {
		return
	}
	ctx.Send(agent, &messages.StatusUpdateAcknowledgement{
		FrameworkId: msg.FrameworkId, AgentId: msg.Status.AgentId, TaskId: msg.Status.TaskId, Uuid: msg.Status.Uuid, MasterEpoch: m.cfg.Info.Epoch,
	})
}

// handleAcknowledge forwards a scheduler's acknowledgement to the agent;
// a task whose terminal update is acknowledged is forgotten.
func (m *master) handleAcknowledge(ctx actor.Context, msg *messages.Acknowledge) {
	f, ok := m.caller(ctx, msg.FrameworkId, msg)
	if !ok {
		return
	}
	if t, ok := f.tasks[msg.GetTaskId().GetValue()]; ok && messages.IsTerminal(t.task.State) && bytes.Equal(t.task.LatestStatus.GetUuid(), msg.Uuid) {
		m.books.forgetTask(t)
	}
	a, ok := m.books.agents[msg.GetAgentId().GetValue()]
	if !ok {
		m.reject(ctx, ctx.Sender(), messages.Error_INVALID_ARGUMENT, "acknowledgement names unknown agent "+msg.GetAgentId().GetValue(), msg)
		return
	}
	ctx.Send(actor.NewPID(a.address, a.actorID), &messages.StatusUpdateAcknowledgement{
		FrameworkId: msg.FrameworkId, AgentId: msg.AgentId, TaskId: msg.TaskId, Uuid: msg.Uuid, MasterEpoch: m.cfg.Info.Epoch,
	})
}

// agentGone handles an agent that stopped being usable: its offers are
// rescinded and the allocator forgets it. Its live tasks become
// UNREACHABLE (lost is true: LOST, for an agent that left for good).
func (m *master) agentGone(ctx actor.Context, a *agentRecord, lost bool, reason messages.TaskStatusReason, why string) {
	for _, o := range ordered(a.offers, strings.Compare) {
		m.books.removeOffer(o)
		if h, ok := m.fwHandlers[o.frameworkID]; ok {
			ctx.Send(h, fwRescind{offerID: o.id, tell: true, reason: why})
		}
	}
	ctx.Send(m.cfg.Allocator, allocation.RemoveAgent{AgentID: a.info.Id.Value})
	state := messages.TaskState_TASK_UNREACHABLE
	if lost {
		state = messages.TaskState_TASK_LOST
	}
	for _, t := range ordered(a.tasks, taskKey.compare) {
		if messages.IsTerminal(t.task.State) {
			continue
		}
		m.markTask(ctx, t, state, reason, why)
	}
}

// markTask sets a task's state from the master's own knowledge and tells
// the framework (no acknowledgement needed). A terminal task is forgotten.
func (m *master) markTask(ctx actor.Context, t *taskRecord, state messages.TaskState, reason messages.TaskStatusReason, why string) {
	st := m.taskStatus(t.task.TaskId, t.task.AgentId, state, reason, why)
	_, terminalNow, _ := m.books.updateTask(t.frameworkID(), st)
	f, err := m.books.framework(t.frameworkID())
	if err != nil {
		return
	}
	m.sendStatus(ctx, f, st)
	ctx.ActorSystem().EventStream.Publish(TaskUpdated{FrameworkID: f.id(), TaskID: t.id(), State: state})
	if terminalNow {
		delete(m.preempting, taskKey{f.id(), t.id()})
		m.books.forgetTask(t)
		m.maybeRemove(ctx, f)
	}
}

// adopt records what an agent reports that the books do not know: after a
// failover the new leader learns the cluster's tasks from re-registrations.
// An unknown framework is recorded disconnected, from the FrameworkInfo the
// agent keeps: its scheduler has its failover timeout to subscribe again.
func (m *master) adopt(ctx actor.Context, a *agentRecord, tasks []*messages.Task, frameworks []*messages.FrameworkInfo) {
	infos := map[string]*messages.FrameworkInfo{}
	for _, fi := range frameworks {
		infos[fi.GetId().GetValue()] = fi
	}
	for _, t := range tasks {
		fwID := t.GetFrameworkId().GetValue()
		if messages.IsTerminal(t.State) || a.tasks[taskKey{fwID, t.GetTaskId().GetValue()}] != nil {
			continue
		}
		f, ok := m.books.frameworks[fwID]
		if !ok {
			if m.books.removedFrameworks[fwID] {
				continue // the agent hears of the removal and kills it
			}
			info := infos[fwID]
			if info == nil || validateFrameworkInfo(info) != nil || info.GetId().GetValue() != fwID {
				m.log.Warn("agent reports a task of a framework it has no valid FrameworkInfo for; ignoring the task",
					"agent_id", a.info.Id.Value, "framework_id", fwID, "task_id", t.GetTaskId().GetValue())
				continue
			}
			var gen uint64
			f, gen = m.books.adoptFramework(info)
			ctx.Send(m.cfg.Allocator, allocation.AddFramework{Framework: PolicyFramework(f.info)})
			ctx.Send(m.cfg.Allocator, allocation.DeactivateFramework{FrameworkID: fwID})
			timeout := failoverTimeout(f.info)
			m.later(timeout, failoverExpired{frameworkID: fwID, gen: gen})
			m.log.Info("framework recovered from an agent's re-registration; waiting for its scheduler", "framework_id", fwID, "failover_timeout", timeout)
		}
		if !hasRole(f.info, t.Role) {
			m.log.Warn("agent reports a task under a role its framework is not subscribed to; ignoring the task",
				"framework_id", fwID, "task_id", t.GetTaskId().GetValue(), "role", t.Role)
			continue
		}
		res, rev, err := policy.FromMessages(t.Resources)
		if err != nil {
			m.log.Warn("agent reports a task with invalid resources; ignoring the task", "task_id", t.GetTaskId().GetValue(), "err", err)
			continue
		}
		m.books.adoptTask(f, a, t, res, rev, m.now())
	}
}

func hasRole(info *messages.FrameworkInfo, role string) bool {
	for _, r := range info.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// readmitAgent settles an agent's tasks after it (re-)registered: tasks it
// reports come back to their reported state, tasks it does not report are
// lost; the allocator gets the agent back with what is in use.
func (m *master) readmitAgent(ctx actor.Context, a *agentRecord, reported []*messages.Task) {
	seen := make(map[taskKey]*messages.Task, len(reported))
	for _, t := range reported {
		seen[taskKey{t.FrameworkId.GetValue(), t.TaskId.GetValue()}] = t
	}
	used := make([]policy.Grant, 0, len(a.tasks))
	for _, t := range ordered(a.tasks, taskKey.compare) {
		if messages.IsTerminal(t.task.State) {
			continue
		}
		key := taskKey{t.frameworkID(), t.id()}
		rep, ok := seen[key]
		if !ok {
			m.markTask(ctx, t, messages.TaskState_TASK_LOST, messages.TaskStatusReason_REASON_AGENT_RESTARTED, "the agent re-registered without this task")
			continue
		}
		if messages.IsTerminal(rep.State) {
			// Ended while the agent was away: its own status update, which
			// it resends now, tells the framework how.
			m.books.settle(t, rep.State)
			continue
		}
		if t.task.State != rep.State {
			m.markTask(ctx, t, rep.State, messages.TaskStatusReason_REASON_RECONCILIATION, "the agent re-registered with this task")
		}
		used = append(used, policy.Grant{FrameworkID: t.frameworkID(), Role: t.task.Role, Resources: t.res, Revocable: t.rev})
	}
	total, rev, _ := policy.FromMessages(a.info.Resources)
	attrs := map[string]string{}
	for _, at := range a.info.Attributes {
		attrs[at.Name] = messages.AttributeText(at)
	}
	a.incarnation++
	ctx.Send(m.cfg.Allocator, allocation.AddAgent{Agent: policy.Agent{
		ID: a.info.Id.Value, Total: total, Revocable: rev, Attributes: attrs, Allocated: used, Incarnation: a.incarnation,
	}})
}

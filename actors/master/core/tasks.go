package core

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// StatusUpdate is a task's status from its agent. A task that ends gives
// its resources back; the update goes on to the framework's scheduler,
// which acknowledges it to the agent through the master. The agent resends
// until then, so nothing is lost while the scheduler is away.
func (c *Core) StatusUpdate(p Peer, msg *messages.StatusUpdate, now time.Time) Ready {
	st := msg.GetStatus()
	fwID := msg.GetFrameworkId().GetValue()
	if a, ok := c.books.agents[st.GetAgentId().GetValue()]; ok && !c.fromAgent(p, a, msg) {
		return c.ready()
	} else if !ok || !a.reachable {
		// As Mesos does: an agent this master does not count as
		// registered must re-register first (its heartbeats are refused
		// and tell it so); it resends the update after, when what its
		// tasks hold is accounted for again.
		c.log.Debug("status update from an agent that must re-register; dropped", "agent_id", st.GetAgentId().GetValue(), "task_id", st.GetTaskId().GetValue())
		return c.ready()
	}
	if ts := st.GetTimestampUnixNano(); ts > 0 {
		c.cfg.Metrics.Observe(StatusUpdateLatency, now.Sub(time.Unix(0, ts)))
	}
	f, err := c.books.framework(fwID)
	if err != nil {
		c.log.Info("status update for a framework that is gone; acknowledging for it", "framework_id", fwID, "task_id", st.GetTaskId().GetValue())
		c.ackForFramework(p.Endpoint, msg)
		return c.ready()
	}
	t, ok := f.tasks[st.GetTaskId().GetValue()]
	if !ok {
		if messages.IsTerminal(st.GetState()) && !f.tearingDown {
			// A task that ended while no master knew it (during a
			// failover): its framework must still hear of it. Forwarded
			// while connected; the agent retries until then.
			if f.connected {
				c.send(f.conn, &messages.StatusUpdate{FrameworkId: f.info.Id, Status: statusFor(f, st), MasterEpoch: c.epoch()})
			}
			return c.ready()
		}
		c.log.Info("status update for an unknown task; acknowledging it", "framework_id", fwID, "task_id", st.GetTaskId().GetValue())
		c.ackForFramework(p.Endpoint, msg)
		return c.ready()
	}
	if p.authenticated() && t.agentID() != st.GetAgentId().GetValue() {
		// The sender is an agent, but not the one the task runs on: it
		// cannot end (and free) another agent's task.
		c.deny(p, DeniedIdentity, fmt.Sprintf("task %s of framework %s runs on agent %s, not on %s", t.id(), fwID, t.agentID(), st.GetAgentId().GetValue()), msg)
		return c.ready()
	}
	if len(st.GetMessage()) > messages.MaxStatusMessage {
		// The state change is kept; the text a task or agent wrote is cut
		// to what the books and every scheduler should carry.
		st = proto.Clone(st).(*messages.TaskStatus)
		st.Message = strings.ToValidUTF8(st.Message[:messages.MaxStatusMessage], "") + " …(truncated)"
	}
	// The books keep the status and the scheduler is sent it: shared, as
	// neither ever changes a status (the books replace theirs).
	changed, ended := c.books.setState(t, st)
	if ended {
		c.freeTask(t)
	}
	c.cfg.Metrics.Count(StatusUpdates, st.State.String(), 1)
	if changed {
		c.publish(TaskUpdated{FrameworkID: fwID, TaskID: t.id(), State: t.task.State})
		c.changed = true
	}
	if f.tearingDown {
		c.ackForFramework(p.Endpoint, msg)
		if messages.IsTerminal(t.task.State) {
			c.maybeRemove(f)
		}
		return c.ready()
	}
	if f.connected {
		c.sendUpdate(f, &messages.StatusUpdate{FrameworkId: f.info.Id, Status: statusFor(f, st), MasterEpoch: c.epoch()})
	}
	return c.ready()
}

// freeTask gives an ended task's resources back to the allocator.
func (c *Core) freeTask(t *taskRecord) {
	if t.resvRole == "" || !t.res.IsEmpty() || !t.rev.IsEmpty() {
		c.toAllocator(&messages.AllocatorReturn{FrameworkId: t.frameworkID(), Role: t.task.Role, AgentId: t.agentID(),
			Resources: policy.ToQuantities(t.res), Revocable: policy.ToQuantities(t.rev)})
	}
	if t.resvRole != "" {
		c.toAllocator(&messages.AllocatorReturn{FrameworkId: t.frameworkID(), Role: t.task.Role, AgentId: t.agentID(),
			Resources: policy.ToQuantities(t.resv), Reservation: t.resvRole})
	}
	for _, m := range t.moved {
		// Before the freed ones and before the old holder's removal
		// (maybeRemove follows): its RemoveFramework must not free it.
		c.toAllocator(&messages.AllocatorTransfer{AgentId: t.agentID(), Reservation: m.resvRole, Resources: policy.ToQuantities(m.disk),
			FromFrameworkId: m.from.FrameworkID, FromRole: m.from.Role, ToFrameworkId: m.to.FrameworkID, ToRole: m.to.Role})
		c.log.Info("shared volume's charge moved: its holder's last task on it ended, another framework's task still uses it",
			"agent_id", t.agentID(), "volume", m.volume, "from", m.from.String(), "to", m.to.String())
	}
	t.moved = nil
	for _, ch := range t.freed {
		c.toAllocator(&messages.AllocatorReturn{FrameworkId: ch.framework, Role: ch.role, AgentId: t.agentID(),
			Resources: policy.ToQuantities(ch.disk), Reservation: ch.resvRole})
	}
	t.freed = nil
	delete(c.preempting, taskKey{t.frameworkID(), t.id()})
}

// ackForFramework acknowledges an update nobody else will: its framework
// or task is gone.
func (c *Core) ackForFramework(agent Endpoint, msg *messages.StatusUpdate) {
	if len(msg.GetStatus().GetUuid()) == 0 {
		return
	}
	ack := &messages.StatusUpdateAcknowledgement{
		FrameworkId: msg.FrameworkId, AgentId: msg.Status.AgentId, TaskId: msg.Status.TaskId, Uuid: msg.Status.Uuid, MasterEpoch: c.epoch(),
	}
	if a, ok := c.books.agents[msg.GetStatus().GetAgentId().GetValue()]; ok && a.endpoint == agent {
		c.sendAgent(a, ack)
		return
	}
	c.send(agent, ack)
}

// Acknowledge is a scheduler confirming a status update; it goes on to the
// agent, and a task whose end is acknowledged is forgotten.
func (c *Core) Acknowledge(p Peer, msg *messages.Acknowledge, now time.Time) Ready {
	f, ok := c.caller(p, msg.FrameworkId, msg)
	if !ok {
		return c.ready()
	}
	if t, ok := f.tasks[msg.GetTaskId().GetValue()]; ok && messages.IsTerminal(t.task.State) && bytes.Equal(t.task.LatestStatus.GetUuid(), msg.Uuid) {
		c.books.forgetTask(t)
		c.changed = true
	}
	a, ok := c.books.agents[msg.GetAgentId().GetValue()]
	if !ok {
		c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, "acknowledgement names unknown agent "+msg.GetAgentId().GetValue(), msg)
		return c.ready()
	}
	c.sendAgent(a, &messages.StatusUpdateAcknowledgement{
		FrameworkId: msg.FrameworkId, AgentId: msg.AgentId, TaskId: msg.TaskId, Uuid: msg.Uuid, MasterEpoch: c.epoch(),
	})
	return c.ready()
}

// Kill is a scheduler asking for one of its tasks to be killed.
func (c *Core) Kill(p Peer, msg *messages.KillTask, now time.Time) Ready {
	f, ok := c.caller(p, msg.FrameworkId, msg)
	if !ok {
		return c.ready()
	}
	t, live := f.tasks[msg.GetTaskId().GetValue()]
	if !live {
		// Mesos: killing an unknown task reconciles it (TASK_LOST, or
		// for a partition-aware framework what its agent's fate says).
		c.sendStatus(f, reconciled(c.unknownTaskStatus(&messages.Reconcile_Task{TaskId: msg.TaskId, AgentId: msg.AgentId}, now)))
		return c.ready()
	}
	if messages.IsTerminal(t.task.State) {
		c.sendStatus(f, reconciled(t.task.LatestStatus))
		return c.ready()
	}
	c.killTask(t, msg.KillPolicy, messages.TaskStatusReason_REASON_KILLED_BY_FRAMEWORK)
	return c.ready()
}

// killTask asks the task's agent to kill it; an unreachable agent's task
// is settled when the agent comes back.
func (c *Core) killTask(t *taskRecord, policy *messages.KillPolicy, reason messages.TaskStatusReason) {
	a, ok := c.books.agents[t.agentID()]
	if !ok || !a.reachable {
		return
	}
	c.send(a.endpoint, &messages.KillTask{
		FrameworkId: t.task.FrameworkId, TaskId: t.task.TaskId, AgentId: t.task.AgentId, KillPolicy: policy, MasterEpoch: c.epoch(), Reason: reason,
	})
}

// Reconcile answers with the latest known state of the named tasks
// (explicit), or of every live task (implicit: none named). Answers carry
// REASON_RECONCILIATION and need no acknowledgement.
func (c *Core) Reconcile(p Peer, msg *messages.Reconcile, now time.Time) Ready {
	f, ok := c.caller(p, msg.FrameworkId, msg)
	if !ok {
		return c.ready()
	}
	if len(msg.Tasks) == 0 {
		for _, t := range ordered(f.tasks, strings.Compare) {
			if !messages.IsTerminal(t.task.State) {
				c.sendStatus(f, reconciled(t.task.LatestStatus))
			}
		}
		return c.ready()
	}
	deferred := 0
	for _, q := range msg.Tasks {
		if t, ok := f.tasks[q.GetTaskId().GetValue()]; ok {
			c.sendStatus(f, reconciled(t.task.LatestStatus))
			continue
		}
		if now.Before(c.recoveringUntil) {
			deferred++
			// Its agent may not have re-registered with this new leader
			// yet: answer when it does, or when the window ends.
			c.pendingReconcile = append(c.pendingReconcile, pendingReconcile{frameworkID: f.id(), task: q})
			continue
		}
		c.sendStatus(f, reconciled(c.unknownTaskStatus(q, now)))
	}
	if deferred > 0 {
		c.publish(ReconcileDeferred{FrameworkID: f.id(), Tasks: deferred})
	}
	return c.ready()
}

// reconciled is a copy of a known status as a reconciliation answer.
func reconciled(st *messages.TaskStatus) *messages.TaskStatus {
	st = cloneStatus(st)
	st.Uuid = nil
	if st.Reason != messages.TaskStatusReason_REASON_AGENT_REREGISTER_TIMEOUT {
		st.Reason = messages.TaskStatusReason_REASON_RECONCILIATION
	}
	return st
}

// masterStatus is a status the master itself reports (no uuid: it needs no
// acknowledgement).
func (c *Core) masterStatus(taskID *messages.TaskID, agentID *messages.AgentID, state messages.TaskState, reason messages.TaskStatusReason, text string, now time.Time) *messages.TaskStatus {
	return &messages.TaskStatus{TaskId: taskID, AgentId: agentID, State: state, Reason: reason, Message: text, TimestampUnixNano: now.UnixNano()}
}

// sendStatus tells a connected framework's scheduler a status, as its
// capabilities let it understand it (statusFor).
func (c *Core) sendStatus(f *frameworkRecord, st *messages.TaskStatus) {
	if f.connected {
		c.send(f.conn, &messages.StatusUpdate{FrameworkId: f.info.Id, Status: statusFor(f, st), MasterEpoch: c.epoch()})
	}
}

// markTask sets a task's state from the master's own knowledge and tells
// the framework (no acknowledgement needed). A task that ends this way is
// forgotten at once.
func (c *Core) markTask(t *taskRecord, state messages.TaskState, reason messages.TaskStatusReason, why string, now time.Time) {
	st := c.masterStatus(t.task.TaskId, t.task.AgentId, state, reason, why, now)
	changed, ended := c.books.setState(t, st)
	f, ok := c.books.frameworks[t.frameworkID()]
	if !ok || !changed {
		return
	}
	c.sendStatus(f, st) // shared with the books, which never change it
	c.publish(TaskUpdated{FrameworkID: f.id(), TaskID: t.id(), State: state})
	c.changed = true
	if ended {
		delete(c.preempting, taskKey{f.id(), t.id()})
		c.books.forgetTask(t)
		c.maybeRemove(f)
	}
}

// FrameworkToExecutor passes a scheduler's message to one of its executors
// (best effort).
func (c *Core) FrameworkToExecutor(p Peer, msg *messages.FrameworkToExecutor, now time.Time) Ready {
	if _, ok := c.caller(p, msg.FrameworkId, msg); !ok {
		return c.ready()
	}
	if a, ok := c.books.agents[msg.GetAgentId().GetValue()]; ok && a.reachable {
		c.send(a.endpoint, &messages.FrameworkToExecutor{FrameworkId: msg.FrameworkId, ExecutorId: msg.ExecutorId, AgentId: msg.AgentId,
			Data: msg.Data, MasterEpoch: c.epoch()})
	} else {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_AGENT, "framework message for agent "+msg.GetAgentId().GetValue()+", which is not reachable", msg)
	}
	return c.ready()
}

// KillExecutor is a scheduler asking for one of its custom executors to be
// shut down (Mesos' SHUTDOWN call). The master knows executors only through
// the tasks that name them, so it passes the request on only for an
// executor of the framework's with a live task on that agent; anything else
// is answered with an error that says what is unknown.
func (c *Core) KillExecutor(p Peer, msg *messages.KillExecutor, now time.Time) Ready {
	f, ok := c.caller(p, msg.FrameworkId, msg)
	if !ok {
		return c.ready()
	}
	agentID, executorID := msg.GetAgentId().GetValue(), msg.GetExecutorId().GetValue()
	if agentID == "" || executorID == "" {
		c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, "shutting an executor down needs its agent_id and executor_id", msg)
		return c.ready()
	}
	a, ok := c.books.agents[agentID]
	if !ok || !a.reachable {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_AGENT, fmt.Sprintf("cannot shut executor %s down: agent %s is not registered or not reachable", executorID, agentID), msg)
		return c.ready()
	}
	if !c.runsExecutor(f, agentID, executorID) {
		c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, fmt.Sprintf("framework %s has no executor %s with a live task on agent %s: check the executor and agent IDs", f.id(), executorID, agentID), msg)
		return c.ready()
	}
	c.log.Info("framework shuts an executor down", "framework_id", f.id(), "executor_id", executorID, "agent_id", agentID)
	c.send(a.endpoint, &messages.KillExecutor{FrameworkId: f.info.Id, ExecutorId: msg.ExecutorId, AgentId: msg.AgentId, MasterEpoch: c.epoch()})
	return c.ready()
}

// runsExecutor says whether one of the framework's live tasks on the agent
// runs in the executor.
func (c *Core) runsExecutor(f *frameworkRecord, agentID, executorID string) bool {
	for _, t := range f.tasks {
		if t.agentID() == agentID && t.task.GetExecutorId().GetValue() == executorID && !messages.IsTerminal(t.task.State) {
			return true
		}
	}
	return false
}

// ExecutorToFramework passes an executor's message to its scheduler (best
// effort).
func (c *Core) ExecutorToFramework(p Peer, msg *messages.ExecutorToFramework, now time.Time) Ready {
	if a, ok := c.books.agents[msg.GetAgentId().GetValue()]; !ok || !c.fromAgent(p, a, msg) {
		return c.ready()
	}
	if f, ok := c.books.frameworks[msg.GetFrameworkId().GetValue()]; ok && f.connected {
		c.send(f.conn, msg)
	}
	return c.ready()
}

// FindTask answers where a live or recently finished task runs or ran.
func (c *Core) FindTask(q *messages.GetTask) (*messages.TaskLocation, error) {
	t := c.books.findTask(q.GetFrameworkId().GetValue(), q.GetTaskId().GetValue())
	if t == nil {
		return nil, fmt.Errorf("%w: task %s is neither running nor among the last %d finished", ErrUnknownTask, q.GetTaskId().GetValue(), CompletedTasks)
	}
	// A copy: the answer is read on another goroutine while the books
	// change.
	loc := &messages.TaskLocation{Task: cloneTask(t)}
	if a, ok := c.books.agents[t.GetAgentId().GetValue()]; ok {
		loc.Agent = a.info
	}
	return loc, nil
}

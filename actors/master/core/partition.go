package core

import (
	"time"

	"github.com/agora-sched/agora/messages"
)

// Partition-aware frameworks, as Mesos (master.cpp: markUnreachable,
// __removeSlave, markGone, reconcile, _accept). The books keep what the
// master knows of a task (TASK_UNREACHABLE while its agent is away, so the
// task and its resources come back with the agent; TASK_GONE_BY_OPERATOR
// once an operator removed its agent); what a framework is told depends on
// its PARTITION_AWARE capability: a framework without it was written for
// TASK_LOST and is told TASK_LOST for every state it does not know
// (TASK_UNREACHABLE, TASK_GONE, TASK_GONE_BY_OPERATOR, TASK_DROPPED,
// TASK_UNKNOWN), with the same reason. As in Mesos, a task told
// TASK_LOST because its agent was unreachable is RUNNING again, with an
// update saying so, if the agent comes back with it.

// partitionAware reports whether a framework declared PARTITION_AWARE.
func partitionAware(f *frameworkRecord) bool {
	for _, c := range f.info.GetCapabilities() {
		if c == messages.Capability_PARTITION_AWARE {
			return true
		}
	}
	return false
}

// partitionState reports the states only partition-aware frameworks are
// told.
func partitionState(s messages.TaskState) bool {
	switch s {
	case messages.TaskState_TASK_UNREACHABLE, messages.TaskState_TASK_GONE, messages.TaskState_TASK_GONE_BY_OPERATOR,
		messages.TaskState_TASK_DROPPED, messages.TaskState_TASK_UNKNOWN:
		return true
	}
	return false
}

// statusFor is st as framework f is told it: TASK_LOST in place of a
// partition state for a framework that is not partition-aware. st itself
// is shared with the books and never changed.
func statusFor(f *frameworkRecord, st *messages.TaskStatus) *messages.TaskStatus {
	if !partitionState(st.GetState()) || partitionAware(f) {
		return st
	}
	st = cloneStatus(st)
	st.State = messages.TaskState_TASK_LOST
	return st
}

// unknownTaskStatus answers a framework asking of a task the master does
// not know (explicit reconciliation, or a kill), by where its agent is,
// as Mesos' reconcile: an agent registered here (TASK_GONE: it would have
// reported the task), unreachable (TASK_UNREACHABLE), removed by an
// operator (TASK_GONE_BY_OPERATOR), or unknown (TASK_UNKNOWN). A framework
// that is not partition-aware is told TASK_LOST (statusFor).
func (c *Core) unknownTaskStatus(q *messages.Reconcile_Task, now time.Time) *messages.TaskStatus {
	state, text := messages.TaskState_TASK_UNKNOWN, "task unknown to the master"
	if id := q.GetAgentId().GetValue(); id != "" {
		if a, ok := c.books.agents[id]; ok && a.reachable {
			state, text = messages.TaskState_TASK_GONE, "task unknown to the master and not reported by its agent"
		} else if ok {
			state, text = messages.TaskState_TASK_UNREACHABLE, "task unknown to the master; its agent is unreachable"
		} else if c.books.gone.has(id) {
			state, text = messages.TaskState_TASK_GONE_BY_OPERATOR, "task unknown to the master; its agent was removed by an operator"
		}
	}
	return c.masterStatus(q.TaskId, q.AgentId, state, messages.TaskStatusReason_REASON_RECONCILIATION, text, now)
}

// goneState is the state of a live task whose agent no longer has it:
// TASK_GONE for a partition-aware framework (the agent is known, the task
// is not running), TASK_LOST otherwise.
func (c *Core) goneState(t *taskRecord) messages.TaskState {
	if f, ok := c.books.frameworks[t.frameworkID()]; ok && partitionAware(f) {
		return messages.TaskState_TASK_GONE
	}
	return messages.TaskState_TASK_LOST
}

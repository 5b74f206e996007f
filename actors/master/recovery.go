package master

import (
	"fmt"

	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// Recovery after failover. A newly elected master starts with empty books
// and learns the cluster from agents re-registering (their tasks and the
// FrameworkInfos of those tasks) and schedulers subscribing again with
// their FrameworkIDs. For AgentReregisterTimeout it does not answer
// reconciliation of a task it has not heard of: the agent running it may
// still come back. After the window such tasks are TASK_LOST with
// REASON_AGENT_REREGISTER_TIMEOUT; an agent that returns later is still
// admitted, and its tasks are RUNNING again.

type recoveryEnded struct{}

type pendingReconcile struct {
	frameworkID string
	task        *messages.Reconcile_Task
}

func (m *master) handleRecoveryEnded(ctx actor.Context) {
	pending := m.pendingReconcile
	m.pendingReconcile = nil
	lost := 0
	for _, p := range pending {
		f, err := m.books.framework(p.frameworkID)
		if err != nil || !f.connected {
			continue // it reconciles again when it subscribes
		}
		var st *messages.TaskStatus
		if t, ok := f.tasks[p.task.GetTaskId().GetValue()]; ok {
			st = t.task.LatestStatus
		} else {
			lost++
			st = m.taskStatus(p.task.TaskId, p.task.AgentId, messages.TaskState_TASK_LOST, messages.TaskStatusReason_REASON_AGENT_REREGISTER_TIMEOUT,
				fmt.Sprintf("its agent did not re-register within %s of this master's election", m.cfg.AgentReregisterTimeout))
		}
		st = cloneStatus(st)
		st.Uuid, st.Reason = nil, orReason(st.Reason, messages.TaskStatusReason_REASON_RECONCILIATION)
		m.sendStatus(ctx, f, st)
	}
	m.log.Info("agent re-registration window after election ended", "agents", m.books.AgentCount(), "tasks_answered_lost", lost)
}

func orReason(r, def messages.TaskStatusReason) messages.TaskStatusReason {
	if r == messages.TaskStatusReason_REASON_AGENT_REREGISTER_TIMEOUT {
		return r
	}
	return def
}

func cloneStatus(st *messages.TaskStatus) *messages.TaskStatus {
	return proto.Clone(st).(*messages.TaskStatus)
}

// answerPending answers deferred reconciliation for tasks that are known
// now (their agent re-registered).
func (m *master) answerPending(ctx actor.Context) {
	if len(m.pendingReconcile) == 0 {
		return
	}
	kept := m.pendingReconcile[:0]
	for _, p := range m.pendingReconcile {
		f, err := m.books.framework(p.frameworkID)
		if err != nil {
			continue
		}
		t, ok := f.tasks[p.task.GetTaskId().GetValue()]
		if !ok {
			kept = append(kept, p)
			continue
		}
		st := cloneStatus(t.task.LatestStatus)
		st.Uuid, st.Reason = nil, messages.TaskStatusReason_REASON_RECONCILIATION
		m.sendStatus(ctx, f, st)
	}
	m.pendingReconcile = kept
}

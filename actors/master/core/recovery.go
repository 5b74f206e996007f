package core

import (
	"fmt"
	"time"

	"github.com/agora-sched/agora/messages"
)

// Recovery after failover. A newly elected master starts with empty books
// and learns the cluster from agents re-registering (their tasks and the
// FrameworkInfos of those tasks) and schedulers subscribing again with
// their FrameworkIDs. For AgentReregisterTimeout it does not answer
// reconciliation of a task it has not heard of: the agent running it may
// still come back. After the window such tasks are TASK_LOST with
// REASON_AGENT_REREGISTER_TIMEOUT (TASK_UNKNOWN for a partition-aware
// framework); an agent that returns later is still
// admitted, and its tasks are RUNNING again.

type recoveryEnded struct{}

func (recoveryEnded) isTimer() {}

type pendingReconcile struct {
	frameworkID string
	task        *messages.Reconcile_Task
}

func (c *Core) recoveryEnded(now time.Time) {
	pending := c.pendingReconcile
	c.pendingReconcile = nil
	lost := 0
	for _, p := range pending {
		f, err := c.books.framework(p.frameworkID)
		if err != nil || !f.connected {
			continue // it reconciles again when it subscribes
		}
		if t, ok := f.tasks[p.task.GetTaskId().GetValue()]; ok {
			c.sendStatus(f, reconciled(t.task.LatestStatus))
			continue
		}
		lost++
		c.sendStatus(f, reconciled(c.masterStatus(p.task.TaskId, p.task.AgentId, messages.TaskState_TASK_UNKNOWN, messages.TaskStatusReason_REASON_AGENT_REREGISTER_TIMEOUT,
			fmt.Sprintf("its agent did not re-register within %s of this master's election", c.cfg.AgentReregisterTimeout), now)))
	}
	c.log.Info("agent re-registration window after election ended", "agents", c.books.AgentCount(), "tasks_answered_lost", lost)
}

// answerPending answers deferred reconciliation for tasks that are known
// now (their agent re-registered).
func (c *Core) answerPending() {
	if len(c.pendingReconcile) == 0 {
		return
	}
	kept := c.pendingReconcile[:0]
	for _, p := range c.pendingReconcile {
		f, err := c.books.framework(p.frameworkID)
		if err != nil {
			continue
		}
		t, ok := f.tasks[p.task.GetTaskId().GetValue()]
		if !ok {
			kept = append(kept, p)
			continue
		}
		c.sendStatus(f, reconciled(t.task.LatestStatus))
	}
	c.pendingReconcile = kept
}

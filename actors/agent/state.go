package agent

import "github.com/agora-sched/agora/messages"

// setState moves a task to state to if the task state machine
// (messages.CanTransition) allows it. Every change of the state of one of
// the agent's tasks goes through here (update calls it; a recovered task
// starts in its checkpointed state). A refused change is logged and the
// task keeps its state: the caller then reports nothing, so a framework
// never hears of a task going back to RUNNING or ending twice.
//
// A repeat of the current state is refused too, though CanTransition
// allows it: that allowance is for a retried update (the same update sent
// again), which does not come through here; a change here makes a new
// update, and a second TASK_FINISHED would be a second end.
func (a *agent) setState(run *taskRun, to messages.TaskState) bool {
	if run.state == to || !messages.CanTransition(run.state, to) {
		a.log.Warn("refusing a task state change the task state machine forbids; the task keeps its state",
			"framework_id", run.key.framework, "task_id", run.key.task, "from", run.state.String(), "to", to.String())
		return false
	}
	a.cfg.Metrics.task(run, run.state, to)
	run.state = to
	return true
}

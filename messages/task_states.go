package messages

// IsTerminal reports whether a task in state s has ended for good.
func IsTerminal(s TaskState) bool {
	switch s {
	case TaskState_TASK_FINISHED, TaskState_TASK_FAILED, TaskState_TASK_KILLED, TaskState_TASK_ERROR,
		TaskState_TASK_LOST, TaskState_TASK_DROPPED, TaskState_TASK_GONE, TaskState_TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// CanTransition reports whether a task may move from one state to another:
// forward through STAGING, STARTING, RUNNING, KILLING, then to exactly one
// terminal state, which is final. Repeating a state is allowed (retried
// updates); UNREACHABLE may return to RUNNING when the agent comes back.
func CanTransition(from, to TaskState) bool {
	if from == to {
		return true
	}
	if IsTerminal(from) {
		return false
	}
	if IsTerminal(to) || to == TaskState_TASK_UNREACHABLE || from == TaskState_TASK_UNREACHABLE {
		return true
	}
	return rank(to) > rank(from)
}

func rank(s TaskState) int {
	switch s {
	case TaskState_TASK_STAGING:
		return 1
	case TaskState_TASK_STARTING:
		return 2
	case TaskState_TASK_RUNNING:
		return 3
	case TaskState_TASK_KILLING:
		return 4
	}
	return 0
}

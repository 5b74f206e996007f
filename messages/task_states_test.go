package messages

import "testing"

func TestTaskStateMachine(t *testing.T) {
	s := func(name string) TaskState { return TaskState(TaskState_value[name]) }
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"TASK_STAGING", "TASK_RUNNING", true},
		{"TASK_STAGING", "TASK_STARTING", true},
		{"TASK_RUNNING", "TASK_STARTING", false},
		{"TASK_RUNNING", "TASK_KILLING", true},
		{"TASK_KILLING", "TASK_RUNNING", false},
		{"TASK_RUNNING", "TASK_FINISHED", true},
		{"TASK_STAGING", "TASK_ERROR", true},
		{"TASK_FINISHED", "TASK_RUNNING", false},
		{"TASK_FINISHED", "TASK_FAILED", false},
		{"TASK_FAILED", "TASK_FAILED", true},
		{"TASK_RUNNING", "TASK_UNREACHABLE", true},
		{"TASK_UNREACHABLE", "TASK_RUNNING", true},
	} {
		if got := CanTransition(s(tc.from), s(tc.to)); got != tc.ok {
			t.Errorf("%s -> %s: %v, want %v", tc.from, tc.to, got, tc.ok)
		}
	}
	if IsTerminal(TaskState_TASK_RUNNING) || !IsTerminal(TaskState_TASK_LOST) {
		t.Error("IsTerminal")
	}
}

package agent

import (
	"slices"
	"testing"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// What a restarted agent recovers (issue 17 item 5, Mesos' agent
// recovery): the tasks of frameworks that checkpoint, where an unset
// FrameworkInfo.checkpoint means yes (Agora's default). The tasks of a
// framework that set it false are discarded whatever their state, ended
// ones with updates still pending included (their updates are not
// resent); the order read is kept on both sides.
func TestKeptOnRestart(t *testing.T) {
	cp := func(task string, checkpoint *bool, state messages.TaskState, pending int) readCheckpoint {
		c := &messages.TaskCheckpoint{State: state, Run: &messages.RunTask{
			Framework: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "fw"}, Checkpoint: checkpoint},
			Task:      &messages.TaskInfo{TaskId: &messages.TaskID{Value: task}}}}
		for range pending {
			c.Pending = append(c.Pending, &messages.StatusUpdate{})
		}
		return readCheckpoint{cp: c, path: task + checkpointExt, sandbox: task}
	}
	read := []readCheckpoint{
		cp("unset-running", nil, messages.TaskState_TASK_RUNNING, 0),
		cp("false-running", proto.Bool(false), messages.TaskState_TASK_RUNNING, 1),
		cp("true-staging", proto.Bool(true), messages.TaskState_TASK_STAGING, 0),
		cp("false-finished-unacknowledged", proto.Bool(false), messages.TaskState_TASK_FINISHED, 1),
		cp("unset-failed-unacknowledged", nil, messages.TaskState_TASK_FAILED, 1),
		cp("false-staging", proto.Bool(false), messages.TaskState_TASK_STAGING, 0),
	}
	recover, discard := keptOnRestart(read)
	names := func(rs []readCheckpoint) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.cp.Run.Task.TaskId.Value)
		}
		return out
	}
	if got, want := names(recover), []string{"unset-running", "true-staging", "unset-failed-unacknowledged"}; !slices.Equal(got, want) {
		t.Errorf("recovered %v, want %v", got, want)
	}
	if got, want := names(discard), []string{"false-running", "false-finished-unacknowledged", "false-staging"}; !slices.Equal(got, want) {
		t.Errorf("discarded %v, want %v", got, want)
	}
	if recover, discard := keptOnRestart(nil); recover != nil || discard != nil {
		t.Errorf("nothing read: %v %v", recover, discard)
	}
}

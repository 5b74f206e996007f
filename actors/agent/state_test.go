package agent

import (
	"log/slog"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/jonboulle/clockwork"
)

// Every change of a task's state goes through setState (update calls it):
// forward through STAGING, STARTING, RUNNING, KILLING, then one terminal
// state, final (Mesos' task state machine). A refused change keeps the old
// state and queues no status update, so a framework never hears a task go
// back, or end twice. A repeat is refused too: a retried update is resent
// as it was, not made again.
func TestTaskStateChangesFollowTheStateMachine(t *testing.T) {
	const (
		staging   = messages.TaskState_TASK_STAGING
		starting  = messages.TaskState_TASK_STARTING
		running   = messages.TaskState_TASK_RUNNING
		killing   = messages.TaskState_TASK_KILLING
		finished  = messages.TaskState_TASK_FINISHED
		failed    = messages.TaskState_TASK_FAILED
		killed    = messages.TaskState_TASK_KILLED
		lost      = messages.TaskState_TASK_LOST
		errored   = messages.TaskState_TASK_ERROR
		unreached = messages.TaskState_TASK_UNREACHABLE
	)
	for _, tc := range []struct {
		from, to messages.TaskState
		allowed  bool
	}{
		{staging, starting, true},
		{starting, running, true},
		{staging, running, true}, // an executor may skip STARTING
		{running, killing, true},
		{killing, killed, true},
		{running, finished, true},
		{staging, errored, true},  // a bad sandbox
		{staging, lost, true},     // a kill of a task unknown here
		{starting, failed, true},  // a launch that failed
		{running, running, false}, // a repeat would be a second report
		{running, unreached, true},
		{unreached, running, true},
		{running, starting, false},
		{killing, running, false},
		{starting, staging, false},
		{finished, running, false},
		{finished, failed, false},
		{killed, killed, false}, // ended once: no second terminal update
		{failed, killed, false},
		{lost, running, false},
	} {
		a := &agent{cfg: Config{Clock: clockwork.NewFakeClock()}, log: slog.New(slog.DiscardHandler), info: &messages.AgentInfo{},
			updates: newUpdateQueues(time.Second, time.Minute), disk: newDisk(), tasks: map[taskKey]*taskRun{}}
		key := taskKey{"fw", "t"}
		run := &taskRun{key: key, info: &messages.TaskInfo{TaskId: &messages.TaskID{Value: "t"}},
			framework: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "fw"}}, state: tc.from}
		a.tasks[key] = run
		a.update(nil, run, tc.to, messages.TaskStatusReason_REASON_UNSPECIFIED, "", nil)
		queued := a.updates.all(key)
		switch {
		case tc.allowed && (run.state != tc.to || len(queued) != 1 || queued[0].Status.State != tc.to):
			t.Errorf("%v -> %v: state %v, queued %v; want the change and its update", tc.from, tc.to, run.state, queued)
		case !tc.allowed && (run.state != tc.from || len(queued) != 0):
			t.Errorf("%v -> %v: state %v, queued %v; want it refused, the old state kept, nothing reported", tc.from, tc.to, run.state, queued)
		}
	}
}

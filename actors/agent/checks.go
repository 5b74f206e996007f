package agent

import (
	"context"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/healthcheck"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// Checks (Mesos' CheckInfo): probed as health checks are (health.go), from
// the same place, but only reported: a changed result goes out as an update
// in the task's state with check_status and REASON_TASK_CHECK_STATUS_UPDATED.
type (
	checkProbe struct {
		key   taskKey
		watch *healthcheck.Watch
	}
	checkProbed struct {
		key    taskKey
		watch  *healthcheck.Watch
		status *messages.CheckStatusInfo
		err    error
	}
)

// checkStatus is the task's last check result, for its status updates (a
// copy: the update is the receiver's); nil while unknown.
func (run *taskRun) checkStatus() *messages.CheckStatusInfo {
	if run.check == nil || run.check.Last() == nil {
		return nil
	}
	return proto.Clone(run.check.Last()).(*messages.CheckStatusInfo)
}

// startCheck starts checking a task that now runs, if it asks.
func (a *agent) startCheck(run *taskRun) {
	check := run.info.GetCheck()
	if check == nil || run.check != nil || !checkable(run) {
		return
	}
	if err := messages.ValidateCheck(check); err != nil {
		a.log.Warn("task's check is invalid; not checking it", "framework_id", run.key.framework, "task_id", run.key.task, "err", err)
		return
	}
	run.check = healthcheck.NewWatch(check.Times())
	a.later(run.check.First(), checkProbe{key: run.key, watch: run.check})
}

// checked reports whether w still checks the task of key.
func (a *agent) checked(key taskKey, w *healthcheck.Watch) (*taskRun, bool) {
	run, ok := a.tasks[key]
	if !ok || run.check != w || !checkable(run) {
		return nil, false
	}
	return run, true
}

func (a *agent) handleCheckProbe(msg checkProbe) {
	run, ok := a.checked(msg.key, msg.watch)
	if !ok {
		return
	}
	check, timeout, target := run.info.Check, msg.watch.Timeout(), a.healthTarget(run)
	sys, self := a.sys, a.self
	a.bg.run(func(ctx context.Context) {
		st, err := healthcheck.Check(ctx, check, timeout, target)
		if ctx.Err() != nil {
			return // the agent stops
		}
		sys.Root.Send(self, checkProbed{key: msg.key, watch: msg.watch, status: st, err: err})
	})
}

func (a *agent) handleCheckProbed(ctx actor.Context, msg checkProbed) {
	run, ok := a.checked(msg.key, msg.watch)
	if !ok {
		return
	}
	defer ctx.ActorSystem().EventStream.Publish(Checked{FrameworkID: run.key.framework, TaskID: run.key.task, Status: msg.status})
	if msg.err != nil {
		a.log.Debug("task's check did not complete", "framework_id", run.key.framework, "task_id", run.key.task, "err", msg.err)
	}
	if msg.watch.Observe(msg.status) {
		text := "check status updated"
		if msg.err != nil {
			text = "check did not complete: " + msg.err.Error()
		}
		a.emit(ctx, run, run.state, messages.TaskStatusReason_REASON_TASK_CHECK_STATUS_UPDATED, text, nil)
	}
	a.later(msg.watch.Interval(), checkProbe{key: msg.key, watch: msg.watch})
}

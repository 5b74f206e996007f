package agent

import (
	"context"
	"errors"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/runtime/healthcheck"
	"github.com/asynkron/protoactor-go/actor"
)

// Health checks: the agent runs a command or Docker task's health check,
// as Mesos' command and Docker executors do (a custom executor checks its
// own tasks). The policy is the task's healthcheck.Checker; the agent arms
// its timers on the agent's clock and probes off the actor:
//
//	RUNNING -> after the delay: healthProbe -> probe on a goroutine ->
//	healthProbed -> Observe -> a RUNNING update with healthy when it changed,
//	the kill past the limit, else the next healthProbe after the interval.
type (
	healthProbe struct {
		key     taskKey
		checker *healthcheck.Checker
	}
	healthProbed struct {
		key     taskKey
		checker *healthcheck.Checker
		err     error
	}
)

// errNoCheckCommands: the agent's containerizer cannot run a COMMAND check
// (testkit's simulated one).
var errNoCheckCommands = errors.New("this agent's containerizer cannot run check commands: use an HTTP or TCP check")

// healthy is the task's last reported health, for its status updates (a
// copy: the update is the receiver's); nil while unknown.
func (run *taskRun) healthy() *bool {
	if run.health == nil || run.health.Healthy() == nil {
		return nil
	}
	h := *run.health.Healthy()
	return &h
}

// startHealthCheck starts checking a task that now runs, if it asks.
func (a *agent) startHealthCheck(run *taskRun) {
	check := run.info.GetHealthCheck()
	if check == nil || run.health != nil || !checkable(run) {
		return
	}
	if err := messages.ValidateHealthCheck(check); err != nil {
		// The master validates; a check that fails here came from an older
		// master or a checkpoint. The task runs unchecked and says why.
		a.log.Warn("task's health check is invalid; not checking it", "framework_id", run.key.framework, "task_id", run.key.task, "err", err)
		return
	}
	run.health = healthcheck.New(check.Times(), a.cfg.Clock.Now())
	a.later(run.health.First(), healthProbe{key: run.key, checker: run.health})
}

// checkable reports whether run's checks may start: it runs (launched by
// this agent's containerizer, not an executor), and is not being killed.
func checkable(run *taskRun) bool {
	return run.container != nil && run.info.Executor == nil && !run.killing && run.state == messages.TaskState_TASK_RUNNING
}

// checking reports whether c still checks the task of key.
func (a *agent) checking(key taskKey, c *healthcheck.Checker) (*taskRun, bool) {
	run, ok := a.tasks[key]
	if !ok || run.health != c || !checkable(run) {
		return nil, false
	}
	return run, true
}

func (a *agent) handleHealthProbe(msg healthProbe) {
	run, ok := a.checking(msg.key, msg.checker)
	if !ok {
		return
	}
	check, timeout := run.info.HealthCheck, msg.checker.Timeout()
	target := a.healthTarget(run)
	sys, self := a.sys, a.self
	a.bg.run(func(ctx context.Context) {
		err := healthcheck.Probe(ctx, check, timeout, target)
		if ctx.Err() != nil {
			return // the agent stops
		}
		sys.Root.Send(self, healthProbed{key: msg.key, checker: msg.checker, err: err})
	})
}

// healthTarget is where run's probes go: its containerizer runs commands
// beside it and knows its address; without one, the task is on the
// agent's network and has nothing to run commands in.
func (a *agent) healthTarget(run *taskRun) healthcheck.Target {
	ctr := a.cfg.Containerizer
	if run.info.GetContainer().GetType() == messages.ContainerInfo_DOCKER {
		ctr = a.cfg.Docker
	}
	c, spec := run.container, a.launchSpec(run)
	checker, ok := ctr.(containerizer.Checker)
	if !ok {
		return healthcheck.Target{
			Host: func(context.Context) (string, error) { return "127.0.0.1", nil },
			Exec: func(context.Context, *messages.CommandInfo) (containerizer.ExecResult, error) {
				return containerizer.ExecResult{}, errNoCheckCommands
			},
		}
	}
	return healthcheck.Target{
		Host: func(ctx context.Context) (string, error) { return checker.Address(ctx, c) },
		Exec: func(ctx context.Context, cmd *messages.CommandInfo) (containerizer.ExecResult, error) {
			return checker.Exec(ctx, spec, c, cmd)
		},
	}
}

func (a *agent) handleHealthProbed(ctx actor.Context, msg healthProbed) {
	run, ok := a.checking(msg.key, msg.checker)
	if !ok {
		return
	}
	v := msg.checker.Observe(a.cfg.Clock.Now(), msg.err)
	// Published once the agent acted (updates queued, timer armed): an
	// observer that moves a fake clock on it sees the next probe fire.
	defer ctx.ActorSystem().EventStream.Publish(HealthChecked{FrameworkID: run.key.framework, TaskID: run.key.task, Passed: msg.err == nil, Failures: v.Failures})
	log := a.log.With("framework_id", run.key.framework, "task_id", run.key.task)
	if msg.err != nil {
		log.Debug("task failed a health check", "failures", v.Failures, "err", msg.err)
	}
	if v.Report {
		text := "health check passed"
		if !v.Healthy {
			text = "health check failed: " + msg.err.Error()
		}
		log.Info("task health changed", "healthy", v.Healthy, "state", run.state.String())
		a.emit(ctx, run, run.state, messages.TaskStatusReason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, text, nil)
	}
	if v.Kill {
		log.Warn("killing a task that failed its health check", "failures", v.Failures, "err", msg.err)
		a.killUnhealthy(ctx, run, v.Why)
		return
	}
	a.later(v.Next, healthProbe{key: msg.key, checker: msg.checker})
}

// killUnhealthy kills a task for failing its health check: TASK_KILLING,
// then TASK_KILLED with healthy false and the reason, as Mesos' command
// executor does.
func (a *agent) killUnhealthy(ctx actor.Context, run *taskRun, why string) {
	run.killing = true
	run.killReason = messages.TaskStatusReason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
	run.killWhy = "killed: " + why
	a.update(ctx, run, messages.TaskState_TASK_KILLING, run.killReason, run.killWhy, nil)
	run.container.Kill(run.grace)
}

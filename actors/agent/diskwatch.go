package agent

import (
	"context"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/diskquota"
	"github.com/asynkron/protoactor-go/actor"
)

// Disk enforcement (Mesos' posix/disk isolator with
// --enforce_container_disk_quota): every DiskWatchInterval the agent
// measures the sandbox of each running command or Docker task that was
// given disk, and each persistent volume they use, and kills a task over
// its limit with TASK_FAILED and REASON_CONTAINER_LIMITATION_DISK. The
// decision is diskquota.Decide; the walks run one after another on one
// goroutine off the actor, and the next round is armed when a round ends,
// so that walks never pile up:
//
//	diskWatchTick -> diskquota.Targets -> Measure each, off the actor ->
//	diskMeasured -> diskquota.Decide -> kill -> DiskChecked -> the next tick
//
// Tasks of a custom executor are not measured: they share its sandbox,
// and the executor's own disk is not accounted yet.
type (
	diskWatchTick struct{}
	diskMeasured  struct {
		tasks  []diskquota.Task
		usages map[string]diskquota.Usage
	}
)

// startDiskWatch arms the first round, if the agent measures disk.
func (a *agent) startDiskWatch() {
	if a.cfg.DiskWatchInterval > 0 && a.cfg.WorkDir != "" {
		a.later(a.cfg.DiskWatchInterval, diskWatchTick{})
	}
}

// diskTasks are the running tasks whose disk is watched, in key order.
func (a *agent) diskTasks() []diskquota.Task {
	var out []diskquota.Task
	for _, run := range a.sortedTasks() {
		if run.container == nil || run.killing || run.state != messages.TaskState_TASK_RUNNING || run.info.Executor != nil {
			continue
		}
		t := diskquota.Task{Key: taskOwner(run.key), Sandbox: run.sandbox}
		for _, r := range run.info.GetResources() {
			switch {
			case r.Name != messages.Disk:
			case messages.IsVolume(r):
				t.Volumes = append(t.Volumes, diskquota.Volume{ID: r.Disk.PersistenceId,
					Path: messages.VolumePath(a.cfg.WorkDir, r.Role, r.Disk.PersistenceId), MiB: r.Scalar})
			default:
				t.SandboxMiB += r.Scalar
			}
		}
		out = append(out, t)
	}
	return out
}

func (a *agent) handleDiskWatchTick() {
	tasks := a.diskTasks()
	targets := diskquota.Targets(tasks)
	if len(targets) == 0 {
		a.sys.Root.Send(a.self, diskMeasured{tasks: tasks})
		return
	}
	sys, self := a.sys, a.self
	a.bg.run(func(ctx context.Context) {
		usages := make(map[string]diskquota.Usage, len(targets))
		for _, t := range targets {
			usages[t.Path] = diskquota.Measure(ctx, t, diskquota.MaxFiles)
		}
		if ctx.Err() != nil {
			return // the agent stops
		}
		sys.Root.Send(self, diskMeasured{tasks: tasks, usages: usages})
	})
}

// handleDiskMeasured kills the tasks over their disk (those still running
// as they were measured) and arms the next round before it says the round
// ended: whoever sees DiskChecked (a test driving the clock) finds the next
// round already armed.
func (a *agent) handleDiskMeasured(ctx actor.Context, msg diskMeasured) {
	var killed []string
	byKey := make(map[string]*taskRun, len(a.tasks))
	for _, run := range a.tasks {
		byKey[taskOwner(run.key)] = run
	}
	for _, k := range diskquota.Decide(msg.tasks, msg.usages) {
		run, ok := byKey[k.Key]
		if !ok || run.container == nil || run.killing || messages.IsTerminal(run.state) {
			continue
		}
		log := a.log.With("framework_id", run.key.framework, "task_id", run.key.task)
		if a.cfg.DiskQuotaWarnOnly {
			log.Warn("task is over its disk; not killed, as disk quotas are not enforced on this agent", "why", k.Message)
			continue
		}
		log.Warn("killing a task over its disk", "why", k.Message)
		run.killing = true
		run.limitation = k.Message
		run.container.Kill(0)
		killed = append(killed, run.key.task)
	}
	for p, u := range msg.usages {
		if u.Err != nil {
			a.log.Debug("cannot measure a task's disk", "dir", p, "err", u.Err)
		}
	}
	a.later(a.cfg.DiskWatchInterval, diskWatchTick{})
	ctx.ActorSystem().EventStream.Publish(DiskChecked{Targets: len(msg.usages), Killed: killed})
}

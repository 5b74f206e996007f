package agent

import (
	"os"
	"path/filepath"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/checkpoint"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// Agent recovery. For every task the agent keeps a checkpoint in the
// task's sandbox: the RunTask it came with, its process (PID and start
// time), its state and its unacknowledged status updates, rewritten on
// every change (atomically, fsynced). An agent that restarts with the same
// work dir reads them before it registers: it re-attaches to tasks that
// still run, reports how the others ended meanwhile (from the exit code
// each task records in its sandbox), re-registers with all of them, and
// resends what was not acknowledged. Tasks survive an agent restart.

const checkpointFile = ".agora-task"

func (a *agent) checkpointPath(run *taskRun) string {
	return filepath.Join(run.sandbox, checkpointFile)
}

// checkpoint records run; a failure is logged: it costs only the recovery
// of this task should the agent restart.
func (a *agent) checkpoint(run *taskRun) {
	if a.cfg.WorkDir == "" || run.sandbox == "" || run.msg == nil {
		return
	}
	cp := &messages.TaskCheckpoint{
		Run: run.msg, State: run.state, Pending: a.updates.all(run.key), Killing: run.killing, KillReason: run.killReason,
	}
	if id, ok := run.container.(containerizer.Identified); ok {
		pid, start := id.Identity()
		cp.Pid, cp.StartTime = int64(pid), start
	}
	b, err := proto.Marshal(cp)
	if err == nil {
		err = checkpoint.WriteFile(a.checkpointPath(run), b)
	}
	if err != nil {
		a.log.Error("cannot checkpoint task; it will not be recovered if the agent restarts", "task_id", run.key.task, "err", err)
	}
}

// DefaultSandboxGC keeps a finished task's sandbox for a week (Mesos).
const DefaultSandboxGC = 7 * 24 * time.Hour

// gcSandbox asks the agent to remove a finished task's sandbox.
type gcSandbox struct{ dir string }

// forget removes a task whose terminal update was acknowledged; its
// sandbox goes after the GC delay.
func (a *agent) forget(run *taskRun) {
	delete(a.tasks, run.key)
	if a.cfg.WorkDir != "" && run.sandbox != "" {
		_ = os.Remove(a.checkpointPath(run))
		a.later(a.sandboxGC(), gcSandbox{dir: run.sandbox})
	}
}

func (a *agent) sandboxGC() time.Duration {
	if a.cfg.SandboxGC > 0 {
		return a.cfg.SandboxGC
	}
	return DefaultSandboxGC
}

// removeSandbox deletes a finished task's sandbox, unless a task of the same
// ID runs in it again.
func (a *agent) removeSandbox(dir string) bool {
	for _, run := range a.tasks {
		if run.sandbox == dir {
			return false
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		a.log.Warn("cannot remove a finished task's sandbox", "dir", dir, "err", err)
		return false
	}
	return true
}

// gcOldSandboxes schedules the removal of sandboxes an earlier run of the
// agent left (no checkpoint: the task was finished), by their age.
func (a *agent) gcOldSandboxes() {
	dirs, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "frameworks", "*", "tasks", "*"))
	now := a.cfg.Clock.Now()
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, checkpointFile)); err == nil {
			continue
		}
		st, err := os.Stat(dir)
		if err != nil {
			continue
		}
		a.later(max(0, a.sandboxGC()-now.Sub(st.ModTime())), gcSandbox{dir: dir})
	}
}

// groupRemover returns what removes a recovered task's cgroup (a no-op
// without cgroup isolation). The run of the agent that created the group
// would have removed it when the task ended; after a restart this one
// must. It may block (it kills what is left in the group): call it off
// the actor.
func (a *agent) groupRemover(key taskKey) func() {
	return a.cgroupRemover(key.framework + "." + key.task)
}

// cgroupRemover is groupRemover for a container ID (FRAMEWORK.TASK, or
// FRAMEWORK.executor.ID).
func (a *agent) cgroupRemover(id string) func() {
	cmd, ok := a.cfg.Containerizer.(containerizer.Command)
	if !ok || cmd.Cgroups == nil {
		return func() {}
	}
	return func() { cmd.Cgroups.Remove(id) }
}

// recover reads the checkpoints of an earlier run of this agent.
func (a *agent) recover(ctx actor.Context) {
	if a.cfg.WorkDir == "" {
		return
	}
	a.gcOldSandboxes()
	found := a.findExecutors()
	for _, r := range found {
		a.executors[r.key] = &executorRun{key: r.key, info: r.cp.Info, framework: r.cp.Framework, container: r.c,
			reconnecting: true, tasks: map[taskKey]*taskRun{}}
	}
	defer a.reconnectExecutors(ctx, found)
	paths, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "frameworks", "*", "tasks", "*", checkpointFile))
	for _, path := range paths {
		b, err := os.ReadFile(path)
		cp := &messages.TaskCheckpoint{}
		if err == nil {
			err = proto.Unmarshal(b, cp)
		}
		if err != nil || cp.Run.GetTask() == nil || cp.Run.GetFramework() == nil {
			a.log.Error("unreadable task checkpoint; skipping it", "path", path, "err", err)
			continue
		}
		t := cp.Run.Task
		key := taskKey{cp.Run.Framework.GetId().GetValue(), t.GetTaskId().GetValue()}
		run := &taskRun{key: key, msg: cp.Run, info: t, framework: cp.Run.Framework, role: cp.Run.Role, revocable: cp.Run.Revocable,
			state: cp.State, sandbox: filepath.Dir(path), killing: cp.Killing, killReason: cp.KillReason, grace: DefaultKillGrace}
		if g := t.GetKillPolicy().GetGracePeriodNanos(); g > 0 {
			run.grace = time.Duration(g)
		}
		a.tasks[key] = run
		for _, up := range cp.Pending {
			a.updates.push(key, up) // sent once registered
		}
		if messages.IsTerminal(run.state) {
			continue // only its updates are left to deliver
		}
		if e := t.GetExecutor(); e != nil {
			if ex, ok := a.executors[executorKey{key.framework, e.GetExecutorId().GetValue()}]; ok {
				ex.tasks[key] = run // its executor re-registers with it, or fails it
				continue
			}
		}
		if t.GetContainer().GetType() == messages.ContainerInfo_DOCKER {
			if r, ok := a.cfg.Docker.(containerizer.Reattacher); ok {
				if c, ok := r.Reattach(key.framework+"."+key.task, run.sandbox); ok {
					run.container = c
					sys, self := a.sys, a.self
					go func() { sys.Root.Send(self, taskExited{key: key, exit: c.Wait()}) }()
					a.log.Info("re-attached to a Docker task's container", "task_id", key.task)
					continue
				}
			}
		}
		if c, ok := containerizer.Attach(int(cp.Pid), cp.StartTime, run.sandbox); ok {
			run.container = c
			sys, self, removeGroup := a.sys, a.self, a.groupRemover(key)
			go func() {
				ex := c.Wait()
				removeGroup() // the run that created it is gone
				sys.Root.Send(self, taskExited{key: key, exit: ex})
			}()
			a.log.Info("re-attached to a task that kept running while the agent was down", "task_id", key.task, "pid", cp.Pid)
			continue
		}
		go a.groupRemover(key)() // nothing runs in it any more
		if ex, ok := containerizer.RecordedExit(run.sandbox); ok && cp.Pid > 0 {
			a.log.Info("a task ended while the agent was down", "task_id", key.task, "exit_code", ex.Code)
			a.handleExited(ctx, taskExited{key: key, exit: ex})
			continue
		}
		why := "the task ended while the agent was down and its exit code is unknown"
		switch {
		case t.Executor != nil:
			why = "its executor ended while the agent was down"
		case cp.Pid == 0:
			why = "the agent restarted before the task started"
		}
		a.log.Warn("task lost across an agent restart", "task_id", key.task, "why", why)
		a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_AGENT_RESTARTED, why, nil)
	}
}

// resendPending sends the unacknowledged update of every task now (after a
// registration), instead of waiting for its backoff.
func (a *agent) resendPending(ctx actor.Context) {
	for _, run := range a.sortedTasks() {
		key := run.key
		if up := a.updates.inFlight(key); up != nil {
			a.sendUpdate(ctx, key, up)
		}
	}
}

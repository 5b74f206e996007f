package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// Agent recovery. For every task the agent keeps a checkpoint in the
// task's sandbox: the RunTask it came with, its process (PID and start
// time), its state and its unacknowledged status updates, rewritten on
// every change (atomically, fsynced, off the actor: see disk.go). An agent
// that restarts with the same work dir reads them before it registers: it
// re-attaches to tasks that still run, reports how the others ended
// meanwhile (from the exit code each task records in its sandbox),
// re-registers with all of them, and resends what was not acknowledged.
// Tasks survive an agent restart.

const checkpointFile = ".agora-task"

func (a *agent) checkpointPath(run *taskRun) string {
	return filepath.Join(run.sandbox, checkpointFile)
}

// checkpoint queues the durable write of run's checkpoint; a failure is
// logged: it costs only the recovery of this task should the agent
// restart.
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
	b, err := proto.Marshal(cp) // on the actor: the writer gets bytes, not the books
	if err != nil {
		a.log.Error("cannot checkpoint task; it will not be recovered if the agent restarts", "task_id", run.key.task, "err", err)
		return
	}
	a.persist(taskOwner(run.key), a.checkpointPath(run), b)
}

// DefaultSandboxGC keeps a finished task's sandbox for a week (Mesos).
const DefaultSandboxGC = 7 * 24 * time.Hour

type (
	// gcSandbox asks the agent to remove a finished task's sandbox.
	gcSandbox struct{ dir string }
	// sandboxRemoved: the removal of dir is over (err says how).
	sandboxRemoved struct {
		dir string
		err error
	}
)

// forget removes a task whose terminal update was acknowledged: its
// checkpoint goes now (after any write of it still queued), its sandbox
// after the GC delay.
func (a *agent) forget(run *taskRun) {
	delete(a.tasks, run.key)
	if a.cfg.WorkDir != "" && run.sandbox != "" {
		if run.msg != nil {
			a.unpersist(taskOwner(run.key), a.checkpointPath(run))
		}
		a.later(a.sandboxGC(), gcSandbox{dir: run.sandbox})
	}
}

func (a *agent) sandboxGC() time.Duration {
	if a.cfg.SandboxGC > 0 {
		return a.cfg.SandboxGC
	}
	return DefaultSandboxGC
}

// handleGCSandbox starts removing a finished task's sandbox off the actor,
// unless a task of the same ID runs in it again. Until the removal is
// over, a task of that ID waits to start (handleRunTask).
func (a *agent) handleGCSandbox(msg gcSandbox) {
	if _, busy := a.removing[msg.dir]; busy {
		return
	}
	for _, run := range a.tasks {
		if run.sandbox == msg.dir {
			return
		}
	}
	a.removing[msg.dir] = nil
	sys, self, dir, hook := a.sys, a.self, msg.dir, a.cfg.diskHook
	a.bg.run(func(ctx context.Context) {
		if hook != nil {
			hook(dir)
		}
		sys.Root.Send(self, sandboxRemoved{dir: dir, err: removeTree(ctx, dir)})
	})
}

func (a *agent) handleSandboxRemoved(ctx actor.Context, msg sandboxRemoved) {
	waiting := a.removing[msg.dir]
	delete(a.removing, msg.dir)
	if msg.err != nil {
		a.log.Warn("cannot remove a finished task's sandbox", "dir", msg.dir, "err", msg.err)
	} else {
		ctx.ActorSystem().EventStream.Publish(SandboxRemoved{Dir: msg.dir})
	}
	for _, start := range waiting {
		start(ctx)
	}
}

// removeTree removes dir and what it holds, one entry at a time so that a
// stopping agent does not wait for a large sandbox to go.
func removeTree(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// gcOldSandboxes schedules the removal of sandboxes an earlier run of the
// agent left (no task or executor checkpoint: finished), by their age.
func (a *agent) gcOldSandboxes() {
	dirs, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "frameworks", "*", "tasks", "*"))
	now := a.cfg.Clock.Now()
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, checkpointFile)); err == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, executorFile)); err == nil {
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
func (a *agent) groupRemover(key taskKey) func(context.Context) {
	return a.cgroupRemover(key.framework + "." + key.task)
}

// cgroupRemover is groupRemover for a container ID (FRAMEWORK.TASK, or
// FRAMEWORK.executor.ID).
func (a *agent) cgroupRemover(id string) func(context.Context) {
	cmd, ok := a.cfg.Containerizer.(containerizer.Command)
	if !ok || cmd.Cgroups == nil {
		return func(context.Context) {}
	}
	log := a.log
	return func(ctx context.Context) {
		if err := cmd.Cgroups.RemoveContext(ctx, id); err != nil {
			log.Warn("cannot remove a cgroup", "container_id", id, "err", err)
		}
	}
}

// dockerReattached reports the search for a recovered Docker task's
// container.
type dockerReattached struct {
	key       taskKey
	container containerizer.Container
	err       error
}

// recover reads the checkpoints of an earlier run of this agent. What it
// must ask the Docker engine about is asked off the actor; a.recovering
// counts the answers still to come, and the agent registers once all are
// in.
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
				a.recovering++
				sys, self, id, sandbox := a.sys, a.self, key.framework+"."+key.task, run.sandbox
				a.bg.run(func(ctx context.Context) {
					c, err := r.Reattach(ctx, id, sandbox)
					sys.Root.Send(self, dockerReattached{key: key, container: c, err: err})
				})
				continue
			}
		}
		if c, ok := containerizer.Attach(a.bg.ctx, int(cp.Pid), cp.StartTime, run.sandbox); ok {
			run.container = c
			sys, self, removeGroup := a.sys, a.self, a.groupRemover(key)
			a.bg.run(func(ctx context.Context) {
				ex, err := c.Wait(ctx)
				if err != nil {
					return // the agent stops
				}
				removeGroup(ctx) // the run that created it is gone
				sys.Root.Send(self, taskExited{key: key, exit: ex})
			})
			a.log.Info("re-attached to a task that kept running while the agent was down", "task_id", key.task, "pid", cp.Pid)
			continue
		}
		a.bg.run(a.groupRemover(key)) // nothing runs in it any more
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
		a.taskLost(ctx, run, why)
	}
}

func (a *agent) taskLost(ctx actor.Context, run *taskRun, why string) {
	a.log.Warn("task lost across an agent restart", "task_id", run.key.task, "why", why)
	a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_AGENT_RESTARTED, why, nil)
}

// handleDockerReattached follows a recovered Docker task again, or fails
// it if its container is gone; the last answer starts registration.
func (a *agent) handleDockerReattached(ctx actor.Context, msg dockerReattached) {
	a.recovering--
	run, ok := a.tasks[msg.key]
	switch {
	case !ok || run.container != nil || messages.IsTerminal(run.state):
		if msg.container != nil {
			a.log.Warn("found the container of a task no longer here; leaving it", "task_id", msg.key.task)
		}
	case msg.err != nil:
		a.taskLost(ctx, run, "its Docker container could not be found again: "+msg.err.Error())
	default:
		run.container = msg.container
		a.watch(msg.key, msg.container)
		a.log.Info("re-attached to a Docker task's container", "task_id", msg.key.task)
		if run.killing {
			msg.container.Kill(run.grace)
		}
	}
	if a.recovering == 0 {
		a.becomeRegistering(ctx, "started")
	}
}

// resendPending sends the unacknowledged update of every task now (after a
// registration), instead of waiting for its backoff; one not sent yet goes
// once its checkpoint is on disk.
func (a *agent) resendPending(ctx actor.Context) {
	for _, run := range a.sortedTasks() {
		key := run.key
		up := a.updates.inFlight(key)
		switch {
		case up == nil:
		case a.updates.sent(key):
			a.sendUpdate(ctx, key, up)
		default:
			a.whenDurable(ctx, taskOwner(key), func(ctx actor.Context, _ error) { a.flush(ctx, key) })
		}
	}
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/checkpoint"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/asynkron/protoactor-go/actor"
)

// Agent recovery. For every task the agent keeps a checkpoint: the
// RunTask it came with, its process (PID and start time), its state and its
// unacknowledged status updates, rewritten on every change (atomically,
// fsynced, off the actor: see disk.go). An agent that restarts with the
// same work dir reads them before it registers: it re-attaches to tasks
// that still run, reports how the others ended meanwhile (from the exit
// code each task records in its sandbox), re-registers with all of them,
// and resends what was not acknowledged. Tasks survive an agent restart.
//
// Checkpoints live in <work-dir>/meta, which only the agent can read or
// write, never in a sandbox: a sandbox belongs to its task's user, and a
// task that could write its checkpoint could name any process for the
// agent to kill, or another framework's task for it to report.
//
// Checkpoints are framed (runtime/checkpoint: length and CRC-32C), so one
// the disk tore or garbled is told from a valid one rather than taken for
// whatever a damaged protobuf happens to parse as; unframed ones that an
// older agent wrote are read as they are.
//
// A framework that does not checkpoint (FrameworkInfo.checkpoint false;
// unset means it does: messages.Checkpointing) gets Mesos' semantics: its
// tasks and executors do not survive an agent restart. The agent still
// writes their checkpoints, because a checkpoint is how a restarted agent
// finds what to end (a process where no cgroup holds it), but it does not
// recover from them: it ends what the framework left running (processes,
// cgroups, Docker containers, executors, without waiting for executors to
// re-register), removes the checkpoints, drops the unacknowledged updates,
// and re-registers without those tasks; the master then tells the
// framework TASK_LOST, REASON_AGENT_DISCONNECTED (discardTasks).
//
// A checkpoint that cannot be read (the disk garbled it) loses the task's
// process, not the task: the agent ends whatever runs in the task's
// container (its cgroup; see containerizer.Destroyer), and only then, and
// before it registers, reports the task TASK_FAILED. So the master never
// frees resources that a process still uses.

const (
	metaDir        = "meta"
	checkpointExt  = ".checkpoint"
	containerIDSep = "."
)

// taskCheckpointPath is where task k's checkpoint lives; the IDs are
// valid sandbox names (the caller checked).
func (a *agent) taskCheckpointPath(k taskKey) string {
	return filepath.Join(a.cfg.WorkDir, metaDir, "frameworks", k.framework, "tasks", k.task+checkpointExt)
}

func (a *agent) checkpointPath(run *taskRun) string { return a.taskCheckpointPath(run.key) }

// containerID names a task's container (its cgroup, its Docker label).
func containerID(k taskKey) string { return k.framework + containerIDSep + k.task }

// prepareMeta creates the checkpoint directory, the agent's alone.
func (a *agent) prepareMeta() {
	dir := filepath.Join(a.cfg.WorkDir, metaDir)
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		err = os.Chmod(dir, 0o700) // an older one may have been made open
	}
	if err != nil {
		a.log.Error("cannot prepare the checkpoint directory; tasks will not be recovered if the agent restarts", "dir", dir, "err", err)
	}
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
	b, err := checkpoint.MarshalMessage(cp) // on the actor: the writer gets bytes, not the books
	if err != nil {
		a.log.Error("cannot checkpoint task; it will not be recovered if the agent restarts", "task_id", run.key.task, "err", err)
		return
	}
	a.persist(taskOwner(run.key), a.checkpointPath(run), b)
}

// destroyer returns what ends whatever still runs of container id (in
// sandbox) and removes what isolated it, with those of ctrs that can
// (containerizer.Destroyer): the command containerizer's for a command task
// or an executor, every one for a task of unknown kind (its checkpoint
// unreadable). It may block: call it off the actor.
func (a *agent) destroyer(id, sandbox string, ctrs ...containerizer.Containerizer) func(context.Context) {
	var ds []containerizer.Destroyer
	for _, c := range ctrs {
		if d, ok := c.(containerizer.Destroyer); ok {
			ds = append(ds, d)
		}
	}
	log := a.log
	return func(ctx context.Context) {
		for _, d := range ds {
			if err := d.Destroy(ctx, id, sandbox); err != nil {
				log.Warn("cannot end what a container left", "container_id", id, "err", err)
			}
		}
	}
}

// recovery is what a restarting agent does before it reports its tasks and
// registers: end what tasks it lost track of (or that ended) left running,
// off the actor; then report them.
type recovery struct {
	destroy []func(context.Context)
	reports []func(actor.Context)
	// stopped: executors ended rather than reconnected, and why.
	stopped map[executorKey]string
	// groups: the task groups of the recovered tasks, by their first task.
	groups map[taskKey]*taskGroup
}

// recoveryCleaned: the recovery's destroy jobs are done.
type recoveryCleaned struct{}

// recover reads the checkpoints of an earlier run of this agent. What it
// must ask the Docker engine about, and what it must end, is done off the
// actor; a.recovering counts what is still to come, and the agent
// registers once it is all in.
func (a *agent) recover(ctx actor.Context) {
	if a.cfg.WorkDir == "" {
		return
	}
	a.prepareMeta()
	a.gcOldSandboxes()
	a.loadDrain()
	a.loadReservations()
	rc := &recovery{stopped: map[executorKey]string{}}
	cps, lostIn := a.readTaskCheckpoints(rc)
	cps, discard := keptOnRestart(cps)
	found := a.findExecutors(rc, lostIn)
	for _, r := range found {
		ctr, docker := a.cfg.Containerizer, dockerCheckpoint(r.cp)
		if docker {
			ctr = a.cfg.Docker
		}
		a.executors[r.key] = &executorRun{key: r.key, info: r.cp.Info, framework: r.cp.Framework, container: r.c, ctr: ctr, docker: docker,
			reconnecting: true, reconnectTo: r.cp.Executor, tasks: map[taskKey]*taskRun{}, role: r.cp.Role, exitStatus: -1}
	}
	for _, r := range cps {
		a.recoverTask(rc, r.cp, r.sandbox)
	}
	a.discardTasks(rc, discard)
	a.reconnectExecutors(ctx, found)
	if len(rc.destroy) == 0 {
		for _, report := range rc.reports {
			report(ctx)
		}
		return
	}
	a.recovering++
	sys, self, jobs := a.sys, a.self, rc.destroy
	a.afterCleanup = rc.reports
	a.bg.run(func(ctx context.Context) {
		for _, destroy := range jobs {
			destroy(ctx)
		}
		if ctx.Err() == nil {
			sys.Root.Send(self, recoveryCleaned{})
		}
	})
}

func (a *agent) handleRecoveryCleaned(ctx actor.Context) {
	reports := a.afterCleanup
	a.afterCleanup = nil
	for _, report := range reports {
		report(ctx)
	}
	a.recovered(ctx)
}

// recovered counts one of the answers recovery waits for; the last starts
// registration.
func (a *agent) recovered(ctx actor.Context) {
	a.recovering--
	if a.recovering == 0 {
		a.becomeRegistering(ctx, "started")
	}
}

type readCheckpoint struct {
	cp            *messages.TaskCheckpoint
	path, sandbox string
}

// keptOnRestart splits the task checkpoints a restarted agent read into
// the tasks it recovers and those of frameworks that do not checkpoint,
// which it discards (discardTasks), each in the order read.
func keptOnRestart(cps []readCheckpoint) (recover, discard []readCheckpoint) {
	for _, r := range cps {
		if messages.Checkpointing(r.cp.Run.GetFramework()) {
			recover = append(recover, r)
		} else {
			discard = append(discard, r)
		}
	}
	return recover, discard
}

// discardTasks ends what tasks of frameworks that do not checkpoint left
// running and forgets them: off the actor and before the agent registers,
// it kills the task's process (recorded in the checkpoint), ends what
// runs in its container (its cgroup, its processes by sandbox, its Docker
// container by label) and the parent cgroup of its task group, then
// removes the checkpoint; the sandbox is collected as a finished task's
// is. The task is not in a.tasks, so the re-registration does not report
// it, and its unacknowledged updates are dropped: the master tells the
// framework once, TASK_LOST. Mesos' agent, which writes no checkpoint for
// such a framework, destroys its containers as orphans on recovery.
func (a *agent) discardTasks(rc *recovery, cps []readCheckpoint) {
	parents := map[string]bool{}
	var order []string
	for _, r := range cps {
		t := r.cp.Run.Task
		key := taskKey{r.cp.Run.Framework.GetId().GetValue(), t.GetTaskId().GetValue()}
		a.log.Info("the task's framework does not checkpoint: ending what the task left, not recovering it",
			"framework_id", key.framework, "task_id", key.task, "state", r.cp.State.String())
		ctrs := []containerizer.Containerizer{a.cfg.Containerizer}
		if t.GetContainer().GetType() == messages.ContainerInfo_DOCKER {
			ctrs = append(ctrs, a.cfg.Docker)
		}
		if m := r.cp.Run.GetGroup(); len(m.GetTaskIds()) > 0 && t.GetExecutor() == nil {
			p := groupCgroupParent(taskKey{key.framework, m.GetTaskIds()[0].GetValue()})
			if !parents[p] {
				parents[p] = true
				order = append(order, p)
			}
		}
		pid, start, sandbox, path := int(r.cp.Pid), r.cp.StartTime, r.sandbox, r.path
		destroy := a.destroyer(containerID(key), sandbox, ctrs...)
		rc.destroy = append(rc.destroy, func(ctx context.Context) {
			if c, alive := containerizer.Attach(ctx, pid, start, sandbox); alive {
				c.Kill(0)
				if _, err := c.Wait(ctx); err != nil {
					return // the agent stops; its next run ends it
				}
			}
			destroy(ctx)
			_ = checkpoint.Remove(path)
		})
		rc.reports = append(rc.reports, func(actor.Context) { a.scheduleGC(sandbox, a.cfg.Clock.Now().Add(a.sandboxGC())) })
	}
	if gc, ok := a.cfg.Containerizer.(containerizer.GroupCleaner); ok && len(order) > 0 {
		log := a.log
		rc.destroy = append(rc.destroy, func(ctx context.Context) {
			for _, p := range order {
				if err := gc.RemoveGroup(p); err != nil {
					log.Warn("task group's parent cgroup not removed", "group", p, "err", err)
				}
			}
		})
	}
}

// readTaskCheckpoints reads every task checkpoint. One that cannot be
// read becomes a task to end and report failed (recoverUnreadable); lostIn
// lists the frameworks of those, whose executors may run them.
func (a *agent) readTaskCheckpoints(rc *recovery) (cps []readCheckpoint, lostIn map[string]bool) {
	lostIn = map[string]bool{}
	paths, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, metaDir, "frameworks", "*", "tasks", "*"+checkpointExt))
	for _, path := range paths {
		key := taskKey{filepath.Base(filepath.Dir(filepath.Dir(path))), strings.TrimSuffix(filepath.Base(path), checkpointExt)}
		sandbox, err := containerizer.SandboxPath(a.cfg.WorkDir, key.framework, key.task)
		if err != nil {
			a.log.Error("a checkpoint the agent cannot have written; ignoring it", "path", path, "err", err)
			continue
		}
		cp := &messages.TaskCheckpoint{}
		err = checkpoint.ReadMessage(path, cp) // framed, or plain from an older agent
		if err == nil && (cp.Run.GetTask() == nil || cp.Run.GetFramework() == nil) {
			err = errors.New("it holds no task")
		}
		if err == nil && (cp.Run.Task.GetTaskId().GetValue() != key.task || cp.Run.Framework.GetId().GetValue() != key.framework) {
			err = fmt.Errorf("it names task %s of framework %s", cp.Run.Task.GetTaskId().GetValue(), cp.Run.Framework.GetId().GetValue())
		}
		if err != nil {
			a.recoverUnreadable(rc, key, sandbox, path, err)
			lostIn[key.framework] = true
			continue
		}
		cps = append(cps, readCheckpoint{cp: cp, path: path, sandbox: sandbox})
	}
	return cps, lostIn
}

// recoverUnreadable keeps track of a task whose checkpoint cannot be read:
// its IDs are in the checkpoint's path, so its container (cgroup, Docker
// label) is found and ended, and the task is reported TASK_FAILED once it
// is. The report is checkpointed anew, so the task is reported again should
// the agent restart before the framework acknowledges it.
func (a *agent) recoverUnreadable(rc *recovery, key taskKey, sandbox, path string, why error) {
	a.log.Error("unreadable task checkpoint: ending whatever the task still runs, then reporting it failed",
		"framework_id", key.framework, "task_id", key.task, "path", path, "err", why)
	msg := &messages.RunTask{Task: &messages.TaskInfo{TaskId: &messages.TaskID{Value: key.task}}, Framework: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: key.framework}}}
	run := &taskRun{key: key, msg: msg, info: msg.Task, framework: msg.Framework, state: messages.TaskState_TASK_STAGING, sandbox: sandbox, grace: DefaultKillGrace}
	a.tasks[key] = run
	a.cfg.Metrics.task(run, 0, run.state)
	rc.destroy = append(rc.destroy, a.destroyer(containerID(key), sandbox, a.cfg.Containerizer, a.cfg.Docker))
	text := fmt.Sprintf("the agent restarted and could not read the task's checkpoint (%v): it ended what ran in the task's container, so its resources are free", why)
	rc.reports = append(rc.reports, func(ctx actor.Context) {
		a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_AGENT_RESTARTED, text, nil)
	})
}

// recoverTask takes back a task from its checkpoint: re-attached if it
// still runs, else reported as it ended once what it left is ended.
func (a *agent) recoverTask(rc *recovery, cp *messages.TaskCheckpoint, sandbox string) {
	t := cp.Run.Task
	key := taskKey{cp.Run.Framework.GetId().GetValue(), t.GetTaskId().GetValue()}
	run := &taskRun{key: key, msg: cp.Run, info: t, framework: cp.Run.Framework, role: cp.Run.Role, revocable: cp.Run.Revocable,
		state: cp.State, sandbox: sandbox, killing: cp.Killing, killReason: cp.KillReason, grace: DefaultKillGrace}
	if g := t.GetKillPolicy().GetGracePeriodNanos(); g > 0 {
		run.grace = time.Duration(g)
	}
	a.tasks[key] = run
	a.cfg.Metrics.task(run, 0, run.state)
	a.rejoinGroup(rc, run)
	for _, up := range cp.Pending {
		a.updates.push(key, up) // sent once registered
	}
	if messages.IsTerminal(run.state) {
		return // only its updates are left to deliver
	}
	if e := t.GetExecutor(); e != nil {
		if ex, ok := a.executors[executorKey{key.framework, e.GetExecutorId().GetValue()}]; ok {
			ex.tasks[key] = run // its executor re-registers with it, or fails it
			return
		}
	}
	if t.GetContainer().GetType() == messages.ContainerInfo_DOCKER {
		if r, ok := a.cfg.Docker.(containerizer.Reattacher); ok {
			a.recovering++
			sys, self, id := a.sys, a.self, containerID(key)
			a.bg.run(func(ctx context.Context) {
				c, err := r.Reattach(ctx, id, sandbox)
				sys.Root.Send(self, dockerReattached{key: key, container: c, err: err})
			})
			return
		}
	}
	if c, ok := containerizer.Attach(a.bg.ctx, int(cp.Pid), cp.StartTime, sandbox); ok {
		run.container = c
		sys, self, destroy := a.sys, a.self, a.destroyer(containerID(key), sandbox, a.cfg.Containerizer)
		a.bg.run(func(ctx context.Context) {
			ex, err := c.Wait(ctx)
			if err != nil {
				return // the agent stops
			}
			destroy(ctx) // the run that created its container is gone
			sys.Root.Send(self, taskExited{key: key, exit: ex})
		})
		a.log.Info("re-attached to a task that kept running while the agent was down", "task_id", key.task, "pid", cp.Pid)
		a.startHealthCheck(run) // anew: its grace period starts again
		a.startCheck(run)
		return
	}
	// Not running as recorded: what it left (children, or the task itself
	// when its PID was never recorded) is ended before it is reported.
	rc.destroy = append(rc.destroy, a.destroyer(containerID(key), sandbox, a.cfg.Containerizer))
	if ex, ok := containerizer.RecordedExit(sandbox); ok && cp.Pid > 0 {
		rc.reports = append(rc.reports, func(ctx actor.Context) {
			a.log.Info("a task ended while the agent was down", "task_id", key.task, "exit_code", ex.Code)
			a.handleExited(ctx, taskExited{key: key, exit: ex})
		})
		return
	}
	why := "the task ended while the agent was down and its exit code is unknown"
	switch {
	case t.Executor != nil:
		why = "its executor ended while the agent was down"
		if s, ok := rc.stopped[executorKey{key.framework, t.Executor.GetExecutorId().GetValue()}]; ok {
			why = s
		}
	case cp.Pid == 0:
		why = "the agent restarted before the task's process was recorded; the agent ended what it may have started"
	}
	rc.reports = append(rc.reports, func(ctx actor.Context) { a.taskLost(ctx, run, why) })
}

func (a *agent) taskLost(ctx actor.Context, run *taskRun, why string) {
	a.log.Warn("task lost across an agent restart", "task_id", run.key.task, "why", why)
	a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_AGENT_RESTARTED, why, nil)
}

// dockerReattached reports the search for a recovered Docker task's
// container.
type dockerReattached struct {
	key       taskKey
	container containerizer.Container
	err       error
}

// handleDockerReattached follows a recovered Docker task again, or fails
// it if its container is gone; the last answer starts registration.
func (a *agent) handleDockerReattached(ctx actor.Context, msg dockerReattached) {
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
		a.startHealthCheck(run)
		a.startCheck(run)
	}
	a.recovered(ctx)
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

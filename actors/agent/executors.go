package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/agora-sched/agora/runtime/fetcher"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/checkpoint"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// Custom executors. A task with an ExecutorInfo runs in its framework's
// executor: a process the agent starts (with the executor's command) the
// first time a task names it, which registers back over proto.actor
// (actors/executor) and is then sent its tasks; several tasks share one
// executor. The executor reports its tasks' states; the agent forwards
// them reliably, as its own. An executor that does not register within
// ExecutorRegistrationTimeout is killed; one that exits ends its
// unfinished tasks (TASK_FAILED, REASON_EXECUTOR_TERMINATED); one with no
// task left is told to shut down.
//
// Executors outlive the agent, as tasks do: each is checkpointed in its
// sandbox (.agora-executor: its process and, once registered, its actor),
// and a restarted agent that finds it still running asks it to re-register
// (ReconnectExecutor). It answers with the tasks it still runs and the
// status updates this agent had not acknowledged (ExecutorStatusAcknowledged
// follows each update once it is in the agent's reliable queue). One that
// does not answer within the registration timeout is killed and its tasks
// fail (REASON_EXECUTOR_REREGISTRATION_TIMEOUT).

// DefaultExecutorRegistrationTimeout is Mesos' default.
const DefaultExecutorRegistrationTimeout = time.Minute

// ExecutorShutdownGracePeriod is how long an executor told to shut down
// (its framework's SHUTDOWN call) has to end its tasks and exit before the
// agent kills it; Mesos' default, and what MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD
// tells Mesos executors.
const ExecutorShutdownGracePeriod = 5 * time.Second

type executorKey struct{ framework, executor string }

type executorRun struct {
	key       executorKey
	info      *messages.ExecutorInfo
	framework *messages.FrameworkInfo
	pid       *actor.PID // set once registered
	// ready: told it is registered, which follows the checkpoint naming
	// its pid; until then its tasks queue.
	ready     bool
	container containerizer.Container
	// ctr runs its container: the agent's containerizer, or Docker for an
	// executor in a Docker container (docker_executors.go: docker).
	ctr    containerizer.Containerizer
	docker bool
	// reconnecting: recovered from an earlier run of the agent, waiting
	// for its ReregisterExecutor; reconnectTo is the actor it had
	// registered, which is asked to.
	reconnecting bool
	reconnectTo  *actor.PID
	queued       []*taskRun // waiting for registration
	tasks        map[taskKey]*taskRun
	// role is the role its resources were allocated to (its first
	// task's), reported to the master on re-registration.
	role string
	// exitStatus is how its process ended (exit code, 128+N for signal
	// N), -1 while unknown, and exitSignal that N (0: none): told to the
	// master in ExecutorExited.
	exitStatus, exitSignal int32
	// resizing: its container's limits are being written; resizeAgain:
	// its tasks changed meanwhile, so they are written once more after.
	resizing, resizeAgain bool
}

type (
	executorLaunched struct {
		key       executorKey
		container containerizer.Container
		err       error
	}
	executorExited struct {
		key  executorKey
		exit containerizer.Exit
	}
	executorTimeout struct{ key executorKey }
	// executorShutdownDue: the grace period of an executor told to shut
	// down is over. run tells that executor from a later one of the same
	// ID.
	executorShutdownDue struct {
		key executorKey
		run *executorRun
	}
)

// recoveredExecutor is an executor an earlier run of the agent started that still
// runs and can be asked to re-register.
type recoveredExecutor struct {
	key executorKey
	cp  *messages.ExecutorCheckpoint
	c   containerizer.Container
}

// runOnExecutor hands a task to its executor, starting the executor the
// first time.
func (a *agent) runOnExecutor(ctx actor.Context, run *taskRun) {
	info := run.info.Executor
	key := executorKey{run.key.framework, info.GetExecutorId().GetValue()}
	ex, ok := a.executors[key]
	if !ok {
		sandbox, err := a.executorSandbox(key)
		if err == nil && info.GetCommand().GetValue() == "" {
			err = errors.New("executor without a command")
		}
		var ctr containerizer.Containerizer
		var container *messages.ContainerInfo
		if err == nil {
			ctr, container, err = a.executorRuntime(info)
		}
		if err != nil {
			a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_CONTAINER_LAUNCH_FAILED, err.Error(), nil)
			return
		}
		ex = &executorRun{key: key, info: info, framework: run.framework, tasks: map[taskKey]*taskRun{}, role: run.role, exitStatus: -1, ctr: ctr, docker: container != nil}
		a.executors[key] = ex
		spec := containerizer.LaunchSpec{ID: executorContainerID(key), Command: info.Command, Container: container, Sandbox: sandbox,
			User: a.userOf(info.Command, run.framework), Ports: executorPorts(info), Env: map[string]string{
				"AGORA_AGENT_ADDRESS": a.self.Address, "AGORA_AGENT_ACTOR": a.self.Id,
				"AGORA_FRAMEWORK_ID": key.framework, "AGORA_EXECUTOR_ID": key.executor, "AGORA_AGENT_ID": a.id(),
			}}
		ex.tasks[run.key] = run
		spec.CPUs, spec.MemMB = ex.limits()
		if info.Mesos {
			a.mesosExecutorEnv(spec.Env, key, sandbox, run.framework)
			if container != nil {
				// Where the container sees its sandbox; MESOS_DIRECTORY
				// stays the host's path (Mesos' executor environment).
				spec.Env["MESOS_SANDBOX"] = containerizer.ContainerSandbox
			}
		}
		// Launched once its checkpoint is on disk, as a task once its
		// STARTING checkpoint is (Mesos checkpoints an executor before it
		// launches it): an agent that dies at any point after the launch
		// then finds the checkpoint when it restarts and ends what the
		// launch may have left running (a Docker container by its label, a
		// process by its sandbox or cgroup; findExecutors), instead of
		// leaving it orphaned. The checkpoint names no process yet; it is
		// rewritten with the process once launched.
		a.checkpointExecutor(ex)
		sys, self, uris, fetch := a.sys, a.self, info.GetCommand().GetUris(), a.cfg.Fetcher
		a.whenDurable(ctx, executorOwner(key), func(actor.Context, error) {
			if a.executors[key] != ex {
				return // ended (killed) before it was launched
			}
			a.bg.run(func(ctx context.Context) {
				c, err := fetchAndLaunch(ctx, ctr, fetch, spec, uris)
				sys.Root.Send(self, executorLaunched{key: key, container: c, err: err})
			})
		})
		a.later(a.executorTimeout(), executorTimeout{key: key})
		if container != nil {
			a.log.Info("launching executor in a Docker container", "framework_id", key.framework, "executor_id", key.executor,
				"image", container.Docker.Image, "network", container.Docker.Network)
		} else {
			a.log.Info("launching executor", "framework_id", key.framework, "executor_id", key.executor)
		}
		ctx.ActorSystem().EventStream.Publish(ExecutorLaunched{FrameworkID: key.framework, ExecutorID: key.executor})
	}
	if _, ok := ex.tasks[run.key]; !ok {
		ex.tasks[run.key] = run
		a.resizeExecutor(ex)
	}
	if grouped := run.msg.GetGroup() != nil && info.GetMesos(); !ex.ready || grouped {
		// A Mesos executor gets a task group in one LAUNCH_GROUP: its
		// tasks queue, and go together once the agent has handled the
		// group (flushExecutor comes after it in the mailbox).
		ex.queued = append(ex.queued, run)
		if ex.ready {
			ctx.Send(ctx.Self(), flushExecutor{key: key})
		}
		return
	}
	ctx.Send(ex.pid, &messages.LaunchTask{Task: proto.Clone(run.info).(*messages.TaskInfo)})
}

// flushExecutor asks the agent to send a registered executor its queued
// tasks (a task group's, queued to go in one LaunchTaskGroup).
type flushExecutor struct{ key executorKey }

func (a *agent) handleFlushExecutor(ctx actor.Context, msg flushExecutor) {
	if ex, ok := a.executors[msg.key]; ok && ex.ready {
		a.launchQueued(ctx, ex)
	}
}

func (a *agent) executorTimeout() time.Duration {
	if a.cfg.ExecutorRegistrationTimeout > 0 {
		return a.cfg.ExecutorRegistrationTimeout
	}
	return DefaultExecutorRegistrationTimeout
}

func (a *agent) handleExecutorLaunched(ctx actor.Context, msg executorLaunched) {
	ex, ok := a.executors[msg.key]
	if !ok {
		if msg.container != nil {
			msg.container.Kill(0)
		}
		return
	}
	if msg.err != nil {
		a.endExecutor(ctx, ex, launchFailure(msg.err), "executor launch failed: "+msg.err.Error())
		return
	}
	ex.container = msg.container
	if !ex.docker { // a Docker executor's checkpoint, by label, is already written
		a.checkpointExecutor(ex) // with its process
	}
	a.watchExecutor(msg.key, msg.container, func(context.Context) {})
	a.resizeExecutor(ex) // tasks that came while it launched
}

// limits is what an executor's container may use: the executor's own
// resources and its live tasks', as Mesos limits an executor's container.
// An executor whose ExecutorInfo names no resources is not limited (0),
// as before executors were accounted: its tasks' resources alone may not
// be enough for the executor's own process.
func (ex *executorRun) limits() (cpus, memMB float64) {
	if len(ex.info.GetResources()) == 0 {
		return 0, 0
	}
	add := func(rs []*messages.Resource) {
		for _, r := range rs {
			switch r.Name {
			case messages.CPUs:
				cpus += r.Scalar
			case messages.Mem:
				memMB += r.Scalar
			}
		}
	}
	add(ex.info.GetResources())
	for _, run := range ex.tasks {
		if !messages.IsTerminal(run.state) {
			add(run.info.GetResources())
		}
	}
	return cpus, memMB
}

// executorResized: an executor's container limits were written (or
// could not be).
type executorResized struct {
	ex          *executorRun
	cpus, memMB float64
	err         error
}

// resizeExecutor writes an executor's limits (ex.limits) into its
// container, off the actor, one write at a time so that the last one
// written is the last one asked for.
func (a *agent) resizeExecutor(ex *executorRun) {
	r, ok := ex.ctr.(containerizer.Resizer)
	if !ok || ex.container == nil || len(ex.info.GetResources()) == 0 {
		return
	}
	if ex.resizing {
		ex.resizeAgain = true
		return
	}
	ex.resizing = true
	cpus, mem := ex.limits()
	sys, self, id := a.sys, a.self, executorContainerID(ex.key)
	a.bg.run(func(ctx context.Context) {
		err := r.Resize(ctx, id, cpus, mem)
		sys.Root.Send(self, executorResized{ex: ex, cpus: cpus, memMB: mem, err: err})
	})
}

func (a *agent) handleExecutorResized(msg executorResized) {
	ex := msg.ex
	ex.resizing = false
	if a.executors[ex.key] != ex {
		return // ended meanwhile
	}
	switch {
	case msg.err == nil:
		a.log.Info("executor's container limits updated", "framework_id", ex.key.framework, "executor_id", ex.key.executor, "cpus", msg.cpus, "mem_mb", msg.memMB)
		a.sys.EventStream.Publish(ExecutorResized{FrameworkID: ex.key.framework, ExecutorID: ex.key.executor, CPUs: msg.cpus, MemMB: msg.memMB})
	case !errors.Is(msg.err, containerizer.ErrNotIsolated):
		a.log.Warn("cannot update an executor's container limits; it keeps its old ones", "framework_id", ex.key.framework, "executor_id", ex.key.executor, "err", msg.err)
	}
	if ex.resizeAgain {
		ex.resizeAgain = false
		a.resizeExecutor(ex)
	}
}

// watchExecutor reports the end of an executor's process as
// executorExited, after cleanup, from a goroutine the agent owns.
func (a *agent) watchExecutor(key executorKey, c containerizer.Container, cleanup func(context.Context)) {
	sys, self := a.sys, a.self
	a.bg.run(func(ctx context.Context) {
		ex, err := c.Wait(ctx)
		if err != nil {
			return // the agent stops
		}
		cleanup(ctx)
		sys.Root.Send(self, executorExited{key: key, exit: ex})
	})
}

// executorSandboxPrefix starts the name of an executor's sandbox, beside
// its framework's task sandboxes.
const executorSandboxPrefix = "executor."

func (a *agent) executorSandbox(key executorKey) (string, error) {
	return containerizer.SandboxPath(a.cfg.WorkDir, key.framework, executorSandboxPrefix+key.executor)
}

// executorContainerID names an executor's container (its cgroup).
func executorContainerID(key executorKey) string {
	return key.framework + containerIDSep + executorSandboxPrefix + key.executor
}

// executorCheckpointPath is where an executor's checkpoint
// (messages.ExecutorCheckpoint) lives, out of its reach as a task's is.
func (a *agent) executorCheckpointPath(key executorKey) string {
	return filepath.Join(a.cfg.WorkDir, metaDir, "frameworks", key.framework, "executors", key.executor+checkpointExt)
}

// checkpointExecutor queues the durable write of the executor's
// checkpoint; whenDurable(executorOwner) waits for it.
func (a *agent) checkpointExecutor(ex *executorRun) {
	// A process is identified by its PID and start time (none before it
	// is launched); a Docker container by its label, which the
	// executor's IDs make. A container that can be found again neither
	// way (a simulated one) keeps the checkpoint written before its
	// launch, which names no process.
	id, ok := ex.container.(containerizer.Identified)
	if a.cfg.WorkDir == "" || ex.container != nil && !ok && !ex.docker {
		return
	}
	var pid int
	var start uint64
	if ok {
		pid, start = id.Identity()
	}
	cp := &messages.ExecutorCheckpoint{Info: ex.info, Framework: ex.framework, Pid: int64(pid), StartTime: start, Executor: ex.pid, Role: ex.role}
	_, err := a.executorSandbox(ex.key)
	var b []byte
	if err == nil {
		b, err = checkpoint.MarshalMessage(cp)
	}
	if err != nil {
		a.log.Error("cannot checkpoint executor; it would not be recovered if the agent restarts", "executor_id", ex.key.executor, "err", err)
		return
	}
	a.persist(executorOwner(ex.key), a.executorCheckpointPath(ex.key), b)
}

// findExecutors reads the executor checkpoints an earlier run of the agent
// left. Those still running and registered then are returned, to be asked
// to re-register; the others are ended with the recovery (rc.destroy:
// waiting for a process to die is done off the actor) and forgotten, and
// rc.stopped says why. So is an executor of a framework in lostIn (a task
// checkpoint of the framework is unreadable, and the task may run in it).
func (a *agent) findExecutors(rc *recovery, lostIn map[string]bool) []recoveredExecutor {
	var found []recoveredExecutor
	files, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, metaDir, "frameworks", "*", "executors", "*"+checkpointExt))
	for _, f := range files {
		key := executorKey{filepath.Base(filepath.Dir(filepath.Dir(f))), strings.TrimSuffix(filepath.Base(f), checkpointExt)}
		sandbox, err := a.executorSandbox(key)
		if err != nil {
			a.log.Error("a checkpoint the agent cannot have written; ignoring it", "path", f, "err", err)
			continue
		}
		cp := &messages.ExecutorCheckpoint{}
		err = checkpoint.ReadMessage(f, cp)
		if err == nil && (cp.Info.GetExecutorId().GetValue() != key.executor || cp.Framework.GetId().GetValue() != key.framework) {
			err = fmt.Errorf("it names executor %s of framework %s", cp.Info.GetExecutorId().GetValue(), cp.Framework.GetId().GetValue())
		}
		var c containerizer.Container
		alive := false
		// What ends what it left: for an unreadable checkpoint, whichever
		// kind of container it had.
		ctrs := []containerizer.Containerizer{a.cfg.Containerizer, a.cfg.Docker}
		switch {
		case err == nil && dockerCheckpoint(cp):
			// Asked of the engine once adopted (reattachExecutor).
			alive, ctrs = a.cfg.Docker != nil, ctrs[1:]
		case err == nil:
			c, alive = containerizer.Attach(a.bg.ctx, int(cp.Pid), cp.StartTime, sandbox)
			ctrs = ctrs[:1]
		}
		why := ""
		switch {
		case err != nil:
			a.log.Error("unreadable executor checkpoint; ending what runs in its container", "path", f, "err", err)
			why = fmt.Sprintf("the agent restarted and could not read its executor's checkpoint (%v): it ended the executor", err)
		case alive && lostIn[key.framework]:
			a.log.Warn("stopping an executor: a task checkpoint of its framework is unreadable, and the task may run in it", "executor_id", key.executor)
			why = "the agent restarted and could not read a task checkpoint of this framework: it ended the executor, which may have run that task"
		case alive && !messages.Checkpointing(cp.Framework):
			// Mesos' agent neither recovers nor waits for such an executor
			// (told MESOS_CHECKPOINT=0, a Mesos executor exits by itself).
			a.log.Info("stopping an executor: its framework does not checkpoint", "executor_id", key.executor)
			why = "the agent restarted and the framework does not checkpoint: it ended the executor"
		case alive && cp.Executor != nil:
			found = append(found, recoveredExecutor{key: key, cp: cp, c: c})
			continue
		case alive:
			a.log.Warn("an executor the previous run started had not registered; stopping it", "executor_id", key.executor)
			why = "the agent restarted before its executor registered: it ended the executor"
		case dockerCheckpoint(cp):
			why = "the agent restarted without a Docker engine, and its executor ran in a Docker container"
		case err == nil && cp.Pid == 0:
			why = "the agent restarted before its executor's process was recorded: it ended what the launch may have started"
		default:
			why = "its executor ended while the agent was down" // its group and checkpoint go
		}
		rc.stopped[key] = why
		destroy := a.destroyer(executorContainerID(key), sandbox, ctrs...)
		rc.destroy = append(rc.destroy, func(ctx context.Context) {
			if c != nil {
				c.Kill(0)
				if _, err := c.Wait(ctx); err != nil {
					return // the agent stops; its next run ends it
				}
			}
			destroy(ctx)
			_ = checkpoint.Remove(f)
		})
	}
	return found
}

// reconnectExecutors adopts the executors findExecutors found, with the
// tasks recovered for them, and asks each to re-register.
func (a *agent) reconnectExecutors(ctx actor.Context, found []recoveredExecutor) {
	for _, r := range found {
		ex, ok := a.executors[r.key]
		switch {
		case !ok:
		case ex.docker:
			a.reattachExecutor(ex) // then reconnected
		default:
			// Its container goes with it: the run that created it is gone.
			sandbox, _ := a.executorSandbox(r.key)
			a.reconnectExecutor(ctx, ex, a.destroyer(executorContainerID(r.key), sandbox, a.cfg.Containerizer))
		}
	}
}

// reconnectExecutor follows a recovered executor's container (cleanup
// runs once it ended) and asks the executor to re-register.
func (a *agent) reconnectExecutor(ctx actor.Context, ex *executorRun, cleanup func(context.Context)) {
	a.log.Info("asking an executor that kept running to re-register", "framework_id", ex.key.framework, "executor_id", ex.key.executor, "tasks", len(ex.tasks))
	ctx.Send(ex.reconnectTo, &messages.ReconnectExecutor{AgentId: a.agentID(), Agent: a.self})
	a.later(a.executorTimeout(), executorTimeout{key: ex.key})
	a.watchExecutor(ex.key, ex.container, cleanup)
}

func (a *agent) handleReregisterExecutor(ctx actor.Context, msg *messages.ReregisterExecutor) {
	key := executorKey{msg.GetFrameworkId().GetValue(), msg.GetExecutorId().GetValue()}
	ex, ok := a.executors[key]
	if ok && !ex.reconnecting && msg.Mesos {
		a.handleRegisterExecutor(ctx, &messages.RegisterExecutor{FrameworkId: msg.FrameworkId, ExecutorId: msg.ExecutorId, Pid: msg.Pid})
		return
	}
	if !ok || !ex.reconnecting || msg.Pid == nil {
		a.log.Warn("re-registration from an executor this agent is not waiting for; telling it to shut down", "executor_id", key.executor)
		if msg.Pid != nil {
			ctx.Send(msg.Pid, &messages.ShutdownExecutor{})
		}
		return
	}
	ex.pid, ex.reconnecting = msg.Pid, false
	a.checkpointExecutor(ex)
	// Told it is registered once the checkpoint naming it is on disk: a
	// restarted agent must be able to find every executor it talked to.
	a.whenDurable(ctx, executorOwner(key), func(ctx actor.Context, _ error) { a.executorReregistered(ctx, ex, msg) })
}

func (a *agent) executorReregistered(ctx actor.Context, ex *executorRun, msg *messages.ReregisterExecutor) {
	if a.executors[ex.key] != ex {
		return // ended meanwhile
	}
	ex.ready = true
	ctx.Send(ex.pid, a.executorRegistered(ex))
	// What happened while the agent was down, in the order it happened.
	for _, up := range msg.Unacknowledged {
		a.handleExecutorStatus(ctx, up)
	}
	runs := map[string]bool{}
	for _, id := range msg.Tasks {
		runs[id.GetValue()] = true
	}
	for _, run := range a.sortedTasks() {
		if _, mine := ex.tasks[run.key]; !mine || runs[run.key.task] || messages.IsTerminal(run.state) || msg.Mesos {
			continue
		}
		delete(ex.tasks, run.key)
		a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_EXECUTOR_TERMINATED,
			"its executor no longer runs it after the agent restarted", nil)
	}
	a.launchQueued(ctx, ex) // launched here while it reconnected
	a.log.Info("executor re-registered", "framework_id", ex.key.framework, "executor_id", ex.key.executor, "tasks", len(ex.tasks),
		"unacknowledged_updates", len(msg.Unacknowledged))
	if len(ex.tasks) == 0 {
		ctx.Send(ex.pid, &messages.ShutdownExecutor{})
	}
}

// executorRegistered is what tells an executor it is registered: copies,
// not the agent's own records.
func (a *agent) executorRegistered(ex *executorRun) *messages.ExecutorRegistered {
	return &messages.ExecutorRegistered{Framework: proto.Clone(ex.framework).(*messages.FrameworkInfo),
		Executor: proto.Clone(ex.info).(*messages.ExecutorInfo), AgentId: a.agentID()}
}

// launchQueued sends a registered executor the tasks that waited for it.
// A Mesos executor gets each task group's tasks in one LaunchTaskGroup
// (its LAUNCH_GROUP event); an Agora executor (the SDK in actors/executor)
// gets them task by task.
func (a *agent) launchQueued(ctx actor.Context, ex *executorRun) {
	var group *messages.LaunchTaskGroup
	var groupOf string // the group's first task
	flush := func() {
		if group != nil {
			ctx.Send(ex.pid, group)
			group = nil
		}
	}
	for _, run := range ex.queued {
		if messages.IsTerminal(run.state) {
			continue
		}
		task := proto.Clone(run.info).(*messages.TaskInfo)
		if g := run.msg.GetGroup(); g != nil && ex.info.GetMesos() {
			if first := g.GetTaskIds()[0].GetValue(); group == nil || first != groupOf {
				flush()
				group = &messages.LaunchTaskGroup{Executor: proto.Clone(ex.info).(*messages.ExecutorInfo), TaskGroup: &messages.TaskGroupInfo{}}
				groupOf = first
			}
			task.Executor = nil // in the group's executor, as Mesos gives it
			group.TaskGroup.Tasks = append(group.TaskGroup.Tasks, task)
			continue
		}
		flush()
		ctx.Send(ex.pid, &messages.LaunchTask{Task: task})
	}
	flush()
	ex.queued = nil
}

func (a *agent) handleRegisterExecutor(ctx actor.Context, msg *messages.RegisterExecutor) {
	key := executorKey{msg.GetFrameworkId().GetValue(), msg.GetExecutorId().GetValue()}
	ex, ok := a.executors[key]
	if !ok || msg.Pid == nil {
		a.log.Warn("registration from an executor this agent did not start; telling it to shut down", "executor_id", key.executor)
		if msg.Pid != nil {
			ctx.Send(msg.Pid, &messages.ShutdownExecutor{})
		}
		return
	}
	ex.pid = msg.Pid
	a.checkpointExecutor(ex)
	a.whenDurable(ctx, executorOwner(key), func(ctx actor.Context, _ error) {
		if a.executors[key] != ex {
			return // ended meanwhile
		}
		ex.ready = true
		ctx.Send(ex.pid, a.executorRegistered(ex))
		a.launchQueued(ctx, ex)
		a.log.Info("executor registered", "framework_id", key.framework, "executor_id", key.executor, "tasks", len(ex.tasks))
		if len(ex.tasks) == 0 { // its tasks were killed before it registered
			ctx.Send(ex.pid, &messages.ShutdownExecutor{})
		}
	})
}

func (a *agent) handleExecutorStatus(ctx actor.Context, msg *messages.ExecutorStatusUpdate) {
	key := taskKey{msg.GetFrameworkId().GetValue(), msg.GetStatus().GetTaskId().GetValue()}
	exKey := executorKey{key.framework, msg.GetExecutorId().GetValue()}
	ex := a.executors[exKey]
	if ex != nil && ex.pid != nil && len(msg.Uuid) > 0 {
		// Acknowledged once handled below and on disk: a.update queues
		// the agent's own reliable update and its checkpoint first.
		pid, ack := ex.pid, &messages.ExecutorStatusAcknowledged{TaskId: proto.Clone(msg.GetStatus().GetTaskId()).(*messages.TaskID), Uuid: msg.Uuid}
		defer a.whenDurable(ctx, taskOwner(key), func(ctx actor.Context, _ error) { ctx.Send(pid, ack) })
	}
	run, ok := a.tasks[key]
	if !ok || messages.IsTerminal(run.state) {
		return
	}
	st := msg.Status
	if st.State == run.state {
		return // a resend of what the agent already has (re-registration)
	}
	var code *int32
	if st.ExitCode != nil {
		code = proto.Int32(st.GetExitCode())
	}
	reason := st.Reason
	if run.killing && st.State == messages.TaskState_TASK_KILLED {
		reason = run.killReason
	}
	a.update(ctx, run, st.State, reason, st.Message, code)
	if messages.IsTerminal(st.State) {
		if ex != nil {
			delete(ex.tasks, key)
			a.resizeExecutor(ex)
			if len(ex.tasks) == 0 && ex.ready {
				ctx.Send(ex.pid, &messages.ShutdownExecutor{})
			}
		}
	}
}

func (a *agent) handleExecutorTimeout(ctx actor.Context, msg executorTimeout) {
	ex, ok := a.executors[msg.key]
	if !ok || ex.pid != nil && !ex.reconnecting {
		return
	}
	if ex.reconnecting {
		a.log.Warn("executor did not re-register with the restarted agent in time; killing it", "executor_id", msg.key.executor, "timeout", a.executorTimeout())
		a.endExecutor(ctx, ex, messages.TaskStatusReason_REASON_EXECUTOR_REREGISTRATION_TIMEOUT,
			"the executor did not re-register with the restarted agent within "+a.executorTimeout().String())
		return
	}
	a.log.Warn("executor did not register in time; killing it", "executor_id", msg.key.executor, "timeout", a.executorTimeout())
	a.endExecutor(ctx, ex, messages.TaskStatusReason_REASON_EXECUTOR_REGISTRATION_TIMEOUT,
		"the executor did not register within "+a.executorTimeout().String())
}

func (a *agent) handleExecutorExited(ctx actor.Context, msg executorExited) {
	ex, ok := a.executors[msg.key]
	if !ok {
		return
	}
	ex.exitStatus = int32(msg.exit.Code)
	if msg.exit.Signal != "" && msg.exit.Code > 128 {
		ex.exitSignal = int32(msg.exit.Code - 128)
	}
	a.endExecutor(ctx, ex, messages.TaskStatusReason_REASON_EXECUTOR_TERMINATED, "the executor "+msg.exit.Describe())
}

// endExecutor forgets an executor, kills it if it runs, and fails the
// tasks it had not finished.
func (a *agent) endExecutor(ctx actor.Context, ex *executorRun, reason messages.TaskStatusReason, why string) {
	a.log.Warn("executor ended; its unfinished tasks fail", "executor_id", ex.key.executor, "why", why)
	if ex.container != nil {
		ex.container.Kill(0)
	}
	for _, run := range a.sortedTasks() {
		if _, mine := ex.tasks[run.key]; !mine || messages.IsTerminal(run.state) {
			continue
		}
		state, r := messages.TaskState_TASK_FAILED, reason
		if run.killing { // a killed task's own reason, not the next task's
			state, r = messages.TaskState_TASK_KILLED, run.killReason
		}
		a.update(ctx, run, state, r, why, nil)
	}
	// Forgotten after its tasks' updates, so that those do not tell the
	// master of its end too (executorNeverRan).
	delete(a.executors, ex.key)
	// The master frees the executor's resources (Mesos'
	// ExitedExecutorMessage). Best effort: a master that misses it learns
	// which executors still run from the agent's next re-registration.
	if a.cfg.Master != nil && a.id() != "" {
		ctx.Send(a.cfg.Master, &messages.ExecutorExited{FrameworkId: &messages.FrameworkID{Value: ex.key.framework},
			ExecutorId: &messages.ExecutorID{Value: ex.key.executor}, AgentId: a.agentID(), Status: ex.exitStatus, Signal: ex.exitSignal, Message: why})
	}
	ctx.ActorSystem().EventStream.Publish(ExecutorEnded{FrameworkID: ex.key.framework, ExecutorID: ex.key.executor})
}

// executorNeverRan tells the master that the executor of a task that
// ended before it was started (its launch failed, or it was killed first)
// does not run here: the master charged its resources with the task's
// launch, and only an executor's end frees them.
func (a *agent) executorNeverRan(ctx actor.Context, run *taskRun) {
	info := run.info.GetExecutor()
	if info == nil || a.cfg.Master == nil || a.id() == "" {
		return
	}
	if _, runs := a.executors[executorKey{run.key.framework, info.GetExecutorId().GetValue()}]; runs {
		return
	}
	ctx.Send(a.cfg.Master, &messages.ExecutorExited{FrameworkId: &messages.FrameworkID{Value: run.key.framework},
		ExecutorId: proto.Clone(info.GetExecutorId()).(*messages.ExecutorID), AgentId: a.agentID(), Status: -1,
		Message: "its task ended before the executor was started"})
}

// runningExecutors is what a re-registration reports of the executors
// this agent runs: copies, with their framework and role.
func (a *agent) runningExecutors() []*messages.RunningExecutor {
	var out []*messages.RunningExecutor
	for _, k := range slices.SortedFunc(maps.Keys(a.executors), func(x, y executorKey) int {
		return cmp.Or(cmp.Compare(x.framework, y.framework), cmp.Compare(x.executor, y.executor))
	}) {
		ex := a.executors[k]
		info := proto.Clone(ex.info).(*messages.ExecutorInfo)
		info.FrameworkId = &messages.FrameworkID{Value: k.framework}
		out = append(out, &messages.RunningExecutor{Info: info, Role: ex.role})
	}
	return append(out, a.runningGroupExecutors()...)
}

// handleKillExecutor shuts one of a framework's executors down at its
// request (Mesos' SHUTDOWN call): its unfinished tasks are being killed
// (TASK_KILLED, REASON_EXECUTOR_TERMINATED, whether the executor reports
// them or the agent does when it ends). A registered executor is told to
// shut down and killed if it still runs after the grace period; one that
// has not registered yet is killed at once.
func (a *agent) handleKillExecutor(ctx actor.Context, msg *messages.KillExecutor) {
	key := executorKey{msg.GetFrameworkId().GetValue(), msg.GetExecutorId().GetValue()}
	ex, ok := a.executors[key]
	if !ok && a.shutdownGroups(ctx, key) {
		return
	}
	if !ok {
		a.log.Info("asked to shut down an executor not running here; nothing to do", "framework_id", key.framework, "executor_id", key.executor)
		return
	}
	for _, run := range ex.tasks {
		if !run.killing {
			run.killing, run.killReason = true, messages.TaskStatusReason_REASON_EXECUTOR_TERMINATED
		}
	}
	if !ex.ready {
		a.endExecutor(ctx, ex, messages.TaskStatusReason_REASON_EXECUTOR_TERMINATED, "its framework shut the executor down before it registered")
		return
	}
	a.log.Info("framework shuts an executor down", "framework_id", key.framework, "executor_id", key.executor, "tasks", len(ex.tasks))
	// Armed before the executor hears of it, so whoever sees the
	// executor told knows the grace period runs.
	a.later(ExecutorShutdownGracePeriod, executorShutdownDue{key: key, run: ex})
	ctx.Send(ex.pid, &messages.ShutdownExecutor{})
}

func (a *agent) handleExecutorShutdownDue(ctx actor.Context, msg executorShutdownDue) {
	if ex, ok := a.executors[msg.key]; ok && ex == msg.run {
		a.endExecutor(ctx, ex, messages.TaskStatusReason_REASON_EXECUTOR_TERMINATED,
			"the executor did not exit within "+ExecutorShutdownGracePeriod.String()+" of being told to shut down")
	}
}

// killOnExecutor asks the task's executor to kill it.
func (a *agent) killOnExecutor(ctx actor.Context, run *taskRun, msg *messages.KillTask) bool {
	if run.info.GetExecutor() == nil {
		return false
	}
	ex, ok := a.executors[executorKey{run.key.framework, run.info.Executor.GetExecutorId().GetValue()}]
	switch {
	case !ok:
		a.update(ctx, run, messages.TaskState_TASK_KILLED, run.killReason, "killed before its executor started", nil)
	case !ex.ready:
		a.update(ctx, run, messages.TaskState_TASK_KILLED, run.killReason, "killed before its executor registered", nil)
		delete(ex.tasks, run.key)
		a.resizeExecutor(ex)
	default:
		ctx.Send(ex.pid, msg)
	}
	return true
}

// fetchAndLaunch fetches a command's files into its sandbox, then
// launches it (off the actor: both touch the disk or the network). Files
// are cached per the user the command runs as.
func fetchAndLaunch(ctx context.Context, ctr containerizer.Containerizer, fetch fetcher.Config, spec containerizer.LaunchSpec, uris []*messages.CommandInfo_URI) (containerizer.Container, error) {
	if len(uris) > 0 {
		fetch.User = spec.User
		if err := fetcher.Fetch(ctx, fetch, uris, spec.Sandbox); err != nil {
			return nil, err
		}
	}
	return ctr.Launch(ctx, spec)
}

// launchFailure is the reason a failed launch ends its tasks with.
func launchFailure(err error) messages.TaskStatusReason {
	switch {
	case errors.Is(err, fetcher.ErrFailed):
		return messages.TaskStatusReason_REASON_FETCHER_FAILED
	case errors.Is(err, containerizer.ErrImageNotFound):
		return messages.TaskStatusReason_REASON_IMAGE_NOT_FOUND
	}
	return messages.TaskStatusReason_REASON_CONTAINER_LAUNCH_FAILED
}

// mesosExecutorEnv adds the environment Mesos gives an executor, which a
// Mesos executor reads to find its agent's v1 executor API.
func (a *agent) mesosExecutorEnv(env map[string]string, key executorKey, sandbox string, framework *messages.FrameworkInfo) {
	env["MESOS_FRAMEWORK_ID"], env["MESOS_EXECUTOR_ID"] = key.framework, key.executor
	env["MESOS_AGENT_ID"], env["MESOS_SLAVE_ID"] = a.id(), a.id()
	env["MESOS_DIRECTORY"], env["MESOS_SANDBOX"] = sandbox, sandbox
	env["MESOS_AGENT_ENDPOINT"] = a.info.GetHttpAddress()
	env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] = fmt.Sprintf("%dsecs", int(ExecutorShutdownGracePeriod/time.Second))
	// With checkpointing (the framework's, messages.Checkpointing: unset
	// means yes; and a work dir to recover from), the executor outlives an
	// agent restart and subscribes again, retrying for as long as the
	// restarted agent waits for it (the executor registration timeout).
	// Without, it exits with its agent, which would end it anyway.
	env["MESOS_CHECKPOINT"] = "0"
	if messages.Checkpointing(framework) && a.cfg.WorkDir != "" {
		env["MESOS_CHECKPOINT"] = "1"
		env["MESOS_RECOVERY_TIMEOUT"] = fmt.Sprintf("%dsecs", int64(a.executorTimeout().Seconds()))
		env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = "2secs" // Mesos' default
	}
}

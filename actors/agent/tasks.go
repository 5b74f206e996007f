package agent

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/runtime/healthcheck"
	"github.com/asynkron/protoactor-go/actor"
)

type taskKey struct{ framework, task string }

func (k taskKey) compare(o taskKey) int {
	if c := strings.Compare(k.framework, o.framework); c != 0 {
		return c
	}
	return strings.Compare(k.task, o.task)
}

// sortedTasks are the agent's tasks in key order: what it sends while
// walking them must not follow Go's random map order, so that a
// simulation replays from its seed.
func (a *agent) sortedTasks() []*taskRun {
	keys := make([]taskKey, 0, len(a.tasks))
	for k := range a.tasks {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, taskKey.compare)
	runs := make([]*taskRun, len(keys))
	for i, k := range keys {
		runs[i] = a.tasks[k]
	}
	return runs
}

// DefaultKillGrace is the time between SIGTERM and SIGKILL when neither the
// kill nor the task names one.
const DefaultKillGrace = 3 * time.Second

// taskRun is the agent's record of one task.
type taskRun struct {
	key       taskKey
	msg       *messages.RunTask // as received: checkpointed for recovery
	info      *messages.TaskInfo
	framework *messages.FrameworkInfo
	role      string
	revocable bool
	state     messages.TaskState
	container containerizer.Container
	sandbox   string
	killing   bool
	grace     time.Duration
	// killReason is reported in TASK_KILLING and TASK_KILLED: killed by
	// the framework, or preempted by the master.
	killReason messages.TaskStatusReason
	// health is the task's health check policy while it is checked; its
	// last verdict goes out with every update (healthy). killWhy, when
	// set, says why the agent itself killed the task.
	health  *healthcheck.Checker
	killWhy string
	// check is the task's check (CheckInfo) policy while it is checked;
	// its last result goes out with every update (check_status).
	check *healthcheck.Watch
	// limitation, when set, says why the agent killed the task for its
	// disk: it ends TASK_FAILED with REASON_CONTAINER_LIMITATION_DISK.
	limitation string
	// group is the task group the task runs in (default executor), or nil.
	group *taskGroup
}

// Messages from launch and wait goroutines back to the agent actor.
type (
	taskLaunched struct {
		key       taskKey
		container containerizer.Container
		err       error
	}
	taskExited struct {
		key  taskKey
		exit containerizer.Exit
	}
	// retryDue: the agent's resend timer armed for at fired (armRetry).
	retryDue struct{ at time.Time }
	// flushUpdates: the agent's turn to send the updates it holds.
	flushUpdates struct{}
)

func (a *agent) handleRunTask(ctx actor.Context, msg *messages.RunTask) {
	if e := msg.MasterEpoch; e < a.epoch {
		a.log.Warn("ignoring RunTask from a deposed master", "epoch", e, "seen", a.epoch)
		return
	}
	if run := a.admitTask(ctx, msg); run != nil {
		a.startOrWait(ctx, run)
	}
}

// admitTask records a task the master sent, or returns nil when it cannot
// start (a second RunTask for it; a sandbox path its IDs make invalid,
// then it has ended TASK_ERROR).
func (a *agent) admitTask(ctx actor.Context, msg *messages.RunTask) *taskRun {
	t := msg.GetTask()
	key := taskKey{msg.GetFramework().GetId().GetValue(), t.GetTaskId().GetValue()}
	if _, dup := a.tasks[key]; dup {
		a.log.Warn("ignoring a second RunTask for a task already here", "framework_id", key.framework, "task_id", key.task)
		return nil
	}
	run := &taskRun{key: key, msg: msg, info: t, framework: msg.Framework, role: msg.Role, revocable: msg.Revocable, state: messages.TaskState_TASK_STAGING, grace: DefaultKillGrace}
	if g := t.GetKillPolicy().GetGracePeriodNanos(); g > 0 {
		run.grace = time.Duration(g)
	}
	a.tasks[key] = run
	a.cfg.Metrics.task(run, 0, run.state)
	sandbox, err := containerizer.SandboxPath(a.cfg.WorkDir, key.framework, key.task)
	if err != nil {
		a.update(ctx, run, messages.TaskState_TASK_ERROR, messages.TaskStatusReason_REASON_SANDBOX_INVALID, err.Error(), nil)
		return nil
	}
	run.sandbox = sandbox
	return run
}

// startOrWait starts an admitted task, or has it wait while an earlier
// task of the same ID is garbage-collected from its sandbox.
func (a *agent) startOrWait(ctx actor.Context, run *taskRun) {
	if waiting, ok := a.removing[run.sandbox]; ok {
		// An earlier task of the same ID is being garbage-collected from
		// this sandbox: start once it is gone, or the removal would take
		// the new task's files.
		a.removing[run.sandbox] = append(waiting, func(ctx actor.Context) { a.startTask(ctx, run) })
		return
	}
	a.startTask(ctx, run)
}

// startTask hands an accepted task to its executor or containerizer.
func (a *agent) startTask(ctx actor.Context, run *taskRun) {
	key, t := run.key, run.info
	if a.tasks[key] != run || messages.IsTerminal(run.state) {
		return // ended while its sandbox was being cleared
	}
	ctr := a.cfg.Containerizer
	if err := a.checkVolumes(t); err != nil {
		a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_CONTAINER_LAUNCH_FAILED, err.Error(), nil)
		return
	}
	if run.group != nil && run.group.ending {
		// Its group ended before it started: it never runs.
		a.update(ctx, run, messages.TaskState_TASK_KILLED, run.killReason, run.killWhy, nil)
		return
	}
	if run.group != nil && run.group.holdForNetwork(run) {
		return // started once its group's first Docker task runs
	}
	switch {
	case t.Executor != nil:
		a.runOnExecutor(ctx, run)
		return
	case t.GetContainer().GetType() == messages.ContainerInfo_DOCKER && a.cfg.Docker == nil:
		a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_CONTAINER_LAUNCH_FAILED,
			"this agent has no Docker engine: run Docker tasks on agents that do", nil)
		return
	case t.GetContainer().GetType() == messages.ContainerInfo_DOCKER:
		ctr = a.cfg.Docker
	}
	spec := a.launchSpec(run)
	a.update(ctx, run, messages.TaskState_TASK_STARTING, messages.TaskStatusReason_REASON_UNSPECIFIED, "", nil)
	// Launched once the STARTING checkpoint is on disk (at once without a
	// work dir), so that a restarted agent knows of every task it may have
	// started. Launching touches the disk and forks: off the actor, back as
	// a message, unless the containerizer launches instantly.
	a.whenDurable(ctx, taskOwner(key), func(ctx actor.Context, _ error) {
		if _, ok := ctr.(containerizer.Instant); ok && len(t.GetCommand().GetUris()) == 0 {
			c, err := ctr.Launch(a.bg.ctx, spec)
			a.handleLaunched(ctx, taskLaunched{key: key, container: c, err: err})
			return
		}
		sys, self, uris, fetch := a.sys, a.self, t.GetCommand().GetUris(), a.cfg.Fetcher
		a.bg.run(func(bctx context.Context) {
			c, err := fetchAndLaunch(bctx, ctr, fetch, spec, uris)
			sys.Root.Send(self, taskLaunched{key: key, container: c, err: err})
		})
	})
}

// launchSpec is what the containerizer is given to start run's task (and
// to run its health checks beside it).
func (a *agent) launchSpec(run *taskRun) containerizer.LaunchSpec {
	key, t := run.key, run.info
	spec := containerizer.LaunchSpec{ID: containerID(key), Command: t.Command, Container: t.Container, Sandbox: run.sandbox, User: a.userOf(t.Command, run.framework), Env: map[string]string{
		"AGORA_FRAMEWORK_ID": key.framework, "AGORA_TASK_ID": key.task, "AGORA_AGENT_ID": a.id(),
	}}
	spec.Volumes, spec.ReadOnlyViews = a.taskVolumes(t), a.readOnlyViews(t)
	if run.group != nil {
		run.group.groupSpec(run, &spec)
	}
	for _, r := range t.Resources {
		switch r.Name {
		case "cpus":
			spec.CPUs += r.Scalar
		case "mem":
			spec.MemMB += r.Scalar
		case "ports":
			spec.Ports = append(spec.Ports, r.Ranges...)
		}
	}
	return spec
}

// userOf is who a task or executor with command cmd runs as: the user its
// command names, else its framework's, else the agent's default
// (Config.TaskUser; empty: the agent's own user), as in Mesos.
func (a *agent) userOf(cmd *messages.CommandInfo, fw *messages.FrameworkInfo) string {
	for _, u := range []string{cmd.GetUser(), fw.GetUser()} {
		if u != "" {
			return u
		}
	}
	return a.cfg.TaskUser
}

func (a *agent) handleLaunched(ctx actor.Context, msg taskLaunched) {
	run, ok := a.tasks[msg.key]
	if !ok {
		if msg.container != nil {
			msg.container.Kill(0)
		}
		return
	}
	if msg.err != nil {
		a.update(ctx, run, messages.TaskState_TASK_FAILED, launchFailure(msg.err), "launch failed: "+msg.err.Error(), nil)
		return
	}
	run.container = msg.container
	sys, self, c, key := a.sys, a.self, msg.container, msg.key
	if n, ok := c.(containerizer.ExitNotifier); ok {
		n.NotifyExit(func(ex containerizer.Exit) { sys.Root.Send(self, taskExited{key: key, exit: ex}) })
	} else {
		a.watch(key, c)
	}
	if run.killing {
		c.Kill(run.grace)
		return
	}
	a.update(ctx, run, messages.TaskState_TASK_RUNNING, messages.TaskStatusReason_REASON_UNSPECIFIED, "", nil)
	a.startHealthCheck(run)
	a.startCheck(run)
	if run.group != nil {
		a.groupTaskRunning(ctx, run)
	}
}

func (a *agent) handleExited(ctx actor.Context, msg taskExited) {
	run, ok := a.tasks[msg.key]
	if !ok || messages.IsTerminal(run.state) {
		return
	}
	ex := msg.exit
	code := int32(ex.Code)
	switch {
	case run.limitation != "":
		a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_CONTAINER_LIMITATION_DISK, run.limitation+"; "+ex.Describe(), &code)
	case run.killing && run.killWhy != "":
		a.update(ctx, run, messages.TaskState_TASK_KILLED, run.killReason, run.killWhy+"; "+ex.Describe(), &code)
	case run.killing:
		a.update(ctx, run, messages.TaskState_TASK_KILLED, run.killReason, "killed: "+ex.Describe(), &code)
	case ex.OOM:
		a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_CONTAINER_LIMITATION_MEMORY,
			"memory limit reached: the task was "+ex.Describe(), &code)
	case ex.Success():
		a.update(ctx, run, messages.TaskState_TASK_FINISHED, messages.TaskStatusReason_REASON_COMMAND_EXITED, ex.Describe(), &code)
	default:
		a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_COMMAND_EXITED, "command "+ex.Describe(), &code)
	}
}

func (a *agent) handleKillTask(ctx actor.Context, msg *messages.KillTask) {
	if e := msg.MasterEpoch; e < a.epoch {
		a.log.Warn("ignoring KillTask from a deposed master", "epoch", e, "seen", a.epoch)
		return
	}
	key := taskKey{msg.GetFrameworkId().GetValue(), msg.GetTaskId().GetValue()}
	run, ok := a.tasks[key]
	if !ok {
		// Unknown here: say so reliably, so the master's books settle.
		run = &taskRun{key: key, info: &messages.TaskInfo{TaskId: msg.TaskId}, framework: &messages.FrameworkInfo{Id: msg.FrameworkId}, state: messages.TaskState_TASK_STAGING}
		a.tasks[key] = run
		a.cfg.Metrics.task(run, 0, run.state)
		a.update(ctx, run, messages.TaskState_TASK_LOST, messages.TaskStatusReason_REASON_TASK_UNKNOWN, "task unknown to the agent", nil)
		return
	}
	if messages.IsTerminal(run.state) || run.killing {
		return
	}
	if g := msg.GetKillPolicy().GetGracePeriodNanos(); g > 0 {
		run.grace = time.Duration(g)
	}
	run.killing = true
	run.killReason = msg.Reason
	if run.killReason == messages.TaskStatusReason_REASON_UNSPECIFIED {
		run.killReason = messages.TaskStatusReason_REASON_KILLED_BY_FRAMEWORK
	}
	if a.killOnExecutor(ctx, run, msg) {
		return
	}
	if run.container == nil {
		return // still launching: killed as soon as it starts
	}
	text := ""
	if run.killReason == messages.TaskStatusReason_REASON_PREEMPTED {
		text = fmt.Sprintf("preempted: the master reclaims this task's resources for a role below its guarantee; killed in %s", run.grace)
	}
	a.update(ctx, run, messages.TaskState_TASK_KILLING, run.killReason, text, nil)
	run.container.Kill(run.grace)
}

// watch reports the end of a task's container as taskExited, from a
// goroutine the agent owns (it stops watching when the agent stops).
func (a *agent) watch(key taskKey, c containerizer.Container) {
	sys, self := a.sys, a.self
	a.bg.run(func(ctx context.Context) {
		if ex, err := c.Wait(ctx); err == nil {
			sys.Root.Send(self, taskExited{key: key, exit: ex})
		}
	})
}

// update records a new state and queues a reliable status update, sent
// once the task's checkpoint holding it is on disk. A change the task
// state machine refuses changes and reports nothing.
func (a *agent) update(ctx actor.Context, run *taskRun, state messages.TaskState, reason messages.TaskStatusReason, text string, exitCode *int32) {
	if !a.setState(run, state) {
		return
	}
	a.emit(ctx, run, state, reason, text, exitCode)
	if messages.IsTerminal(state) {
		a.executorNeverRan(ctx, run)
		if run.group != nil {
			a.groupTaskEnded(ctx, run, state)
		}
	}
}

// emit queues a reliable status update of run in state (its current one),
// sent once the task's checkpoint holding it is on disk.
func (a *agent) emit(ctx actor.Context, run *taskRun, state messages.TaskState, reason messages.TaskStatusReason, text string, exitCode *int32) {
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	up := &messages.StatusUpdate{
		FrameworkId: run.framework.Id,
		Status: &messages.TaskStatus{
			TaskId: run.info.TaskId, State: state, Message: text, Reason: reason, AgentId: a.info.Id,
			TimestampUnixNano: a.cfg.Clock.Now().UnixNano(), Uuid: uuid, ExitCode: exitCode, Healthy: run.healthy(),
			CheckStatus: run.checkStatus(), ExecutorId: run.executorID(),
		},
		MasterEpoch: a.epoch,
	}
	a.updates.push(run.key, up)
	a.cfg.Metrics.update(state)
	a.checkpoint(run)
	key := run.key
	a.whenDurable(ctx, taskOwner(key), func(ctx actor.Context, _ error) { a.flush(ctx, key) })
}

// flush sends the task's in-flight update if it has not gone out yet.
// Callers have made sure the checkpoint holding it is on disk.
func (a *agent) flush(ctx actor.Context, key taskKey) {
	up := a.updates.inFlight(key)
	if up == nil || a.updates.sent(key) {
		return
	}
	a.updates.markSent(key)
	a.sendUpdate(ctx, key, up)
}

// sendUpdate sends (again) the task's in-flight update and arms its retry.
// The master gets a copy: the queue keeps its own.
//
// The copy is held until the agent's turn comes (a flushUpdates to itself,
// queued behind what its mailbox holds), so that the updates of a burst
// (the tasks of a RunTasks starting, a flood of acknowledgements releasing
// the next updates) go as one StatusUpdates: over TCP a message's own cost
// is most of what an update costs. Each is still acknowledged and resent
// on its own.
func (a *agent) sendUpdate(ctx actor.Context, key taskKey, up *messages.StatusUpdate) {
	if a.cfg.Master != nil {
		a.sending = append(a.sending, messages.CloneStatusUpdate(up))
		if !a.sendArmed {
			a.sendArmed = true
			ctx.Send(ctx.Self(), flushUpdates{})
		}
	}
	due := a.cfg.Clock.Now().Add(a.updates.nextRetry(key))
	a.updates.setDue(key, due)
	a.armRetry(due)
}

// armRetry makes sure a resend timer fires by at. The agent keeps one
// timer for all of its tasks' resends, not one per update sent: each
// firing of a timer is a goroutine and a message, and nearly every update
// is acknowledged before its retry (50,000 tasks made 100,000 timers that
// fired for nothing 2 s later, and 7 % of an agent host's CPU went to
// arming them). A timer is added only when none of those pending fires
// by at (a fresh update's 2 s while a backed-off retry waits a minute).
func (a *agent) armRetry(at time.Time) {
	for _, p := range a.retryTimers {
		if !p.After(at) {
			return
		}
	}
	a.retryTimers = append(a.retryTimers, at)
	a.later(at.Sub(a.cfg.Clock.Now()), retryDue{at: at})
}

// handleRetryDue resends every in-flight update whose time has come, and
// arms the timer for the next.
func (a *agent) handleRetryDue(ctx actor.Context, msg retryDue) {
	if i := slices.IndexFunc(a.retryTimers, msg.at.Equal); i >= 0 {
		a.retryTimers = slices.Delete(a.retryTimers, i, i+1)
	}
	keys, next := a.updates.dueAt(a.cfg.Clock.Now())
	for _, key := range keys {
		up := a.updates.inFlight(key)
		a.log.Debug("resending unacknowledged status update", "task_id", key.task, "state", up.Status.State.String())
		a.sendUpdate(ctx, key, up)
	}
	if !next.IsZero() {
		a.armRetry(next)
	}
}

// handleFlushUpdates sends the updates held: one alone, more as their
// batch, to the master the agent follows now.
func (a *agent) handleFlushUpdates(ctx actor.Context) {
	ups := a.sending
	a.sending, a.sendArmed = nil, false
	switch {
	case a.cfg.Master == nil || len(ups) == 0:
	case len(ups) == 1 || !a.masterBatches:
		// One by one to a master that has not said it takes StatusUpdates
		// (an older version, mid-upgrade).
		for _, up := range ups {
			ctx.Request(a.cfg.Master, up)
		}
	default:
		ctx.Request(a.cfg.Master, &messages.StatusUpdates{Updates: ups})
	}
}

func (a *agent) handleAck(ctx actor.Context, msg *messages.StatusUpdateAcknowledgement) {
	key := taskKey{msg.GetFrameworkId().GetValue(), msg.GetTaskId().GetValue()}
	acked := a.updates.inFlight(key)
	next, matched := a.updates.ack(key, msg.Uuid)
	if !matched {
		return // a duplicate acknowledgement of a resent update
	}
	owner := taskOwner(key)
	if next != nil {
		// The next update was checkpointed when it was queued: it goes
		// as soon as that write is done, not after the one below.
		a.whenDurable(ctx, owner, func(ctx actor.Context, _ error) { a.flush(ctx, key) })
	}
	if run, known := a.tasks[key]; known {
		if next == nil && messages.IsTerminal(run.state) {
			a.forget(run) // ended and its end is known
		} else {
			a.checkpoint(run)
		}
	}
	// Published once the acknowledgement's effect (checkpoint rewritten or
	// removed) is on disk, so an observer sees it.
	ev := UpdateAcknowledged{FrameworkID: key.framework, TaskID: key.task, State: acked.Status.State}
	a.whenDurable(ctx, owner, func(ctx actor.Context, _ error) { ctx.ActorSystem().EventStream.Publish(ev) })
}

// reportedTasks lists the tasks the agent still has, for re-registration.
func (a *agent) reportedTasks() ([]*messages.Task, []*messages.FrameworkInfo) {
	frameworks := map[string]*messages.FrameworkInfo{}
	runs := a.sortedTasks()
	// One slab for the report's tasks: a new leader hears from every agent
	// at once, and in testkit every agent is in the master's process.
	slab := make([]messages.Task, len(runs))
	tasks := make([]*messages.Task, len(runs))
	for i, run := range runs {
		// Not copies (proto.Clone was a fifth of a testkit rebuild's CPU):
		// the master makes its own Task and keeps the parts the report
		// names (IDs, resources; it copies framework infos), and no one
		// changes a message's parts once it is sent: the agent replaces
		// its own (a.info.Id, a.info.Resources), it does not change them.
		t := &slab[i]
		t.Name, t.TaskId, t.FrameworkId, t.AgentId = run.info.Name, run.info.TaskId, run.framework.Id, a.info.Id
		t.State, t.Resources, t.Role, t.Revocable = run.state, run.info.Resources, run.role, run.revocable
		t.ExecutorId = run.info.GetExecutor().GetExecutorId()
		tasks[i] = t
		frameworks[run.key.framework] = run.framework
	}
	var fws []*messages.FrameworkInfo
	for _, id := range slices.Sorted(maps.Keys(frameworks)) {
		fws = append(fws, frameworks[id])
	}
	return tasks, fws
}

func (a *agent) refuseUnregistered(msg any) {
	a.log.Warn("dropping a master request while not registered; the master reconciles on re-registration", "type", fmt.Sprintf("%T", msg))
}

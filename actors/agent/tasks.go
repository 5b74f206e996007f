package agent

import (
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
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
	retryUpdate struct {
		key  taskKey
		uuid []byte
	}
)

func (a *agent) handleRunTask(ctx actor.Context, msg *messages.RunTask) {
	if e := msg.MasterEpoch; e < a.epoch {
		a.log.Warn("ignoring RunTask from a deposed master", "epoch", e, "seen", a.epoch)
		return
	}
	t := msg.GetTask()
	key := taskKey{msg.GetFramework().GetId().GetValue(), t.GetTaskId().GetValue()}
	if _, dup := a.tasks[key]; dup {
		a.log.Warn("ignoring a second RunTask for a task already here", "framework_id", key.framework, "task_id", key.task)
		return
	}
	run := &taskRun{key: key, msg: msg, info: t, framework: msg.Framework, role: msg.Role, revocable: msg.Revocable, state: messages.TaskState_TASK_STAGING, grace: DefaultKillGrace}
	if g := t.GetKillPolicy().GetGracePeriodNanos(); g > 0 {
		run.grace = time.Duration(g)
	}
	a.tasks[key] = run
	sandbox, err := containerizer.SandboxPath(a.cfg.WorkDir, key.framework, key.task)
	if err != nil {
		a.update(ctx, run, messages.TaskState_TASK_ERROR, messages.TaskStatusReason_REASON_SANDBOX_INVALID, err.Error(), nil)
		return
	}
	run.sandbox = sandbox
	ctr := a.cfg.Containerizer
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
	spec := containerizer.LaunchSpec{ID: key.framework + "." + key.task, Command: t.Command, Container: t.Container, Sandbox: sandbox, Env: map[string]string{
		"AGORA_FRAMEWORK_ID": key.framework, "AGORA_TASK_ID": key.task, "AGORA_AGENT_ID": a.id(),
	}}
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
	a.update(ctx, run, messages.TaskState_TASK_STARTING, messages.TaskStatusReason_REASON_UNSPECIFIED, "", nil)
	sys, self := a.sys, a.self
	if _, ok := ctr.(containerizer.Instant); ok {
		c, err := ctr.Launch(spec)
		a.handleLaunched(ctx, taskLaunched{key: key, container: c, err: err})
		return
	}
	// Launching touches the disk and forks: off the actor, back as a message.
	go func() {
		c, err := ctr.Launch(spec)
		sys.Root.Send(self, taskLaunched{key: key, container: c, err: err})
	}()
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
		reason := messages.TaskStatusReason_REASON_CONTAINER_LAUNCH_FAILED
		if errors.Is(msg.err, containerizer.ErrImageNotFound) {
			reason = messages.TaskStatusReason_REASON_IMAGE_NOT_FOUND
		}
		a.update(ctx, run, messages.TaskState_TASK_FAILED, reason, "launch failed: "+msg.err.Error(), nil)
		return
	}
	run.container = msg.container
	sys, self, c, key := a.sys, a.self, msg.container, msg.key
	if n, ok := c.(containerizer.ExitNotifier); ok {
		n.NotifyExit(func(ex containerizer.Exit) { sys.Root.Send(self, taskExited{key: key, exit: ex}) })
	} else {
		go func() {
			ex := c.Wait()
			sys.Root.Send(self, taskExited{key: key, exit: ex})
		}()
	}
	if run.killing {
		c.Kill(run.grace)
		return
	}
	a.update(ctx, run, messages.TaskState_TASK_RUNNING, messages.TaskStatusReason_REASON_UNSPECIFIED, "", nil)
}

func (a *agent) handleExited(ctx actor.Context, msg taskExited) {
	run, ok := a.tasks[msg.key]
	if !ok || messages.IsTerminal(run.state) {
		return
	}
	ex := msg.exit
	code := int32(ex.Code)
	switch {
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

// update records a new state and queues a reliable status update.
func (a *agent) update(ctx actor.Context, run *taskRun, state messages.TaskState, reason messages.TaskStatusReason, text string, exitCode *int32) {
	run.state = state
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	up := &messages.StatusUpdate{
		FrameworkId: run.framework.Id,
		Status: &messages.TaskStatus{
			TaskId: run.info.TaskId, State: state, Message: text, Reason: reason, AgentId: a.info.Id,
			TimestampUnixNano: a.cfg.Clock.Now().UnixNano(), Uuid: uuid, ExitCode: exitCode,
		},
		MasterEpoch: a.epoch,
	}
	inFlight := a.updates.push(run.key, up)
	a.checkpoint(run)
	if inFlight {
		a.sendUpdate(ctx, run.key, up)
	}
}

func (a *agent) sendUpdate(ctx actor.Context, key taskKey, up *messages.StatusUpdate) {
	if a.cfg.Master != nil {
		ctx.Request(a.cfg.Master, up)
	}
	a.later(a.updates.nextRetry(key), retryUpdate{key: key, uuid: up.Status.Uuid})
}

func (a *agent) handleRetryUpdate(ctx actor.Context, msg retryUpdate) {
	up := a.updates.inFlight(msg.key)
	if up == nil || string(up.Status.Uuid) != string(msg.uuid) {
		return // acknowledged meanwhile
	}
	a.log.Debug("resending unacknowledged status update", "task_id", msg.key.task, "state", up.Status.State.String())
	a.sendUpdate(ctx, msg.key, up)
}

func (a *agent) handleAck(ctx actor.Context, msg *messages.StatusUpdateAcknowledgement) {
	key := taskKey{msg.GetFrameworkId().GetValue(), msg.GetTaskId().GetValue()}
	acked := a.updates.inFlight(key)
	next, matched := a.updates.ack(key, msg.Uuid)
	if !matched {
		return // a duplicate acknowledgement of a resent update
	}
	// Published once the acknowledgement is fully handled (checkpoint
	// rewritten or removed), so an observer sees its effects.
	defer ctx.ActorSystem().EventStream.Publish(UpdateAcknowledged{FrameworkID: key.framework, TaskID: key.task, State: acked.Status.State})
	run, known := a.tasks[key]
	if next != nil {
		if known {
			a.checkpoint(run)
		}
		a.sendUpdate(ctx, key, next)
		return
	}
	if known && messages.IsTerminal(run.state) {
		a.forget(run) // ended and its end is known
		return
	}
	if known {
		a.checkpoint(run)
	}
}

// reportedTasks lists the tasks the agent still has, for re-registration.
func (a *agent) reportedTasks() ([]*messages.Task, []*messages.FrameworkInfo) {
	var tasks []*messages.Task
	frameworks := map[string]*messages.FrameworkInfo{}
	for _, run := range a.sortedTasks() {
		tasks = append(tasks, &messages.Task{
			Name: run.info.Name, TaskId: run.info.TaskId, FrameworkId: run.framework.Id, AgentId: a.info.Id,
			State: run.state, Resources: run.info.Resources, Role: run.role, Revocable: run.revocable,
		})
		frameworks[run.key.framework] = run.framework
	}
	var fws []*messages.FrameworkInfo
	for _, id := range slices.Sorted(maps.Keys(frameworks)) {
		fws = append(fws, proto.Clone(frameworks[id]).(*messages.FrameworkInfo))
	}
	return tasks, fws
}

func (a *agent) refuseUnregistered(msg any) {
	a.log.Warn("dropping a master request while not registered; the master reconciles on re-registration", "type", fmt.Sprintf("%T", msg))
}

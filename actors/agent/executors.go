package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime"
	"github.com/agora-sched/agora/runtime/checkpoint"
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

// DefaultExecutorRegistrationTimeout is Mesos' default.
const DefaultExecutorRegistrationTimeout = time.Minute

type executorKey struct{ framework, executor string }

type executorRun struct {
	key       executorKey
	info      *messages.ExecutorInfo
	framework *messages.FrameworkInfo
	pid       *actor.PID // set once registered
	container runtime.Container
	queued    []*taskRun // waiting for registration
	tasks     map[taskKey]*taskRun
}

type (
	executorLaunched struct {
		key       executorKey
		container runtime.Container
		err       error
	}
	executorExited struct {
		key  executorKey
		exit runtime.Exit
	}
	executorTimeout struct{ key executorKey }
)

// runOnExecutor hands a task to its executor, starting the executor the
// first time.
func (a *agent) runOnExecutor(ctx actor.Context, run *taskRun) {
	info := run.info.Executor
	key := executorKey{run.key.framework, info.GetExecutorId().GetValue()}
	ex, ok := a.executors[key]
	if !ok {
		sandbox, err := runtime.SandboxPath(a.cfg.WorkDir, key.framework, "executor."+key.executor)
		if err != nil || info.GetCommand().GetValue() == "" {
			why := "executor without a command"
			if err != nil {
				why = err.Error()
			}
			a.update(ctx, run, messages.TaskState_TASK_FAILED, messages.TaskStatusReason_REASON_CONTAINER_LAUNCH_FAILED, why, nil)
			return
		}
		ex = &executorRun{key: key, info: info, framework: run.framework, tasks: map[taskKey]*taskRun{}}
		a.executors[key] = ex
		spec := runtime.LaunchSpec{ID: key.framework + ".executor." + key.executor, Command: info.Command, Sandbox: sandbox, Env: map[string]string{
			"AGORA_AGENT_ADDRESS": a.self.Address, "AGORA_AGENT_ACTOR": a.self.Id,
			"AGORA_FRAMEWORK_ID": key.framework, "AGORA_EXECUTOR_ID": key.executor, "AGORA_AGENT_ID": a.id(),
		}}
		containerizer, sys, self := a.cfg.Containerizer, a.sys, a.self
		go func() {
			c, err := containerizer.Launch(spec)
			sys.Root.Send(self, executorLaunched{key: key, container: c, err: err})
		}()
		a.later(a.executorTimeout(), executorTimeout{key: key})
		a.log.Info("launching executor", "framework_id", key.framework, "executor_id", key.executor)
		ctx.ActorSystem().EventStream.Publish(ExecutorLaunched{FrameworkID: key.framework, ExecutorID: key.executor})
	}
	ex.tasks[run.key] = run
	if ex.pid == nil {
		ex.queued = append(ex.queued, run)
		return
	}
	ctx.Send(ex.pid, &messages.LaunchTask{Task: run.info})
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
		a.endExecutor(ctx, ex, messages.TaskStatusReason_REASON_CONTAINER_LAUNCH_FAILED, "executor launch failed: "+msg.err.Error())
		return
	}
	ex.container = msg.container
	a.checkpointExecutor(ex)
	sys, self, c, key := a.sys, a.self, msg.container, msg.key
	go func() { sys.Root.Send(self, executorExited{key: key, exit: c.Wait()}) }()
}

// executorFile records an executor's process in its sandbox, so that an
// agent restarted without it can stop it (executors are not re-attached:
// their tasks fail, see recoverExecutors).
const executorFile = ".agora-executor"

func (a *agent) checkpointExecutor(ex *executorRun) {
	id, ok := ex.container.(runtime.Identified)
	if a.cfg.WorkDir == "" || !ok {
		return
	}
	pid, start := id.Identity()
	sandbox, err := runtime.SandboxPath(a.cfg.WorkDir, ex.key.framework, "executor."+ex.key.executor)
	if err == nil {
		err = checkpoint.WriteFile(filepath.Join(sandbox, executorFile), []byte(fmt.Sprintf("%d %d\n", pid, start)))
	}
	if err != nil {
		a.log.Error("cannot checkpoint executor; it would outlive an agent restart", "executor_id", ex.key.executor, "err", err)
	}
}

// stopOrphanedExecutors kills the executors an earlier run of the agent
// started: this agent cannot talk to them (their tasks are failed by
// recover, having no process of their own).
func (a *agent) stopOrphanedExecutors() {
	files, _ := filepath.Glob(filepath.Join(a.cfg.WorkDir, "frameworks", "*", "tasks", "executor.*", executorFile))
	for _, f := range files {
		var pid int
		var start uint64
		b, err := os.ReadFile(f)
		if err == nil {
			_, err = fmt.Sscanf(string(b), "%d %d", &pid, &start)
		}
		if err == nil {
			if c, ok := runtime.Attach(pid, start, filepath.Dir(f)); ok {
				a.log.Warn("stopping an executor left by the agent's previous run; its tasks fail", "dir", filepath.Dir(f))
				c.Kill(0)
				c.Wait()
			}
			if cmd, ok := a.cfg.Containerizer.(runtime.Command); ok && cmd.Cgroups != nil {
				dir := filepath.Dir(f)
				cmd.Cgroups.Remove(filepath.Base(filepath.Dir(filepath.Dir(dir))) + "." + filepath.Base(dir))
			}
		}
		_ = os.Remove(f)
	}
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
	ctx.Send(ex.pid, &messages.ExecutorRegistered{Framework: ex.framework, Executor: ex.info, AgentId: a.info.Id})
	for _, run := range ex.queued {
		if !messages.IsTerminal(run.state) {
			ctx.Send(ex.pid, &messages.LaunchTask{Task: run.info})
		}
	}
	ex.queued = nil
	a.log.Info("executor registered", "framework_id", key.framework, "executor_id", key.executor, "tasks", len(ex.tasks))
}

func (a *agent) handleExecutorStatus(ctx actor.Context, msg *messages.ExecutorStatusUpdate) {
	key := taskKey{msg.GetFrameworkId().GetValue(), msg.GetStatus().GetTaskId().GetValue()}
	run, ok := a.tasks[key]
	if !ok || messages.IsTerminal(run.state) || !messages.CanTransition(run.state, msg.GetStatus().GetState()) {
		return
	}
	st := msg.Status
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
		exKey := executorKey{key.framework, msg.GetExecutorId().GetValue()}
		if ex, ok := a.executors[exKey]; ok {
			delete(ex.tasks, key)
			if len(ex.tasks) == 0 && ex.pid != nil {
				ctx.Send(ex.pid, &messages.ShutdownExecutor{})
			}
		}
	}
}

func (a *agent) handleExecutorTimeout(ctx actor.Context, msg executorTimeout) {
	ex, ok := a.executors[msg.key]
	if !ok || ex.pid != nil {
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
	a.endExecutor(ctx, ex, messages.TaskStatusReason_REASON_EXECUTOR_TERMINATED, "the executor "+msg.exit.Describe())
}

// endExecutor forgets an executor, kills it if it runs, and fails the
// tasks it had not finished.
func (a *agent) endExecutor(ctx actor.Context, ex *executorRun, reason messages.TaskStatusReason, why string) {
	a.log.Warn("executor ended; its unfinished tasks fail", "executor_id", ex.key.executor, "why", why)
	delete(a.executors, ex.key)
	if ex.container != nil {
		ex.container.Kill(0)
	}
	for _, run := range ex.tasks {
		if messages.IsTerminal(run.state) {
			continue
		}
		state := messages.TaskState_TASK_FAILED
		if run.killing {
			state, reason = messages.TaskState_TASK_KILLED, run.killReason
		}
		a.update(ctx, run, state, reason, why, nil)
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
	case ex.pid == nil:
		a.update(ctx, run, messages.TaskState_TASK_KILLED, run.killReason, "killed before its executor registered", nil)
		delete(ex.tasks, run.key)
	default:
		ctx.Send(ex.pid, msg)
	}
	return true
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// taskGroup is a task group the agent runs in its default executor (the
// group's executor has no command): each task in its own container, the
// command tasks' cgroups under one parent, the Docker tasks in the first
// Docker task's network namespace. When a task of it fails or is killed,
// the others are killed (Mesos' default executor); a task that finishes
// leaves the others running.
type taskGroup struct {
	executorID string
	members    []*taskRun // in launch order
	// cgroupParent names the parent cgroup of the members' cgroups.
	cgroupParent string
	// netOwner is the first Docker task: the others join its network
	// namespace once it runs (network is then its mode, "container:<id>").
	netOwner *taskRun
	network  string
	// waiting are Docker tasks held until netOwner runs.
	waiting []*taskRun
	// ending: a task failed or was killed and the others are being killed.
	ending  bool
	cleaned bool
}

// handleRunTaskGroup starts a task group the master admitted whole. A
// custom executor's group goes to the executor task by task (the agent
// launches the executor once); the default executor's is run by the agent.
func (a *agent) handleRunTaskGroup(ctx actor.Context, msg *messages.RunTaskGroup) {
	if e := msg.MasterEpoch; e < a.epoch {
		a.log.Warn("ignoring RunTaskGroup from a deposed master", "epoch", e, "seen", a.epoch)
		return
	}
	if len(msg.Tasks) == 0 {
		return
	}
	for _, rt := range msg.Tasks {
		key := taskKey{rt.GetFramework().GetId().GetValue(), rt.GetTask().GetTaskId().GetValue()}
		if _, dup := a.tasks[key]; dup {
			// The master sends a group once; a resent one is all here.
			a.log.Warn("ignoring a task group with a task already here", "framework_id", key.framework, "task_id", key.task)
			return
		}
	}
	a.log.Info("launching task group", "framework_id", msg.Tasks[0].GetFramework().GetId().GetValue(),
		"executor_id", msg.GetExecutor().GetExecutorId().GetValue(), "tasks", len(msg.Tasks))
	if msg.GetExecutor().GetCommand().GetValue() != "" {
		for _, rt := range msg.Tasks {
			a.handleRunTask(ctx, rt)
		}
		return
	}
	first := taskKey{msg.Tasks[0].GetFramework().GetId().GetValue(), msg.Tasks[0].GetTask().GetTaskId().GetValue()}
	g := &taskGroup{executorID: msg.GetExecutor().GetExecutorId().GetValue(), cgroupParent: groupCgroupParent(first)}
	runs := make([]*taskRun, 0, len(msg.Tasks))
	for _, rt := range msg.Tasks {
		run := a.admitTask(ctx, rt)
		if run == nil {
			continue
		}
		run.group = g
		g.members = append(g.members, run)
		if g.netOwner == nil && rt.GetTask().GetContainer().GetType() == messages.ContainerInfo_DOCKER {
			g.netOwner = run
		}
		runs = append(runs, run)
	}
	for _, run := range runs {
		a.startOrWait(ctx, run)
	}
}

// holdForNetwork reports whether run, a Docker task of a group, must wait
// for the group's first Docker task to run before it starts (it joins that
// one's network namespace); it is queued then.
func (g *taskGroup) holdForNetwork(run *taskRun) bool {
	if run.info.GetContainer().GetType() != messages.ContainerInfo_DOCKER || g.netOwner == nil || run == g.netOwner || g.network != "" {
		return false
	}
	g.waiting = append(g.waiting, run)
	return true
}

// groupSpec adds what run shares with its group to its launch spec: the
// parent cgroup, and the first Docker task's network namespace.
func (g *taskGroup) groupSpec(run *taskRun, spec *containerizer.LaunchSpec) {
	spec.CgroupParent = g.cgroupParent
	spec.ParentCPUs, spec.ParentMemMB = g.limits()
	if run.info.GetContainer().GetType() != messages.ContainerInfo_DOCKER || run == g.netOwner || g.network == "" {
		return
	}
	c := proto.Clone(run.info.Container).(*messages.ContainerInfo)
	if c.Docker == nil {
		c.Docker = &messages.ContainerInfo_Docker{}
	}
	c.Docker.Network = g.network
	spec.Container = c
}

// groupTaskRunning is called when a task of a group runs: the group's
// first Docker task releases the ones waiting to join its network.
func (a *agent) groupTaskRunning(ctx actor.Context, run *taskRun) {
	g := run.group
	if g == nil || run != g.netOwner || g.network != "" {
		return
	}
	if s, ok := run.container.(containerizer.NetworkSharer); ok {
		g.network = s.SharedNetwork()
	} else {
		// A containerizer whose containers share no network (a
		// simulated one) runs the others on their own.
		g.network = "none-shared"
	}
	waiting := g.waiting
	g.waiting = nil
	for _, w := range waiting {
		a.startTask(ctx, w)
	}
}

// groupTaskEnded is called when a task of a group reached a terminal
// state: a failed, killed, lost or refused task takes the others down
// (Mesos' default executor kills the whole group then), a finished one
// does not. Once every task has ended, what they shared is removed.
func (a *agent) groupTaskEnded(ctx actor.Context, run *taskRun, state messages.TaskState) {
	g := run.group
	if state != messages.TaskState_TASK_FINISHED && !g.ending {
		g.ending = true
		why := fmt.Sprintf("killed with its task group: task %s of the group ended %s", run.key.task, state)
		a.log.Info("task group ending", "framework_id", run.key.framework, "executor_id", g.executorID, "task_id", run.key.task, "state", state.String())
		for _, m := range g.members {
			if m != run {
				a.killGroupMember(ctx, m, messages.TaskStatusReason_REASON_UNSPECIFIED, why)
			}
		}
	}
	if g.cleaned {
		return
	}
	if slices.ContainsFunc(g.members, func(m *taskRun) bool { return !messages.IsTerminal(m.state) }) {
		a.shrinkGroup(g)
		return
	}
	g.cleaned = true
	if gc, ok := a.cfg.Containerizer.(containerizer.GroupCleaner); ok {
		parent, log := g.cgroupParent, a.log
		a.bg.run(func(context.Context) {
			if err := gc.RemoveGroup(parent); err != nil {
				log.Warn("task group's parent cgroup not removed", "group", parent, "err", err)
			}
		})
	}
	a.groupExecutorEnded(ctx, run)
}

// executor is the group's ExecutorInfo as the master sent it with each
// task (nil from a master that did not).
func (g *taskGroup) executor() *messages.ExecutorInfo {
	for _, m := range g.members {
		if ex := m.msg.GetGroup().GetExecutor(); ex != nil {
			return ex
		}
	}
	return nil
}

// limits are what the group's parent cgroup is limited to: the executor's
// resources plus those of its live tasks that run under the parent (not
// the Docker ones: Docker puts them in its own cgroups). 0, 0 (no limit)
// when the executor has no resources, as for an executor alone.
func (g *taskGroup) limits() (cpus, memMB float64) {
	ex := g.executor()
	if len(ex.GetResources()) == 0 {
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
	add(ex.GetResources())
	for _, m := range g.members {
		if !messages.IsTerminal(m.state) && m.info.GetContainer().GetType() != messages.ContainerInfo_DOCKER {
			add(m.info.GetResources())
		}
	}
	return cpus, memMB
}

// shrinkGroup lowers the group's parent cgroup limits to what its live
// tasks and executor still need, after a task of it ended. A memory limit
// below what the group uses is refused by the kernel: logged, the old
// limit stays.
func (a *agent) shrinkGroup(g *taskGroup) {
	r, ok := a.cfg.Containerizer.(containerizer.Resizer)
	cpus, mem := g.limits()
	if !ok || (cpus == 0 && mem == 0) {
		return
	}
	parent, log := g.cgroupParent, a.log
	a.bg.run(func(ctx context.Context) {
		if err := r.Resize(ctx, parent, cpus, mem); err != nil && !errors.Is(err, containerizer.ErrNotIsolated) {
			log.Info("task group's parent cgroup keeps its old limits", "group", parent, "cpus", cpus, "mem_mb", mem, "err", err)
		}
	})
}

// groupExecutorEnded tells the master that the default executor of run's
// group ended, once no task of any of its groups runs on this agent: the
// executor's resources are freed then (Mesos' default executor exits with
// its last task).
func (a *agent) groupExecutorEnded(ctx actor.Context, run *taskRun) {
	g := run.group
	if a.cfg.Master == nil || a.id() == "" {
		return
	}
	for _, t := range a.tasks {
		if t.group != nil && t.key.framework == run.key.framework && t.group.executorID == g.executorID && !messages.IsTerminal(t.state) {
			return
		}
	}
	a.log.Info("task group's default executor ended with its last task", "framework_id", run.key.framework, "executor_id", g.executorID)
	ctx.Send(a.cfg.Master, &messages.ExecutorExited{FrameworkId: &messages.FrameworkID{Value: run.key.framework},
		ExecutorId: &messages.ExecutorID{Value: g.executorID}, AgentId: a.agentID(), Status: 0,
		Message: "the task group's last task ended (the agent's default executor)"})
}

// runningGroupExecutors is what a re-registration reports of the default
// executors of the task groups that still have a live task: copies of
// their ExecutorInfo, with their framework and role.
func (a *agent) runningGroupExecutors() []*messages.RunningExecutor {
	var out []*messages.RunningExecutor
	seen := map[executorKey]bool{}
	for _, run := range a.sortedTasks() {
		g := run.group
		if g == nil || messages.IsTerminal(run.state) {
			continue
		}
		k := executorKey{run.key.framework, g.executorID}
		if _, custom := a.executors[k]; custom || seen[k] {
			continue
		}
		seen[k] = true
		info := &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: g.executorID}}
		if ex := g.executor(); ex != nil {
			info = proto.Clone(ex).(*messages.ExecutorInfo)
		}
		info.FrameworkId = &messages.FrameworkID{Value: k.framework}
		out = append(out, &messages.RunningExecutor{Info: info, Role: run.role})
	}
	return out
}

// killGroupMember kills a task because its group ends: at once if it has
// not started (waiting for its group's network, or still launching: then
// as soon as it starts), else with its kill policy's grace period.
func (a *agent) killGroupMember(ctx actor.Context, m *taskRun, reason messages.TaskStatusReason, why string) {
	if messages.IsTerminal(m.state) || m.killing {
		return
	}
	m.killing, m.killWhy, m.killReason = true, why, reason
	if i := slices.Index(m.group.waiting, m); i >= 0 {
		m.group.waiting = slices.Delete(m.group.waiting, i, i+1)
		a.update(ctx, m, messages.TaskState_TASK_KILLED, m.killReason, why, nil)
		return
	}
	if m.container == nil {
		return // still launching: killed as soon as it starts
	}
	a.update(ctx, m, messages.TaskState_TASK_KILLING, m.killReason, why, nil)
	m.container.Kill(m.grace)
}

// executorID is the executor run's status updates name, as Mesos' agent
// names it in every update of a task with an executor (its own and the
// agent's, such as TASK_FAILED when the executor exited): the task
// group's, the task's custom executor, or nil for a command task.
func (run *taskRun) executorID() *messages.ExecutorID {
	switch {
	case run.group != nil:
		return &messages.ExecutorID{Value: run.group.executorID}
	case run.info.GetExecutor() != nil:
		return &messages.ExecutorID{Value: run.info.GetExecutor().GetExecutorId().GetValue()}
	}
	return nil
}

// groupCgroupParent names the parent cgroup of a task group whose first
// task is first.
func groupCgroupParent(first taskKey) string { return "group" + containerIDSep + containerID(first) }

// rejoinGroup puts a task a restarted agent recovered back in its task
// group (of the default executor), so that its failure still takes the
// group down and the group's parent cgroup is removed with its last task.
// The group's network needs no owner any more: its tasks were started.
func (a *agent) rejoinGroup(rc *recovery, run *taskRun) {
	m := run.msg.GetGroup()
	if m == nil || len(m.GetTaskIds()) == 0 || run.info.GetExecutor() != nil {
		return
	}
	first := taskKey{run.key.framework, m.GetTaskIds()[0].GetValue()}
	g, ok := rc.groups[first]
	if !ok {
		g = &taskGroup{executorID: m.GetExecutorId().GetValue(), cgroupParent: groupCgroupParent(first)}
		if rc.groups == nil {
			rc.groups = map[taskKey]*taskGroup{}
		}
		rc.groups[first] = g
	}
	run.group = g
	g.members = append(g.members, run)
}

// shutdownGroups kills the task groups the agent runs in its default
// executor under key (a framework's SHUTDOWN of that executor): every
// task ends TASK_KILLED with REASON_EXECUTOR_TERMINATED. It reports
// whether there was such a group.
func (a *agent) shutdownGroups(ctx actor.Context, key executorKey) bool {
	found := false
	for _, run := range a.sortedTasks() {
		g := run.group
		if g == nil || run.key.framework != key.framework || g.executorID != key.executor || messages.IsTerminal(run.state) {
			continue
		}
		found = true
		g.ending = true // the whole group goes: no task of it brings the rest down again
		why := "killed: its framework shut the task group's executor down"
		a.killGroupMember(ctx, run, messages.TaskStatusReason_REASON_EXECUTOR_TERMINATED, why)
	}
	if found {
		a.log.Info("framework shuts a task group's executor down", "framework_id", key.framework, "executor_id", key.executor)
	}
	return found
}

package core

import (
	"errors"
	"fmt"
	"maps"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// taskFit is what one admitted task of an accept takes of its offers'
// pools: regular, revocable and reserved resources, and whether its
// revocable part is regular resources on loan (offered as revocable).
type taskFit struct {
	res, rev, resv policy.Resources
	resvRole       string
	lent           bool
	// exec is what the task's executor takes with it, when the task is
	// its first on the agent (newExec): charged once, with this task.
	exec    policy.Resources
	newExec bool
	// shared are the shared volumes the task is the first to use: their
	// disk (sharedQty, out of the offers' reservation) becomes the
	// agent's charge. A task is never charged for a shared volume itself.
	shared    []*messages.Resource
	sharedQty policy.Resources
}

// operationTasks are the tasks an operation launches (none for the
// reservation and volume operations).
func operationTasks(op *messages.Operation) []*messages.TaskInfo {
	if g := op.GetLaunchGroup(); g != nil {
		return g.GetTaskGroup().GetTasks()
	}
	return op.GetLaunch().GetTasks()
}

// launch launches one task of an accept on what is left of its offers, or
// ends it as TASK_ERROR; it reports whether the task was launched.
func (c *Core) launch(f *frameworkRecord, a *agentRecord, role string, t *messages.TaskInfo, launching map[string]bool, pools *offerPools, now time.Time) bool {
	fit, reason, err := c.fit(f, a, t, launching, pools)
	if err == nil {
		if fit.exec, fit.newExec, err = c.books.launchExecutor(f, a.id(), t.GetExecutor(), fit.res, pools.left); err != nil {
			c.log.Info("task invalid", "framework_id", f.id(), "task_id", t.GetTaskId().GetValue(), "err", err)
			reason = messages.TaskStatusReason_REASON_TASK_INVALID
		}
	}
	if err != nil {
		c.sendStatus(f, c.masterStatus(t.TaskId, a.info.Id, messages.TaskState_TASK_ERROR, reason, err.Error(), now))
		return false
	}
	pools.take(t, fit, launching)
	_, run := c.place(f, a, role, t, fit, now)
	c.sendAgent(a, run)
	return true
}

// fit checks task t against the rules and against what is left of the
// offers (pools), changing nothing; when it is refused, reason and err say
// why.
func (c *Core) fit(f *frameworkRecord, a *agentRecord, t *messages.TaskInfo, launching map[string]bool, pools *offerPools) (taskFit, messages.TaskStatusReason, error) {
	res, rev, resv, resvRole, err := validateTask(f, a.id(), t, launching, pools.left)
	if user := taskUser(f, t); err == nil && !c.cfg.ACLs.Allows(f.info.GetPrincipal(), acl.RunTask, user) {
		c.log.Warn("task refused: permission denied", "framework_id", f.id(), "task_id", t.GetTaskId().GetValue(), "principal", f.info.GetPrincipal(), "user", user)
		c.cfg.Metrics.Count(Rejected, messages.Error_PERMISSION_DENIED.String(), 1)
		c.cfg.Metrics.Count(PermissionDenied, string(acl.RunTask), 1)
		as := fmt.Sprintf("user %q", user)
		if user == "" {
			as = "the agent's default user (the task names no user; a run_tasks rule allows that with users [\"*\"])"
		}
		return taskFit{}, messages.TaskStatusReason_REASON_TASK_UNAUTHORIZED,
			fmt.Errorf("principal %q may not run tasks as %s (access control list: run_tasks)", f.info.GetPrincipal(), as)
	}
	if err == nil {
		err = checkTaskVolumes(f, a, t)
	}
	fit := taskFit{res: res, rev: rev, resv: resv, resvRole: resvRole}
	if err == nil && resvRole != "" {
		fit.resv = resv.Sub(sharedDisk(t.Resources))
		for _, v := range t.Resources {
			if k := sharedKey(v.Role, v.GetDisk().GetPersistenceId()); v.Shared && a.shared[k] == nil && !pools.sharedTaken[k] {
				fit.shared = append(fit.shared, v)
			}
		}
		fit.sharedQty = sharedDisk(fit.shared)
	}
	_, offered := pools.resv[resvRole]
	switch {
	case err != nil:
	case resvRole != "" && !offered:
		// Mesos: a task uses what its offers hold. A shared volume
		// already charged takes nothing from them, yet it is offered
		// only with its reservation (withVolumes): without one of those
		// offers the task's role may not use it, nor be charged for it.
		err = fmt.Errorf("task asks for resources reserved for %s, and none of the offers it is launched on holds that reservation: launch it on an offer of %s's reservation", resvRole, resvRole)
	case resvRole != "" && !pools.resv[resvRole].Contains(fit.resv.Add(fit.sharedQty)):
		err = fmt.Errorf("task asks for %s reserved for %s but only %s of it is offered", resv, resvRole, pools.resv[resvRole])
	case rev.IsEmpty():
	case pools.leftLent.Contains(rev):
		fit.lent = true
	case !pools.leftRev.Contains(rev):
		err = fmt.Errorf("task asks for revocable %s but only %s is left (one task takes its revocable resources from one offer kind)", rev, pools.leftRev.Add(pools.leftLent))
	}
	if err != nil {
		c.log.Info("task invalid", "framework_id", f.id(), "task_id", t.GetTaskId().GetValue(), "err", err)
		return taskFit{}, messages.TaskStatusReason_REASON_TASK_INVALID, err
	}
	return fit, messages.TaskStatusReason_REASON_UNSPECIFIED, nil
}

// take charges an admitted task to the pools and marks its ID as used by
// this accept.
func (p *offerPools) take(t *messages.TaskInfo, fit taskFit, launching map[string]bool) {
	p.left = p.left.Sub(fit.res).Sub(fit.exec)
	if fit.resvRole != "" {
		p.resv[fit.resvRole] = p.resv[fit.resvRole].Sub(fit.resv).Sub(fit.sharedQty)
	}
	for _, v := range fit.shared {
		if p.sharedTaken == nil {
			p.sharedTaken = map[string]bool{}
		}
		p.sharedTaken[sharedKey(v.Role, v.Disk.PersistenceId)] = true
	}
	if fit.lent {
		p.leftLent = p.leftLent.Sub(fit.rev)
	} else {
		p.leftRev = p.leftRev.Sub(fit.rev)
	}
	launching[t.TaskId.Value] = true
}

// clone is a copy of the pools to try a task group on.
func (p *offerPools) clone() *offerPools {
	q := *p
	if p.resv != nil {
		q.resv = maps.Clone(p.resv)
	}
	q.sharedTaken = maps.Clone(p.sharedTaken)
	return &q
}

// place records an admitted task in the books as STAGING, publishes it,
// and returns its record and the RunTask its agent is to be sent.
func (c *Core) place(f *frameworkRecord, a *agentRecord, role string, t *messages.TaskInfo, fit taskFit, now time.Time) (*taskRecord, *messages.RunTask) {
	res, rev := fit.res, fit.rev
	if fit.lent || t.AgentId == nil {
		// The scheduler may still hold what it sent: change a copy.
		t = proto.Clone(t).(*messages.TaskInfo)
		t.AgentId = a.info.Id
	}
	if fit.lent {
		// Regular resources on loan: the agent sees them as regular, the
		// books charge them to the regular pool.
		res, rev = res.Add(rev), policy.Resources{}
		t.Resources = append(append(res.ToMessages(false), rev.ToMessages(true)...), reservedMessages(fit.resv, fit.resvRole)...)
	}
	if fit.newExec {
		c.books.addExecutor(f, a.id(), role, t.Executor, fit.exec)
	}
	rec := c.books.addTask(f, a.id(), role, t, res, rev, fit.lent, now)
	if fit.resvRole != "" {
		c.books.reserveTask(rec, fit.resv, fit.resvRole)
		rec.task.Resources = append(rec.task.Resources, withTaskVolumes(reservedMessages(fit.resv, fit.resvRole), t)...)
		for _, v := range fit.shared {
			c.books.chargeShared(a, v, f.id(), role)
		}
	}
	c.publish(TaskAdded{Task: rec.task})
	return rec, &messages.RunTask{Framework: f.info, Task: t, MasterEpoch: c.epoch(), Role: role, Revocable: fit.lent}
}

// launchGroup launches a task group (LAUNCH_GROUP) all or none: every task
// is tried on a copy of the pools first, and one that is refused refuses
// the group, each of its tasks ending TASK_ERROR with
// REASON_TASK_GROUP_INVALID (or _UNAUTHORIZED) and a message naming the
// task at fault, as Mesos does. An admitted group goes to its agent in one
// RunTaskGroup. It returns how many tasks it launched.
func (c *Core) launchGroup(f *frameworkRecord, a *agentRecord, role string, g *messages.LaunchGroup, launching map[string]bool, pools *offerPools, now time.Time) int {
	ex, tasks := g.GetExecutor(), g.GetTaskGroup().GetTasks()
	staged := make([]*messages.TaskInfo, len(tasks))
	reason := messages.TaskStatusReason_REASON_TASK_GROUP_INVALID
	err := checkGroup(f, ex, tasks)
	var execRes policy.Resources
	newExec := false
	if err == nil {
		trial, tried := pools.clone(), maps.Clone(launching)
		for i, t := range tasks {
			staged[i] = groupTask(t, ex)
			fit, why, ferr := c.fit(f, a, staged[i], tried, trial)
			if ferr != nil {
				if why == messages.TaskStatusReason_REASON_TASK_UNAUTHORIZED {
					reason = messages.TaskStatusReason_REASON_TASK_GROUP_UNAUTHORIZED
				}
				err = fmt.Errorf("task %s: %w", t.GetTaskId().GetValue(), ferr)
				break
			}
			trial.take(staged[i], fit, tried)
		}
		// The executor's own resources, when it does not run there yet
		// (the agent's default executor too: it is charged until the
		// agent reports it ended), fit after the tasks or the group is
		// refused whole like any task of it.
		if err == nil {
			execRes, newExec, err = c.books.launchExecutor(f, a.id(), ex, policy.Resources{}, trial.left)
		}
	}
	if err != nil {
		c.log.Info("task group invalid", "framework_id", f.id(), "executor_id", ex.GetExecutorId().GetValue(), "tasks", len(tasks), "err", err)
		text := "task group refused, no task of it runs: " + err.Error()
		for _, t := range tasks {
			c.sendStatus(f, c.masterStatus(t.TaskId, a.info.Id, messages.TaskState_TASK_ERROR, reason, text, now))
		}
		return 0
	}
	member := &messages.TaskGroupMembership{ExecutorId: ex.ExecutorId, Executor: ex}
	for _, t := range staged {
		member.TaskIds = append(member.TaskIds, t.TaskId)
	}
	run := &messages.RunTaskGroup{Executor: ex, MasterEpoch: c.epoch()}
	if newExec {
		pools.left = pools.left.Sub(execRes)
		c.books.addExecutor(f, a.id(), role, ex, execRes)
	}
	for _, t := range staged {
		// Admitted on the copy above, so admitted here: the pools
		// and the books changed alike.
		fit, _, err := c.fit(f, a, t, launching, pools)
		if err != nil {
			panic(fmt.Sprintf("task %s of a group admitted on a copy of the pools is refused on them: %v", t.TaskId.GetValue(), err))
		}
		pools.take(t, fit, launching)
		rec, rt := c.place(f, a, role, t, fit, now)
		rec.task.ExecutorId = cloneExecutorID(ex.ExecutorId)
		rt.Group = member
		run.Tasks = append(run.Tasks, rt)
	}
	c.send(a.endpoint, run)
	return len(staged)
}

// checkGroup checks what a task group must be as a whole (Mesos'
// task group validation): an executor with an ID, of this framework, and
// at least one task, none naming an executor of its own.
func checkGroup(f *frameworkRecord, ex *messages.ExecutorInfo, tasks []*messages.TaskInfo) error {
	switch {
	case ex.GetExecutorId().GetValue() == "":
		return errors.New("a task group needs its executor (LaunchGroup.executor with an executor_id)")
	case ex.FrameworkId != nil && ex.FrameworkId.GetValue() != f.id():
		return fmt.Errorf("the group's executor names framework %s, not this one (%s)", ex.FrameworkId.GetValue(), f.id())
	case len(tasks) == 0:
		return errors.New("the task group has no tasks")
	}
	for _, t := range tasks {
		if t.Executor != nil {
			return fmt.Errorf("task %s names an executor of its own: tasks of a group run in the group's executor, leave TaskInfo.executor unset", t.GetTaskId().GetValue())
		}
	}
	return nil
}

// groupTask is task t as its agent is to run it: in a group of the default
// executor (no command) as it is, the agent running it; in a custom
// executor's group, a copy naming the executor, which runs it.
func groupTask(t *messages.TaskInfo, ex *messages.ExecutorInfo) *messages.TaskInfo {
	if ex.GetCommand().GetValue() == "" {
		return t
	}
	t = proto.Clone(t).(*messages.TaskInfo)
	t.Executor = ex
	return t
}

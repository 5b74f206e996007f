package core

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Custom executors' resources, as Mesos accounts them: an executor's
// ExecutorInfo.resources are taken from the accepted offers when its first
// task launches (a launch whose offers cannot hold the task and its new
// executor is refused), charged to the agent's used and to the framework's
// role (DRF share, quota) beside its tasks', and freed when the agent says
// the executor ended (ExecutorExited), not when its last task ends: an
// executor with no task still runs until it exits. A re-registering agent
// reports its running executors with their role, so a new leader charges
// them again and an executor that ended unseen is freed.

// executorKey names one executor of one framework on one agent.
type executorKey struct{ agent, framework, executor string }

func (k executorKey) compare(o executorKey) int {
	return cmp.Or(cmp.Compare(k.agent, o.agent), cmp.Compare(k.framework, o.framework), cmp.Compare(k.executor, o.executor))
}

// executorRecord is an executor the books charge its resources for.
type executorRecord struct {
	key  executorKey
	info *messages.ExecutorInfo
	role string
	res  policy.Resources
}

// executorResources are the regular resources an ExecutorInfo asks for.
// Reserved and revocable executor resources are not supported: they are
// refused, saying so.
func executorResources(info *messages.ExecutorInfo) (policy.Resources, error) {
	res, rev, resv, _, err := taskResources(info.GetResources())
	if err != nil {
		return res, fmt.Errorf("executor %s: %w", info.GetExecutorId().GetValue(), err)
	}
	if !rev.IsEmpty() || !resv.IsEmpty() {
		return res, fmt.Errorf("executor %s asks for reserved or revocable resources: give an executor unreserved, regular resources only", info.GetExecutorId().GetValue())
	}
	return res, nil
}

// launchExecutor is what a task's launch (or a task group's, task empty)
// must also take from what is left of its offers (left) for its executor
// info: its resources the first
// time the executor runs on the agent (isNew), nothing when it already runs
// there or for a task without an executor. An executor already running
// must be given with the resources it was launched with.
func (b *Books) launchExecutor(f *frameworkRecord, agentID string, info *messages.ExecutorInfo, task, left policy.Resources) (res policy.Resources, isNew bool, err error) {
	if info == nil {
		return res, false, nil
	}
	if res, err = executorResources(info); err != nil {
		return res, false, err
	}
	if ex, ok := b.executors[executorKey{agentID, f.id(), info.GetExecutorId().GetValue()}]; ok {
		if !ex.res.Contains(res) || !res.Contains(ex.res) {
			return res, false, fmt.Errorf("executor %s already runs on agent %s with %s: give its tasks the same ExecutorInfo resources, not %s",
				ex.key.executor, agentID, ex.res, res)
		}
		return policy.Resources{}, false, nil
	}
	if !left.Contains(task.Add(res)) && task.IsEmpty() {
		return res, false, fmt.Errorf("its new executor %s asks for %s, but only %s is left of the offers after its tasks: an executor's resources must be in the accepted offers with its tasks'",
			info.GetExecutorId().GetValue(), res, left)
	}
	if !left.Contains(task.Add(res)) {
		return res, false, fmt.Errorf("task asks for %s and its new executor %s for %s, but only %s is left of the offers: an executor's resources must be in the accepted offers with its first task's",
			task, info.GetExecutorId().GetValue(), res, left)
	}
	return res, true, nil
}

// addExecutor charges an executor's resources to its agent, framework and
// role.
func (b *Books) addExecutor(f *frameworkRecord, agentID, role string, info *messages.ExecutorInfo, res policy.Resources) *executorRecord {
	k := executorKey{agentID, f.id(), info.GetExecutorId().GetValue()}
	ex := &executorRecord{key: k, info: proto.Clone(info).(*messages.ExecutorInfo), role: role, res: res}
	b.executors[k] = ex
	f.used = f.used.Add(res)
	if a, ok := b.agents[agentID]; ok {
		a.used = a.used.Add(res)
	}
	r := b.roles[role]
	if r == nil {
		r = &roleTally{}
		b.roles[role] = r
	}
	r.used, r.executors = r.used.Add(res), r.executors+1
	return ex
}

// removeExecutor stops charging an executor's resources.
func (b *Books) removeExecutor(ex *executorRecord) {
	if b.executors[ex.key] != ex {
		return
	}
	delete(b.executors, ex.key)
	if f, ok := b.frameworks[ex.key.framework]; ok {
		f.used = f.used.Sub(ex.res)
	}
	if a, ok := b.agents[ex.key.agent]; ok {
		a.used = a.used.Sub(ex.res)
	}
	if r := b.roles[ex.role]; r != nil {
		r.used, r.executors = r.used.Sub(ex.res), r.executors-1
		if r.tasks == 0 && r.executors == 0 {
			delete(b.roles, ex.role)
		}
	}
}

// dropExecutors forgets the executors of an agent or of a framework (ID
// empty: any) that the books forget.
func (b *Books) dropExecutors(agentID, frameworkID string) {
	for _, ex := range ordered(b.executors, executorKey.compare) {
		if (agentID == "" || ex.key.agent == agentID) && (frameworkID == "" || ex.key.framework == frameworkID) {
			b.removeExecutor(ex)
		}
	}
}

// ExecutorExited is an agent saying one of its executors ended: its
// resources go back to the allocator, and its framework's scheduler is
// told, if connected (Mesos' Master::exitedExecutor: executorLost, the v1
// API's FAILURE). Like Mesos, the master leaves the executor's tasks to
// the agent, which ends those the executor had not finished with status
// updates of their own (TASK_FAILED, REASON_EXECUTOR_TERMINATED): each
// task ends once, by its reliable update, whether or not this reaches the
// scheduler. An exit the books do not know (a retry, an executor of a
// removed framework, an unreachable agent's) is not told.
func (c *Core) ExecutorExited(p Peer, msg *messages.ExecutorExited, now time.Time) Ready {
	agentID := msg.GetAgentId().GetValue()
	a, ok := c.books.agents[agentID]
	if ok && !c.fromAgent(p, a, msg) {
		return c.ready()
	}
	if !ok || !a.reachable {
		// Its re-registration says which executors still run.
		c.log.Debug("executor exit from an agent that must re-register; dropped", "agent_id", agentID, "executor_id", msg.GetExecutorId().GetValue())
		return c.ready()
	}
	ex, ok := c.books.executors[executorKey{agentID, msg.GetFrameworkId().GetValue(), msg.GetExecutorId().GetValue()}]
	if !ok {
		return c.ready()
	}
	c.log.Info("executor exited; its resources are freed", "agent_id", agentID, "framework_id", ex.key.framework, "executor_id", ex.key.executor,
		"status", msg.GetStatus(), "resources", ex.res.String())
	c.freeExecutor(ex)
	if f, ok := c.books.frameworks[ex.key.framework]; ok && f.connected && !f.tearingDown {
		c.send(f.conn, &messages.ExecutorExited{FrameworkId: &messages.FrameworkID{Value: ex.key.framework},
			ExecutorId: &messages.ExecutorID{Value: ex.key.executor}, AgentId: &messages.AgentID{Value: agentID},
			Status: msg.GetStatus(), Signal: msg.GetSignal(), Message: exitText(msg.GetMessage()), MasterEpoch: c.epoch()})
	}
	return c.ready()
}

// freeExecutor stops charging an executor and gives its resources back to
// the allocator.
func (c *Core) freeExecutor(ex *executorRecord) {
	c.books.removeExecutor(ex)
	if !ex.res.IsEmpty() {
		c.toAllocator(&messages.AllocatorReturn{FrameworkId: ex.key.framework, Role: ex.role, AgentId: ex.key.agent, Resources: policy.ToQuantities(ex.res)})
	}
	c.changed = true
}

// readmitExecutors settles an agent's executors after it re-registered:
// those it no longer runs are forgotten (the allocator starts over with
// the agent), those the books do not know (a new leader) are charged. It
// returns what they use, for the allocator.
func (c *Core) readmitExecutors(a *agentRecord, reported []*messages.RunningExecutor) []*messages.AllocatorUse {
	seen := make(map[executorKey]*messages.RunningExecutor, len(reported))
	for _, r := range reported {
		seen[executorKey{a.id(), r.GetInfo().GetFrameworkId().GetValue(), r.GetInfo().GetExecutorId().GetValue()}] = r
	}
	for _, ex := range ordered(c.books.executors, executorKey.compare) {
		if ex.key.agent == a.id() && seen[ex.key] == nil {
			c.books.removeExecutor(ex)
		}
	}
	var used []*messages.AllocatorUse
	for _, r := range reported {
		k := executorKey{a.id(), r.GetInfo().GetFrameworkId().GetValue(), r.GetInfo().GetExecutorId().GetValue()}
		ex := c.books.executors[k]
		if ex == nil {
			var err error
			if ex, err = c.adoptExecutor(k, r); err != nil {
				c.log.Warn("agent reports an executor the books cannot charge; ignoring it", "agent_id", a.id(), "framework_id", k.framework, "executor_id", k.executor, "err", err)
				continue
			}
		}
		if !ex.res.IsEmpty() {
			used = append(used, &messages.AllocatorUse{FrameworkId: k.framework, Role: ex.role, Resources: policy.ToQuantities(ex.res)})
		}
	}
	return used
}

// adoptExecutor charges an executor a re-registering agent reports.
func (c *Core) adoptExecutor(k executorKey, r *messages.RunningExecutor) (*executorRecord, error) {
	f, ok := c.books.frameworks[k.framework]
	switch {
	case !ok || f.tearingDown:
		return nil, errExecutorFramework
	case k.executor == "":
		return nil, errors.New("it has no executor ID")
	case !hasRole(f.info, r.GetRole()):
		return nil, fmt.Errorf("its role %q is not one of its framework's", r.GetRole())
	}
	res, err := executorResources(r.GetInfo())
	if err != nil {
		return nil, err
	}
	return c.books.addExecutor(f, k.agent, r.GetRole(), r.GetInfo(), res), nil
}

// exitText is an agent's words on how an executor ended as the master
// forwards them: cut to messages.MaxStatusMessage, as a task status's.
func exitText(s string) string {
	if len(s) <= messages.MaxStatusMessage {
		return s
	}
	return strings.ToValidUTF8(s[:messages.MaxStatusMessage], "") + " …(truncated)"
}

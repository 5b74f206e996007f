package core

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Operators' requests: listing tasks, killing a task of any framework,
// tearing a framework down. They come over the master's HTTP API with the
// operator's identity; the access control lists decide (view_state,
// kill_tasks and teardown_frameworks, whose objects are the principal of
// the framework acted on).

// Task listing pages.
const (
	DefaultTaskPage = 100
	MaxTaskPage     = 1000
)

// mayView refuses (with the Error to answer) an operator the view_state
// list does not allow.
func (c *Core) mayView(p Peer, q proto.Message) *messages.Error {
	if !c.cfg.ACLs.Allows(p.Principal, acl.ViewState, "") {
		return c.denial(p, string(acl.ViewState), fmt.Sprintf("principal %q may not view the cluster's state (access control list: view_state)", p.Principal), q)
	}
	return nil
}

// ListTasks answers a listing of live and recently finished tasks, or the
// Error that refuses it. It sorts every matching task for each page: fine
// for the thousands of tasks a master holds today; an index is the next
// step if listings of millions are wanted.
func (c *Core) ListTasks(p Peer, q *messages.ListTasks) (*messages.TaskList, *messages.Error) {
	if refused := c.mayView(p, q); refused != nil {
		return nil, refused
	}
	matchState, err := stateFilter(q.GetState())
	if err != nil {
		return nil, c.refusal(messages.Error_INVALID_ARGUMENT, err.Error(), q)
	}
	match := func(t *messages.Task) bool {
		return (q.FrameworkId == "" || t.GetFrameworkId().GetValue() == q.FrameworkId) &&
			(q.AgentId == "" || t.GetAgentId().GetValue() == q.AgentId) && matchState(t.State)
	}
	var found []*messages.Task
	live := map[taskKey]bool{}
	for _, f := range c.books.frameworks {
		if q.FrameworkId != "" && f.id() != q.FrameworkId {
			continue
		}
		for _, t := range f.tasks {
			live[taskKey{t.frameworkID(), t.id()}] = true
			if match(t.task) {
				found = append(found, t.task)
			}
		}
	}
	for _, t := range c.books.completed {
		if !live[taskKey{t.GetFrameworkId().GetValue(), t.GetTaskId().GetValue()}] && match(t) {
			found = append(found, t)
		}
	}
	slices.SortFunc(found, func(a, b *messages.Task) int {
		return cmp.Or(strings.Compare(a.GetFrameworkId().GetValue(), b.GetFrameworkId().GetValue()), strings.Compare(a.GetTaskId().GetValue(), b.GetTaskId().GetValue()))
	})
	out := &messages.TaskList{Total: uint32(len(found))}
	if q.After != "" {
		fw, task, _ := strings.Cut(q.After, "/")
		found = found[sortIndex(found, fw, task):]
	}
	limit := int(q.Limit)
	if limit <= 0 {
		limit = DefaultTaskPage
	}
	limit = min(limit, MaxTaskPage)
	if len(found) > limit {
		last := found[limit-1]
		out.Next = last.GetFrameworkId().GetValue() + "/" + last.GetTaskId().GetValue()
		found = found[:limit]
	}
	out.Tasks = make([]*messages.Task, len(found))
	for i, t := range found {
		out.Tasks[i] = cloneTask(t) // read on another goroutine
	}
	return out, nil
}

// sortIndex is the position of the first task after (fw, task).
func sortIndex(tasks []*messages.Task, fw, task string) int {
	i, _ := slices.BinarySearchFunc(tasks, [2]string{fw, task}, func(t *messages.Task, k [2]string) int {
		if c := cmp.Or(strings.Compare(t.GetFrameworkId().GetValue(), k[0]), strings.Compare(t.GetTaskId().GetValue(), k[1])); c != 0 {
			return c
		}
		return -1 // the cursor's own task is before the page
	})
	return i
}

func stateFilter(s string) (func(messages.TaskState) bool, error) {
	switch s {
	case "":
		return func(messages.TaskState) bool { return true }, nil
	case "active":
		return func(st messages.TaskState) bool { return !messages.IsTerminal(st) }, nil
	}
	v, ok := messages.TaskState_value[strings.ToUpper(s)]
	if !ok {
		v, ok = messages.TaskState_value["TASK_"+strings.ToUpper(s)]
	}
	if !ok {
		return nil, fmt.Errorf("unknown task state %q: use a state such as TASK_RUNNING (or running), or active", s)
	}
	return func(st messages.TaskState) bool { return st == messages.TaskState(v) }, nil
}

// OperatorKillTask kills a task of any framework for an operator the
// kill_tasks list allows. Its framework learns TASK_KILLED with
// REASON_TASK_KILLED_BY_OPERATOR from the agent.
func (c *Core) OperatorKillTask(p Peer, msg *messages.OperatorKillTask, now time.Time) Ready {
	f, ok := c.operand(p, msg.GetFrameworkId().GetValue(), acl.KillTask, "kill tasks of", msg)
	if !ok {
		return c.ready()
	}
	t, live := f.tasks[msg.GetTaskId().GetValue()]
	if !live || messages.IsTerminal(t.task.State) {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_TASK, fmt.Sprintf("framework %s has no live task %q", f.id(), msg.GetTaskId().GetValue()), msg)
		return c.ready()
	}
	if a, ok := c.books.agents[t.agentID()]; !ok || !a.reachable {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_AGENT, fmt.Sprintf("task %s is on agent %s, which is unreachable now: it is killed when the agent comes back, or lost with it", t.id(), t.agentID()), msg)
		return c.ready()
	}
	c.log.Info("operator kills a task", "peer", p.String(), "framework_id", f.id(), "task_id", t.id())
	c.killTask(t, nil, messages.TaskStatusReason_REASON_TASK_KILLED_BY_OPERATOR)
	c.send(p.Endpoint, &messages.OperatorAccepted{Message: fmt.Sprintf("task %s of framework %s is being killed", t.id(), f.id())})
	return c.ready()
}

// OperatorTeardown removes a framework for an operator the
// teardown_frameworks list allows, as Mesos' /teardown does.
func (c *Core) OperatorTeardown(p Peer, msg *messages.OperatorTeardown, now time.Time) Ready {
	f, ok := c.operand(p, msg.GetFrameworkId().GetValue(), acl.TeardownFramework, "tear down", msg)
	if !ok {
		return c.ready()
	}
	c.log.Info("operator tears a framework down", "peer", p.String(), "framework_id", f.id())
	id := f.id()
	c.teardown(f, "torn down by an operator", now)
	c.send(p.Endpoint, &messages.OperatorAccepted{Message: fmt.Sprintf("framework %s is being torn down: its tasks are killed", id)})
	return c.ready()
}

// operand finds the framework an operator acts on, and checks that the
// operator may.
func (c *Core) operand(p Peer, id string, action acl.Action, verb string, req proto.Message) (*frameworkRecord, bool) {
	if p.authenticated() && p.Role != RoleOperator {
		c.deny(p, DeniedIdentity, fmt.Sprintf("only operators %s other frameworks; this connection is %s's", verb, p), req)
		return nil, false
	}
	f, ok := c.books.frameworks[id]
	if !ok || f.tearingDown {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_FRAMEWORK, fmt.Sprintf("no framework %q (agora frameworks lists them)", id), req)
		return nil, false
	}
	if !c.cfg.ACLs.Allows(p.Principal, action, f.info.GetPrincipal()) {
		c.deny(p, string(action), fmt.Sprintf("principal %q may not %s frameworks of principal %q (access control list: %s)", p.Principal, verb, f.info.GetPrincipal(), action), req)
		return nil, false
	}
	return f, true
}

func fullName(m proto.Message) string { return string(m.ProtoReflect().Descriptor().FullName()) }

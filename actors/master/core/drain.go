package core

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Drain, after Mesos' maintenance primitives and Nomad's node drain: an
// operator drains an agent; it is offered to nobody (the allocator
// deactivates it, its outstanding offers are rescinded), every framework
// with live tasks there is told (AgentDraining: an inverse offer that
// needs no answer) so it can move them, and what still runs at the
// deadline is killed with REASON_AGENT_DRAINING. With no live task left
// the agent is DRAINED. The agent keeps the drain in its work directory and
// reports it when it re-registers: a new leader learns it from there.

// MaxDrainDeadline bounds how far ahead a drain's deadline may be.
const MaxDrainDeadline = 30 * 24 * time.Hour

// drainRecord is an agent's drain; gen tells its deadline timer from one
// of an earlier drain of the agent.
type drainRecord struct {
	deadline time.Time
	gen      uint64
	// maintenance: a maintenance window drains the agent, and its end
	// reactivates it.
	maintenance bool
}

// drainDeadline is a drain's deadline coming due.
type drainDeadline struct {
	agentID string
	gen     uint64
}

func (drainDeadline) isTimer() {}

// DrainAgent drains an agent for an operator the drain_agents list allows.
// Draining a draining agent again moves its deadline.
func (c *Core) DrainAgent(p Peer, msg *messages.DrainAgent, now time.Time) Ready {
	a, ok := c.agentOperand(p, msg.GetAgentId().GetValue(), "drain", msg)
	if !ok {
		return c.ready()
	}
	d := time.Duration(msg.DeadlineNanos)
	if d < 0 || d > MaxDrainDeadline {
		c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, fmt.Sprintf("drain deadline %v: want 0 (kill at once) to %v", d, MaxDrainDeadline), msg)
		return c.ready()
	}
	deadline := now.Add(d)
	c.log.Info("operator drains an agent", "peer", p.String(), "agent_id", a.id(), "deadline", deadline, "reachable", a.reachable)
	c.drain(a, deadline, false, now)
	c.send(p.Endpoint, &messages.OperatorAccepted{Message: fmt.Sprintf("agent %s is draining: offered to nobody; tasks still there at %s are killed",
		a.id(), deadline.UTC().Format(time.RFC3339))})
	return c.ready()
}

// drain drains an agent (again: its deadline moves) for an operator or a
// maintenance window.
func (c *Core) drain(a *agentRecord, deadline time.Time, maintenance bool, now time.Time) {
	a.drainGen++
	a.drain = &drainRecord{deadline: deadline, gen: a.drainGen, maintenance: maintenance}
	if a.reachable {
		// Deactivated first: what the rescinded offers give back must not
		// be offered again.
		c.toAllocator(&messages.AllocatorDeactivateAgent{AgentId: a.id()})
		for _, o := range ordered(a.offers, strings.Compare) {
			c.rescind(o, "agent is draining")
		}
		c.tellAgentDrain(a)
	}
	c.tellFrameworksDraining(a)
	c.arm(max(0, deadline.Sub(now)), drainDeadline{agentID: a.id(), gen: a.drain.gen})
	c.changed = true
	c.publish(AgentDrainChanged{AgentID: a.id(), Draining: true, Deadline: deadline})
}

// ReactivateAgent ends an agent's drain: it is offered again.
func (c *Core) ReactivateAgent(p Peer, msg *messages.ReactivateAgent, now time.Time) Ready {
	a, ok := c.agentOperand(p, msg.GetAgentId().GetValue(), "reactivate", msg)
	if !ok {
		return c.ready()
	}
	if a.drain == nil {
		c.send(p.Endpoint, &messages.OperatorAccepted{Message: fmt.Sprintf("agent %s is not draining", a.id())})
		return c.ready()
	}
	c.log.Info("operator reactivates an agent", "peer", p.String(), "agent_id", a.id())
	c.reactivate(a)
	c.send(p.Endpoint, &messages.OperatorAccepted{Message: fmt.Sprintf("agent %s is active again", a.id())})
	return c.ready()
}

// reactivate ends an agent's drain.
func (c *Core) reactivate(a *agentRecord) {
	a.drain = nil
	a.drainGen++ // its deadline timer finds nothing to do
	if a.reachable {
		c.toAllocator(&messages.AllocatorActivateAgent{AgentId: a.id()})
		c.tellAgentDrain(a)
	}
	c.tellFrameworksDrainEnded(a)
	c.changed = true
	c.publish(AgentDrainChanged{AgentID: a.id()})
}

// tellFrameworksDrainEnded tells every connected framework that the
// agent's drain is over. All of them, not only those with live tasks
// there now: one told of the drain may have moved its tasks away since,
// and it still holds the inverse offer. Reactivation is an operator's or
// a maintenance window's act, rare enough for that.
func (c *Core) tellFrameworksDrainEnded(a *agentRecord) {
	for _, f := range ordered(c.books.frameworks, strings.Compare) {
		if f.connected {
			c.send(f.conn, &messages.AgentDrainEnded{AgentId: a.info.Id, MasterEpoch: c.epoch()})
		}
	}
}

// agentOperand finds the agent an operator acts on, and checks that the
// operator may.
func (c *Core) agentOperand(p Peer, id, verb string, req proto.Message) (*agentRecord, bool) {
	if !c.mayDrain(p, verb+" agents", req) {
		return nil, false
	}
	a, ok := c.books.agents[id]
	if !ok {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_AGENT, fmt.Sprintf("no agent %q (agora agents lists them)", id), req)
		return nil, false
	}
	return a, true
}

// mayDrain checks that p is an operator the drain_agents list allows
// (what covers draining, removal and maintenance); what says what for the
// refusal.
func (c *Core) mayDrain(p Peer, what string, req proto.Message) bool {
	if p.authenticated() && p.Role != RoleOperator {
		c.deny(p, DeniedIdentity, fmt.Sprintf("only operators %s; this connection is %s's", what, p), req)
		return false
	}
	if !c.cfg.ACLs.Allows(p.Principal, acl.DrainAgent, "") {
		c.deny(p, string(acl.DrainAgent), fmt.Sprintf("principal %q may not %s (access control list: %s)", p.Principal, what, acl.DrainAgent), req)
		return false
	}
	return true
}

// drainDue kills what still runs on a drained agent at the deadline. An
// agent unreachable then is dealt with when it comes back (resumeDrain).
func (c *Core) drainDue(t drainDeadline, now time.Time) {
	a, ok := c.books.agents[t.agentID]
	if !ok || a.drain == nil || a.drain.gen != t.gen || !a.reachable {
		return
	}
	killed := 0
	for _, task := range ordered(a.tasks, taskKey.compare) {
		if !messages.IsTerminal(task.task.State) {
			c.killTask(task, nil, messages.TaskStatusReason_REASON_AGENT_DRAINING)
			killed++
		}
	}
	c.log.Info("drain deadline: killing the agent's remaining tasks", "agent_id", a.id(), "tasks", killed)
}

// resumeDrain settles the drain of an agent that (re-)registered, after
// readmit gave it back to the allocator. The books win when they know
// the agent; a new leader, which does not, takes the drain the agent
// reports.
func (c *Core) resumeDrain(a *agentRecord, known bool, reported *messages.AgentDrain, now time.Time) {
	if !known && a.drain == nil && reported.GetDraining() {
		a.drainGen++
		a.drain = &drainRecord{deadline: time.Unix(0, max(0, reported.DeadlineUnixNano)), gen: a.drainGen}
		c.log.Info("drain restored from the agent's re-registration", "agent_id", a.id(), "deadline", a.drain.deadline)
		c.publish(AgentDrainChanged{AgentID: a.id(), Draining: true, Deadline: a.drain.deadline})
	}
	if a.drain == nil {
		if reported.GetDraining() {
			c.tellAgentDrain(a) // reactivated while it was away
		}
		return
	}
	c.toAllocator(&messages.AllocatorDeactivateAgent{AgentId: a.id()})
	if !reported.GetDraining() || reported.DeadlineUnixNano != a.drain.deadline.UnixNano() {
		c.tellAgentDrain(a)
	}
	c.arm(max(0, a.drain.deadline.Sub(now)), drainDeadline{agentID: a.id(), gen: a.drain.gen})
}

// tellAgentDrain tells the agent its drain state, which it checkpoints.
func (c *Core) tellAgentDrain(a *agentRecord) {
	msg := &messages.AgentDrain{MasterEpoch: c.epoch()}
	if a.drain != nil {
		msg.Draining, msg.DeadlineUnixNano = true, a.drain.deadline.UnixNano()
	}
	c.send(a.endpoint, msg)
}

// tellFrameworksDraining tells every connected framework with live tasks
// on the agent that it drains.
func (c *Core) tellFrameworksDraining(a *agentRecord) {
	var ids []string
	for _, t := range a.tasks {
		if !messages.IsTerminal(t.task.State) && !slices.Contains(ids, t.frameworkID()) {
			ids = append(ids, t.frameworkID())
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if f, ok := c.books.frameworks[id]; ok && f.connected {
			c.send(f.conn, &messages.AgentDraining{AgentId: a.info.Id, DeadlineUnixNano: a.drain.deadline.UnixNano(), MasterEpoch: c.epoch()})
		}
	}
}

// tellDrains tells a framework that (re-)subscribed of the drains of
// agents where it has live tasks: it may have missed them (disconnected,
// or a new leader restored them).
func (c *Core) tellDrains(f *frameworkRecord) {
	var told []string
	for _, t := range ordered(f.tasks, strings.Compare) {
		a, ok := c.books.agents[t.agentID()]
		if !ok || a.drain == nil || messages.IsTerminal(t.task.State) || slices.Contains(told, a.id()) {
			continue
		}
		told = append(told, a.id())
		c.send(f.conn, &messages.AgentDraining{AgentId: a.info.Id, DeadlineUnixNano: a.drain.deadline.UnixNano(), MasterEpoch: c.epoch()})
	}
}

// drainInfo is the agent's drain as the state shows it (nil: none).
func (a *agentRecord) drainInfo() *messages.DrainInfo {
	if a.drain == nil {
		return nil
	}
	st := messages.DrainInfo_DRAINED
	for _, t := range a.tasks {
		if !messages.IsTerminal(t.task.State) {
			st = messages.DrainInfo_DRAINING
			break
		}
	}
	return &messages.DrainInfo{State: st, DeadlineUnixNano: a.drain.deadline.UnixNano()}
}

package core

import (
	"fmt"
	"time"

	"github.com/agora-sched/agora/messages"
)

// Agent removal by an operator, as Mesos' MARK_AGENT_GONE: the agent is
// forgotten, its tasks end (TASK_GONE_BY_OPERATOR, or TASK_LOST for a
// framework that is not partition-aware) and its ID may never register
// again: the node must start afresh, with a new work directory and so a
// new agent ID. The books remember the last GoneAgents removed IDs; a new
// leader does not know them (they live in no agent and in no store).

// RemoveAgent removes an agent for an operator the drain_agents list
// allows. A reachable agent is told to kill its tasks first (best effort:
// it is refused from then on, and its updates with it).
func (c *Core) RemoveAgent(p Peer, msg *messages.RemoveAgent, now time.Time) Ready {
	a, ok := c.agentOperand(p, msg.GetAgentId().GetValue(), "remove", msg)
	if !ok {
		return c.ready()
	}
	id := a.id()
	const why = "agent removed by an operator"
	c.log.Warn("operator removes an agent", "peer", p.String(), "agent_id", id, "hostname", a.info.GetHostname(), "reachable", a.reachable, "tasks", len(a.tasks))
	if a.reachable {
		c.rescindAgentOffers(a, why)
		c.toAllocator(&messages.AllocatorRemoveAgent{AgentId: id})
		c.demandAgentGone(a)
	}
	ended := 0
	for _, t := range ordered(a.tasks, taskKey.compare) {
		if messages.IsTerminal(t.task.State) {
			continue
		}
		c.killTask(t, nil, messages.TaskStatusReason_REASON_AGENT_REMOVED_BY_OPERATOR)
		c.markTask(t, messages.TaskState_TASK_GONE_BY_OPERATOR, messages.TaskStatusReason_REASON_AGENT_REMOVED_BY_OPERATOR, why, now)
		ended++
	}
	if a.reachable {
		c.tellAgentLost(id)
	}
	c.books.removeAgent(id)
	c.books.gone.add(id, GoneAgents)
	c.emit(ForgetAgent{AgentID: id})
	c.changed = true
	c.publish(AgentRemoved{AgentID: id})
	c.send(p.Endpoint, &messages.OperatorAccepted{Message: fmt.Sprintf("agent %s removed: %d tasks ended; it cannot register again under this ID (restart it with a fresh --work-dir)", id, ended)})
	return c.ready()
}

// refuseGone refuses the re-registration of an agent an operator removed.
func (c *Core) refuseGone(id string, to Endpoint, msg *messages.ReregisterAgent) bool {
	if !c.books.gone.has(id) {
		return false
	}
	c.log.Warn("re-registration of a removed agent refused", "agent_id", id, "hostname", msg.GetInfo().GetHostname())
	c.reject(to, messages.Error_INVALID_ARGUMENT, fmt.Sprintf("agent %s was removed by an operator and may not register again: "+
		"stop it and start it with a fresh --work-dir, so that it registers as a new agent", id), msg)
	return true
}

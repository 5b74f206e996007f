package core

import (
	"strings"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
)

// replyTo is where answers to a registration go: the PID the message names,
// else the sender.
func replyTo(p Peer, address, id string) Endpoint {
	if id != "" {
		return Endpoint{Address: address, ID: id}
	}
	return p.Endpoint
}

// RegisterAgent admits a new agent (one without an AgentID).
func (c *Core) RegisterAgent(p Peer, msg *messages.RegisterAgent, now time.Time) Ready {
	to := replyTo(p, msg.GetPid().GetAddress(), msg.GetPid().GetId())
	if !c.mayRegisterAgent(p, msg.GetInfo(), to, msg) {
		return c.ready()
	}
	if err := ValidateAgentInfo(msg.GetInfo()); err == nil && !c.books.retried(msg.Session) &&
		(!c.oneAgentPerCertificate(p, msg.GetInfo(), to, msg) || !c.mayAddAgent(to, msg.GetInfo(), true, true, msg, now)) {
		return c.ready()
	}
	id, retry, err := c.books.register(msg.GetInfo(), to, msg.Session, now)
	if err != nil {
		c.log.Warn("agent registration rejected", "hostname", msg.GetInfo().GetHostname(), "err", err)
		c.reject(to, messages.Error_INVALID_ARGUMENT, err.Error(), msg)
		return c.ready()
	}
	if retry {
		// The agent retried before our answer reached it: same agent,
		// same ID; answer again.
		c.admit(c.books.agents[id], false, now)
		return c.ready()
	}
	c.cfg.Metrics.Count(Registrations, "", 1)
	a := c.books.agents[id]
	c.books.setIdentity(a, p.Role, p.Principal)
	c.log.Info("agent registered", "agent_id", id, "hostname", a.info.Hostname, "resources", messages.FormatResources(a.info.Resources))
	c.admit(a, false, now)
	c.readmit(a, nil, nil, now)
	c.maybeMaintain(a, now)
	c.publish(AgentAdmitted{AgentID: id, Hostname: a.info.Hostname, Info: a.info})
	return c.ready()
}

// ReregisterAgent admits an agent that has an ID: it restarted, was
// unreachable, or registered with an earlier leader. Its tasks and their
// frameworks are what a new leader rebuilds its books from.
func (c *Core) ReregisterAgent(p Peer, msg *messages.ReregisterAgent, now time.Time) Ready {
	to := replyTo(p, msg.GetPid().GetAddress(), msg.GetPid().GetId())
	id := msg.GetInfo().GetId().GetValue()
	if !c.mayRegisterAgent(p, msg.GetInfo(), to, msg) || c.refuseGone(id, to, msg) {
		return c.ready()
	}
	if a, ok := c.books.agents[id]; ok && a.principal != "" && !c.fromAgent(p, a, msg) {
		return c.ready()
	}
	if a, ok := c.books.agents[id]; ok && a.reachable && msg.Session != "" && a.session == msg.Session && a.endpoint.Address == to.Address {
		c.reregistrationRetry(a, now)
		return c.ready()
	}
	// Checks and limits before anything changes: a refused agent keeps
	// what it had, in the books and the allocator alike.
	if err := ValidateAgentInfo(msg.GetInfo()); err != nil {
		c.log.Warn("agent re-registration rejected", "agent_id", id, "err", err)
		c.reject(to, messages.Error_INVALID_ARGUMENT, err.Error(), msg)
		return c.ready()
	}
	if _, known := c.books.agents[id]; id != "" && ((!known && !c.oneAgentPerCertificate(p, msg.GetInfo(), to, msg)) || !c.mayAddAgent(to, msg.GetInfo(), !known, false, msg, now)) {
		return c.ready()
	}
	if a, ok := c.books.agents[id]; ok && a.reachable {
		// The agent restarted before we noticed: what we offered of it
		// may be gone, and the allocator must start over with it.
		c.rescindAgentOffers(a, "agent restarted")
		c.toAllocator(&messages.AllocatorRemoveAgent{AgentId: id})
	}
	known, err := c.books.reregister(msg.GetInfo(), to, msg.Session, now)
	if err != nil {
		c.log.Warn("agent re-registration rejected", "agent_id", id, "err", err)
		c.reject(to, messages.Error_INVALID_ARGUMENT, err.Error(), msg)
		return c.ready()
	}
	a := c.books.agents[id]
	c.books.setIdentity(a, p.Role, p.Principal)
	c.cfg.Metrics.Count(Reregistrations, "", 1)
	c.log.Info("agent re-registered", "agent_id", id, "hostname", a.info.Hostname, "known", known, "tasks", len(msg.Tasks))
	c.admit(a, true, now)
	c.adopt(a, msg.Tasks, msg.Frameworks, now)
	c.readmit(a, msg.Tasks, msg.RunningExecutors, now)
	c.resumeDrain(a, known, msg.Drain, now)
	c.maybeMaintain(a, now)
	c.answerPending()
	c.publish(AgentAdmitted{AgentID: id, Hostname: a.info.Hostname, Reregistered: true, Info: a.info})
	return c.ready()
}

// AnswerInFlight is how long after answering an agent's re-registration
// the master ignores that registration's retries: the answer is on its way,
// and the agent stops retrying once it has it. It is twice Mesos'
// --registration_backoff_factor (1 s): an agent's first retry comes within
// 2 s of its first send, so a retry that arrives within 2 s of the answer
// crossed it. Past it, a retry is answered again: the first answer may
// have been lost with its connection.
const AnswerInFlight = 2 * time.Second

// reregistrationRetry handles a retry of a re-registration already taken
// (same agent, session and address: the agent sent it before our answer
// reached it, or the master is busy after a failover), without redoing
// the admission, which would churn the allocator for every retry of every
// agent, and without checking the report again (nothing of it is used).
// Mesos' master ignores a re-registration "as re-registration is already in
// progress" while that agent's registry write is under way
// (Master::reregisterSlave); here the admission is over by the time the
// next message is handled, and its answer is what is in progress: a retry
// within AnswerInFlight of it is ignored. After a failover at 40,000
// agents every agent retries 2-4 times while the new leader works through
// the others, and each answer was two messages and a handler's turn for
// nothing. A later retry is answered again, with the liveness refresh; no
// state publication and no pass over the frameworks' demand (nothing a
// snapshot shows changed, as for a heartbeat).
func (c *Core) reregistrationRetry(a *agentRecord, now time.Time) {
	c.cfg.Metrics.Count(ReregistrationRetries, "", 1)
	a.lastSeen = now
	if now.Sub(a.answered) < AnswerInFlight {
		return
	}
	c.answerRegistration(a, true, now)
}

// admit (re)starts the agent's handler and confirms the registration.
func (c *Core) admit(a *agentRecord, reregistered bool, now time.Time) {
	c.demandAgentAdmitted(a)
	c.answerRegistration(a, reregistered, now)
	c.changed = true
}

// answerRegistration tells the agent's handler it was seen and the agent
// that it is registered.
func (c *Core) answerRegistration(a *agentRecord, reregistered bool, now time.Time) {
	a.answered = now
	interval := c.HeartbeatInterval()
	c.emit(WatchAgent{AgentID: a.id(), Agent: a.endpoint, Interval: interval, Seen: now, Role: a.role, Principal: a.principal})
	c.send(a.endpoint, &messages.AgentRegistered{
		AgentId:                &messages.AgentID{Value: a.id()},
		Master:                 c.cfg.Info,
		HeartbeatIntervalNanos: int64(interval),
		Reregistered:           reregistered,
		TakesBatches:           true,
	})
}

// AgentHeartbeat is an agent saying it is alive. An agent the books do not
// count as reachable is told to register again.
func (c *Core) AgentHeartbeat(p Peer, msg *messages.AgentHeartbeat, now time.Time) Ready {
	id := msg.GetAgentId().GetValue()
	if a, ok := c.books.agents[id]; ok && !c.fromAgent(p, a, msg) {
		return c.ready()
	}
	a, err := c.books.heartbeat(id, now)
	if err != nil {
		c.log.Debug("heartbeat from an agent that must re-register", "agent_id", id)
		c.reject(p.Endpoint, messages.Error_UNKNOWN_AGENT, err.Error(), msg)
		return c.ready()
	}
	c.cfg.Metrics.Count(Heartbeats, "", 1)
	interval := c.HeartbeatInterval()
	c.emit(WatchAgent{AgentID: id, Agent: a.endpoint, Interval: interval, Seen: now, Role: a.role, Principal: a.principal})
	to := p.Endpoint
	if to.IsZero() {
		to = a.endpoint
	}
	c.send(to, &messages.AgentHeartbeatAck{AgentId: msg.AgentId, Seq: msg.Seq, Master: c.cfg.Info, HeartbeatIntervalNanos: int64(interval)})
	return c.ready()
}

// AgentSeen is an agent's handler saying it answered a heartbeat of the
// agent at seen (heartbeats go to the handlers, not through the master's
// mailbox): the books keep the time, and it is counted as a heartbeat.
func (c *Core) AgentSeen(id string, seen time.Time) Ready {
	if a, ok := c.books.agents[id]; ok && a.reachable {
		if seen.After(a.lastSeen) {
			a.lastSeen = seen
		}
		c.cfg.Metrics.Count(Heartbeats, "", 1)
	}
	return c.ready()
}

// AgentUnreachable is an agent's handler reporting that the agent missed
// too many heartbeats.
func (c *Core) AgentUnreachable(id string, now time.Time) Ready {
	if !c.books.markUnreachable(id, now) {
		return c.ready()
	}
	c.agentGone(c.books.agents[id], false, messages.TaskStatusReason_REASON_AGENT_UNREACHABLE, "agent unreachable: missed heartbeats", now)
	c.tellAgentLost(id)
	c.armRemoval(id, now)
	c.cfg.Metrics.Count(UnreachableEvents, "", 1)
	c.log.Warn("agent unreachable: missed heartbeats", "agent_id", id, "max_misses", c.cfg.Liveness.MaxMisses)
	c.changed = true
	c.publish(AgentMarkedUnreachable{AgentID: id})
	return c.ready()
}

// UnregisterAgent is an agent leaving for good (its node shuts down): its
// tasks are lost.
func (c *Core) UnregisterAgent(p Peer, msg *messages.UnregisterAgent, now time.Time) Ready {
	id := msg.GetAgentId().GetValue()
	if a, ok := c.books.agents[id]; ok && !c.fromAgent(p, a, msg) {
		return c.ready()
	}
	if a, ok := c.books.agents[id]; ok && a.reachable {
		c.agentGone(a, true, messages.TaskStatusReason_REASON_AGENT_REMOVED, "agent shut down", now)
		c.tellAgentLost(id)
	}
	if !c.books.removeAgent(id) {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_AGENT, "agent "+id+" is not registered", msg)
		return c.ready()
	}
	c.emit(ForgetAgent{AgentID: id})
	c.log.Info("agent unregistered", "agent_id", id)
	c.changed = true
	c.publish(AgentRemoved{AgentID: id})
	return c.ready()
}

// rescindAgentOffers withdraws the offers on an agent that can no longer
// honour them; the allocator forgets the agent separately.
func (c *Core) rescindAgentOffers(a *agentRecord, why string) {
	for _, o := range ordered(a.offers, strings.Compare) {
		c.books.removeOffer(o)
		c.tellRescinded(o, why)
	}
}

// agentGone handles an agent that stopped being usable: its offers are
// rescinded and the allocator forgets it. Its live tasks become
// UNREACHABLE (lost is true: an agent that left for good, GONE for a
// partition-aware framework, LOST for the others).
func (c *Core) agentGone(a *agentRecord, lost bool, reason messages.TaskStatusReason, why string, now time.Time) {
	c.rescindAgentOffers(a, why)
	c.toAllocator(&messages.AllocatorRemoveAgent{AgentId: a.id()})
	c.demandAgentGone(a)
	for _, t := range ordered(a.tasks, taskKey.compare) {
		if messages.IsTerminal(t.task.State) {
			continue
		}
		state := messages.TaskState_TASK_UNREACHABLE
		if lost {
			state = c.goneState(t)
		}
		c.markTask(t, state, reason, why, now)
	}
}

// tellAgentLost tells every connected scheduler that an agent is lost
// (AgentLost), after its tasks' updates, as Mesos' sendSlaveLost tells
// every framework whenever it removes an agent (unreachable, shut down or
// marked gone), whether or not the framework ran anything there. An agent
// that was already unreachable is not lost again.
func (c *Core) tellAgentLost(id string) {
	// One message for all: nobody changes what the core sends.
	lost := &messages.AgentLost{AgentId: &messages.AgentID{Value: id}, MasterEpoch: c.epoch()}
	for _, f := range ordered(c.books.frameworks, strings.Compare) {
		if f.connected && !f.tearingDown {
			c.send(f.conn, lost)
		}
	}
}

// adopt records what an agent reports that the books do not know: after a
// failover the new leader learns the cluster's tasks from re-registrations.
// An unknown framework is recorded disconnected, from the FrameworkInfo the
// agent keeps: its scheduler has its failover timeout to subscribe again.
func (c *Core) adopt(a *agentRecord, tasks []*messages.Task, frameworks []*messages.FrameworkInfo, now time.Time) {
	infos := newReportIndex(frameworks, frameworkInfoKey)
	if len(a.tasks) == 0 && len(tasks) > 0 {
		// A new leader's agent: its task map sized from the report, not
		// grown task by task (bounded: the report is the network's).
		a.tasks = make(map[taskKey]*taskRecord, min(len(tasks), maxTaskMapHint))
	}
	slab := newTaskSlab(min(len(tasks), maxTaskMapHint))
	for _, t := range tasks {
		fwID := t.GetFrameworkId().GetValue()
		if messages.IsTerminal(t.State) || a.tasks[taskKey{fwID, t.GetTaskId().GetValue()}] != nil {
			continue
		}
		f, ok := c.books.frameworks[fwID]
		if !ok {
			if c.books.removed(fwID) {
				continue // the agent hears of the removal and kills it
			}
			info, _ := infos.get(fwID)
			if info == nil || ValidateFrameworkInfo(info) != nil || info.GetId().GetValue() != fwID {
				c.log.Warn("agent reports a task of a framework it has no valid FrameworkInfo for; ignoring the task",
					"agent_id", a.id(), "framework_id", fwID, "task_id", t.GetTaskId().GetValue())
				continue
			}
			f = c.books.adoptFramework(info)
			c.toAllocator(&messages.AllocatorAddFramework{Info: f.info})
			c.toAllocator(&messages.AllocatorDeactivateFramework{FrameworkId: fwID})
			timeout := failoverTimeoutOf(f.info)
			c.arm(timeout, failoverTimeout{frameworkID: fwID, gen: f.gen})
			c.log.Info("framework recovered from an agent's re-registration; waiting for its scheduler", "framework_id", fwID, "failover_timeout", timeout)
		}
		reported, _ := infos.get(fwID)
		if p := reported.GetPrincipal(); p != "" && f.info.GetPrincipal() != "" && p != f.info.GetPrincipal() {
			c.log.Warn("agent reports a task of a framework whose principal differs from the one that holds its ID; ignoring the task",
				"framework_id", fwID, "task_id", t.GetTaskId().GetValue(), "reported", p, "holder", f.info.GetPrincipal())
			continue
		}
		if !hasRole(f.info, t.Role) {
			c.log.Warn("agent reports a task under a role its framework is not subscribed to; ignoring the task",
				"framework_id", fwID, "task_id", t.GetTaskId().GetValue(), "role", t.Role)
			continue
		}
		if err := messages.ValidateID("task ID", t.GetTaskId().GetValue()); err != nil {
			c.log.Warn("agent reports a task with an invalid ID; ignoring the task", "agent_id", a.id(), "err", err)
			continue
		}
		res, rev, resv, resvRole, err := taskResources(t.Resources)
		if err != nil {
			c.log.Warn("agent reports a task with invalid resources; ignoring the task", "task_id", t.GetTaskId().GetValue(), "err", err)
			continue
		}
		// A shared volume is charged once, to the first task reported
		// with it, as it was to the first launched on it.
		resv = resv.Sub(sharedDisk(t.Resources))
		for _, v := range t.Resources {
			if v.Shared && a.shared[sharedKey(v.Role, v.GetDisk().GetPersistenceId())] == nil {
				c.books.chargeShared(a, v, f.id(), t.Role)
			}
		}
		c.books.reserveTask(c.books.adoptTask(f, a, t, res, rev, now, slab), resv, resvRole)
	}
}

// shortReport is the most a report's list is searched by a scan instead
// of a map: an agent's report names a few frameworks and tens of tasks,
// and the maps a new leader made of every agent's report (7 and 3 of the
// core's allocations per agent with 10 tasks, BenchmarkReregisterAgents)
// cost more than scanning so few.
const shortReport = 16

// reportIndex finds an entry of a report's list by its key: the last
// the list gives for the key, as a later entry is newer. A short list is
// scanned; past shortReport a map is built once.
type reportIndex[K comparable, V any] struct {
	list  []V
	key   func(V) K
	byKey map[K]V // past shortReport only
}

func newReportIndex[K comparable, V any](list []V, key func(V) K) reportIndex[K, V] {
	r := reportIndex[K, V]{list: list, key: key}
	if len(list) > shortReport {
		r.byKey = make(map[K]V, min(len(list), maxTaskMapHint))
		for _, v := range list {
			r.byKey[key(v)] = v
		}
	}
	return r
}

// get is the entry for k, the last the report lists; false if none.
func (r reportIndex[K, V]) get(k K) (V, bool) {
	if r.byKey != nil {
		v, ok := r.byKey[k]
		return v, ok
	}
	for i := len(r.list) - 1; i >= 0; i-- {
		if r.key(r.list[i]) == k {
			return r.list[i], true
		}
	}
	var none V
	return none, false
}

func frameworkInfoKey(fi *messages.FrameworkInfo) string { return fi.GetId().GetValue() }

func reportedTaskKey(t *messages.Task) taskKey {
	return taskKey{t.FrameworkId.GetValue(), t.TaskId.GetValue()}
}

// useSlab holds what a (re-)registering agent's tasks use, for the
// allocator: one allocation for their AllocatorUses and one for their
// quantities instead of two or three a task (a new leader readmits every
// task of every agent at once; BenchmarkReregisterAgents). The allocator
// decodes them into its own records.
type useSlab struct {
	uses  []messages.AllocatorUse
	quant []messages.Quantities
}

func newUseSlab(n int) *useSlab {
	n = min(n, maxTaskMapHint)
	return &useSlab{uses: make([]messages.AllocatorUse, n), quant: make([]messages.Quantities, n)}
}

// take returns the next unused AllocatorUse, or a new one once all are.
func (s *useSlab) take() *messages.AllocatorUse {
	if len(s.uses) == 0 {
		return &messages.AllocatorUse{}
	}
	u := &s.uses[0]
	s.uses = s.uses[1:]
	return u
}

// quantities is policy.ToQuantities of r in the next unused Quantities.
func (s *useSlab) quantities(r policy.Resources) *messages.Quantities {
	if r.IsEmpty() {
		return nil
	}
	if len(s.quant) == 0 {
		return policy.ToQuantities(r)
	}
	q := policy.FillQuantities(&s.quant[0], r)
	s.quant = s.quant[1:]
	return q
}

// maxTaskMapHint bounds the size a map is made with from a count in a
// message: past it, the map grows as it fills.
const maxTaskMapHint = 1024

func hasRole(info *messages.FrameworkInfo, role string) bool {
	for _, r := range info.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// markUnreported ends a live task its agent re-registered without. A
// framework that does not checkpoint (messages.Checkpointing) lost it to
// the agent's restart, which ended it rather than recover it: TASK_LOST
// with REASON_AGENT_DISCONNECTED, partition-aware or not, as Mesos' master
// tells such a framework when its agent's connection breaks
// (master.cpp, Master::exited and removeFramework(Slave*, Framework*)),
// which Agora's master learns of when the agent comes back. Any other
// task is gone for a reason the agent did not say (a launch it never
// got): TASK_GONE or TASK_LOST, REASON_AGENT_RESTARTED.
func (c *Core) markUnreported(a *agentRecord, t *taskRecord, now time.Time) {
	if f, ok := c.books.frameworks[t.frameworkID()]; ok && !messages.Checkpointing(f.info) {
		c.markTask(t, messages.TaskState_TASK_LOST, messages.TaskStatusReason_REASON_AGENT_DISCONNECTED,
			"agent "+a.info.GetHostname()+" re-registered without the task: the framework does not checkpoint, so its tasks end when their agent restarts", now)
		return
	}
	c.markTask(t, c.goneState(t), messages.TaskStatusReason_REASON_AGENT_RESTARTED, "the agent re-registered without this task", now)
}

// readmit settles an agent's tasks after it (re-)registered: tasks it
// reports come back to their reported state, tasks it does not report are
// lost; the allocator gets the agent back with what is in use, its
// executors' resources included (readmitExecutors).
func (c *Core) readmit(a *agentRecord, reported []*messages.Task, executors []*messages.RunningExecutor, now time.Time) {
	seen := newReportIndex(reported, reportedTaskKey)
	used := make([]*messages.AllocatorUse, 0, len(a.tasks))
	slab := newUseSlab(len(a.tasks))
	for _, t := range ordered(a.tasks, taskKey.compare) {
		if messages.IsTerminal(t.task.State) {
			continue
		}
		rep, ok := seen.get(taskKey{t.frameworkID(), t.id()})
		switch {
		case !ok:
			c.markUnreported(a, t, now)
			continue
		case messages.IsTerminal(rep.State):
			// Ended while the agent was away: its own status update, which
			// it resends now, tells the framework how. No uuid: the
			// agent's update, when it comes, replaces this one.
			c.books.setState(t, &messages.TaskStatus{TaskId: t.task.TaskId, State: rep.State, AgentId: t.task.AgentId, TimestampUnixNano: now.UnixNano()})
			continue
		case t.task.State != rep.State:
			c.markTask(t, rep.State, messages.TaskStatusReason_REASON_RECONCILIATION, "the agent re-registered with this task", now)
		}
		if t.resvRole == "" || !t.res.IsEmpty() || !t.rev.IsEmpty() {
			u := slab.take()
			u.FrameworkId, u.Role = t.frameworkID(), t.task.Role
			u.Resources, u.Revocable = slab.quantities(t.res), slab.quantities(t.rev)
			used = append(used, u)
		}
		if t.resvRole != "" {
			used = append(used, &messages.AllocatorUse{FrameworkId: t.frameworkID(), Role: t.task.Role,
				Resources: policy.ToQuantities(t.resv), Reservation: t.resvRole})
		}
	}
	for _, ch := range ordered(a.shared, strings.Compare) {
		used = append(used, &messages.AllocatorUse{FrameworkId: ch.framework, Role: ch.role, Resources: policy.ToQuantities(ch.disk), Reservation: ch.resvRole})
	}
	used = append(used, c.readmitExecutors(a, executors)...)
	a.incarnation++
	c.toAllocator(&messages.AllocatorAddAgent{Info: a.info, Allocated: used, Incarnation: a.incarnation})
}

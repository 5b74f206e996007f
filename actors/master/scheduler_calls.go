package master

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agora-sched/agora/actors/allocation"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// Internal timer message: a disconnected framework's failover timeout.
type failoverExpired struct {
	frameworkID string
	gen         uint64
}

func (m *master) handleSubscribe(ctx actor.Context, msg *messages.SubscribeFramework) {
	to := replyTo(ctx, msg.Pid)
	if to == nil {
		m.log.Warn("subscription without a scheduler PID; ignored")
		return
	}
	id, known, err := m.books.Subscribe(msg.GetInfo(), msg.Session)
	if err != nil {
		code := messages.Error_INVALID_ARGUMENT
		if errors.Is(err, ErrFrameworkRemoved) {
			code = messages.Error_UNKNOWN_FRAMEWORK
		}
		m.log.Warn("framework subscription rejected", "name", msg.GetInfo().GetName(), "err", err)
		m.reject(ctx, to, code, err.Error(), msg)
		return
	}
	f, _ := m.books.framework(id)
	h, ok := m.fwHandlers[id]
	if !ok {
		h, err = ctx.SpawnNamed(frameworkHandlerProps(m.cfg, id), "framework-"+id)
		if err != nil {
			h = ctx.Spawn(frameworkHandlerProps(m.cfg, id))
		}
		m.fwHandlers[id] = h
	}
	if known && f.connected && m.isCurrentScheduler(id, to) {
		// The same scheduler again: its retry crossed our answer (it
		// retries until it hears one). Answer again; its offers stand,
		// or it would launch on offers rescinded under it.
		ctx.Send(h, fwSend{msg: &messages.FrameworkSubscribed{
			FrameworkId: f.info.Id, Master: m.cfg.Info, HeartbeatIntervalNanos: int64(m.cfg.FrameworkHeartbeat),
		}})
		return
	}
	if known {
		// A new scheduler process (or a reconnect): the old one's offers go.
		m.rescindAll(ctx, f, "framework failed over")
		ctx.Send(m.cfg.Allocator, allocation.ActivateFramework{FrameworkID: id})
		m.log.Info("framework re-subscribed", "framework_id", id, "pid", to.String())
	} else {
		ctx.Send(m.cfg.Allocator, allocation.AddFramework{Framework: PolicyFramework(f.info)})
		m.log.Info("framework subscribed", "framework_id", id, "name", f.info.Name, "roles", f.info.Roles, "pid", to.String())
	}
	m.schedulers[id] = to
	ctx.Send(h, fwConnect{pid: to})
	ctx.Send(h, fwSend{msg: &messages.FrameworkSubscribed{
		FrameworkId: f.info.Id, Master: m.cfg.Info, HeartbeatIntervalNanos: int64(m.cfg.FrameworkHeartbeat),
	}})
	m.changed()
	// A scheduler with its FrameworkID re-subscribes, even to a new leader
	// that had not heard of the framework yet.
	ctx.ActorSystem().EventStream.Publish(FrameworkSubscribed{FrameworkID: id, Resubscribed: known || msg.GetInfo().GetId().GetValue() != ""})
}

// caller checks that a call comes from the framework's current scheduler.
func (m *master) caller(ctx actor.Context, id *messages.FrameworkID, req proto.Message) (*frameworkRecord, bool) {
	f, err := m.books.framework(id.GetValue())
	if err != nil {
		m.reject(ctx, ctx.Sender(), messages.Error_UNKNOWN_FRAMEWORK, err.Error()+": subscribe first", req)
		return nil, false
	}
	if !f.connected || f.tearingDown {
		m.reject(ctx, ctx.Sender(), messages.Error_UNKNOWN_FRAMEWORK, fmt.Sprintf("framework %s is not connected: subscribe again", f.id()), req)
		return nil, false
	}
	if !m.isCurrentScheduler(f.id(), ctx.Sender()) {
		m.reject(ctx, ctx.Sender(), messages.Error_UNKNOWN_FRAMEWORK, fmt.Sprintf("framework %s is held by another scheduler (failed over): stop", f.id()), req)
		return nil, false
	}
	return f, true
}

func (m *master) isCurrentScheduler(id string, sender *actor.PID) bool {
	pid, ok := m.schedulers[id]
	return ok && sender != nil && pid.Equal(sender)
}

// handleAllocated turns grants into offers.
func (m *master) handleAllocated(ctx actor.Context, msg allocation.Allocated) {
	now := m.now()
	byFramework := make(map[string][]*messages.Offer, 4)
	var order []string // frameworks in the allocator's order
	for _, g := range msg.Grants {
		f, fwOK := m.books.frameworks[g.FrameworkID]
		a, agentOK := m.books.agents[g.AgentID]
		if !fwOK || !agentOK || !a.reachable || a.incarnation != g.Incarnation {
			// The allocator made this grant before it heard that the
			// framework or the agent (this incarnation of it) is gone,
			// and reclaimed it when it did: nothing to give back.
			continue
		}
		if !f.connected || f.tearingDown {
			// Things changed since the allocator decided: give it back.
			ctx.Send(m.cfg.Allocator, allocation.Return{FrameworkID: g.FrameworkID, Role: g.Role, AgentID: g.AgentID, Resources: g.Resources, Revocable: g.Revocable})
			continue
		}
		var expires time.Time
		if m.cfg.OfferTimeout > 0 {
			expires = now.Add(m.cfg.OfferTimeout)
		}
		o := m.books.addOffer(g, expires)
		offer := &messages.Offer{
			Id: &messages.OfferID{Value: o.id}, FrameworkId: f.info.Id, AgentId: a.info.Id, Hostname: a.info.Hostname,
			Resources: append(g.Resources.ToMessages(g.AsRevocable), g.Revocable.ToMessages(true)...), Attributes: a.info.Attributes,
			Role: g.Role, MasterEpoch: m.cfg.Info.Epoch, AgentHttpAddress: a.info.HttpAddress,
		}
		if !expires.IsZero() {
			offer.ExpiresUnixNano = expires.UnixNano()
		}
		if _, ok := byFramework[g.FrameworkID]; !ok {
			order = append(order, g.FrameworkID)
		}
		byFramework[g.FrameworkID] = append(byFramework[g.FrameworkID], offer)
		if len(byFramework[g.FrameworkID]) == offersPerMessage {
			m.sendOffers(ctx, g.FrameworkID, byFramework[g.FrameworkID])
			byFramework[g.FrameworkID] = nil
		}
	}
	for _, id := range order {
		if offers := byFramework[id]; len(offers) > 0 {
			m.sendOffers(ctx, id, offers)
		}
	}
}

// offersPerMessage bounds an Offers message: the framework can act on the
// first offers while the rest are prepared, and a remoting frame stays far
// below gRPC's limits (one offer is ~200 bytes).
const offersPerMessage = 256

func (m *master) sendOffers(ctx actor.Context, frameworkID string, offers []*messages.Offer) {
	m.toFramework(ctx, frameworkID, fwOffers{offers: offers})
	m.cfg.Metrics.offers.Add(float64(len(offers)))
}

// returnOffer gives an offer's resources back to the allocator.
func (m *master) returnOffer(ctx actor.Context, o *offerRecord, ret allocation.Return) {
	ret.FrameworkID, ret.Role, ret.AgentID, ret.Resources, ret.Revocable = o.frameworkID, o.role, o.agentID, o.res, o.rev
	ctx.Send(m.cfg.Allocator, ret)
}

// rescindAll withdraws every outstanding offer of a framework.
func (m *master) rescindAll(ctx actor.Context, f *frameworkRecord, reason string) {
	for _, o := range ordered(f.offers, strings.Compare) {
		m.rescind(ctx, o, reason)
	}
}

func (m *master) rescind(ctx actor.Context, o *offerRecord, reason string) {
	m.books.removeOffer(o)
	m.returnOffer(ctx, o, allocation.Return{})
	if h, ok := m.fwHandlers[o.frameworkID]; ok {
		ctx.Send(h, fwRescind{offerID: o.id, tell: true, reason: reason})
	}
	m.cfg.Metrics.rescinds.Inc()
}

func (m *master) handleOfferExpired(ctx actor.Context, msg offerExpired) {
	if o, ok := m.books.offers[msg.offerID]; ok {
		m.log.Info("offer timed out; rescinding", "framework_id", msg.frameworkID, "offer_id", msg.offerID)
		m.rescind(ctx, o, fmt.Sprintf("offer not used within the offer timeout (%v)", m.cfg.OfferTimeout))
	}
}

func refuse(f *messages.Filters) time.Duration {
	if f == nil || f.RefuseSeconds == nil {
		return -1 // the allocator's default
	}
	return time.Duration(*f.RefuseSeconds * float64(time.Second))
}

func (m *master) handleDecline(ctx actor.Context, msg *messages.Decline) {
	f, ok := m.caller(ctx, msg.FrameworkId, msg)
	if !ok {
		return
	}
	taken, err := m.books.takeOffers(f.id(), msg.OfferIds, false)
	for _, o := range taken {
		m.returnOffer(ctx, o, allocation.Return{Decline: true, Refuse: refuse(msg.Filters)})
		m.toFramework(ctx, f.id(), fwRescind{offerID: o.id})
	}
	m.cfg.Metrics.declines.Add(float64(len(taken)))
	if err != nil {
		m.reject(ctx, ctx.Sender(), messages.Error_UNKNOWN_OFFER, err.Error(), msg)
	}
}

func (m *master) handleAccept(ctx actor.Context, msg *messages.Accept) {
	f, ok := m.caller(ctx, msg.FrameworkId, msg)
	if !ok {
		return
	}
	var tasks []*messages.TaskInfo
	for _, op := range msg.Operations {
		tasks = append(tasks, op.GetLaunch().GetTasks()...)
	}
	if len(msg.Operations) == 0 {
		// An accept with no operations is a decline (Mesos).
		m.handleDecline(ctx, &messages.Decline{FrameworkId: msg.FrameworkId, OfferIds: msg.OfferIds, Filters: msg.Filters})
		return
	}
	taken, err := m.books.takeOffers(f.id(), msg.OfferIds, true)
	for _, o := range taken {
		m.toFramework(ctx, f.id(), fwRescind{offerID: o.id})
	}
	if err != nil {
		// Valid offers named by an invalid accept go back whole; every
		// task ends as TASK_ERROR so the framework learns its fate.
		for _, o := range taken {
			m.returnOffer(ctx, o, allocation.Return{})
		}
		for _, t := range tasks {
			m.sendStatus(ctx, f, m.taskStatus(t.TaskId, nil, messages.TaskState_TASK_ERROR, messages.TaskStatusReason_REASON_INVALID_OFFERS, err.Error()))
		}
		m.reject(ctx, ctx.Sender(), messages.Error_UNKNOWN_OFFER, err.Error(), msg)
		return
	}
	agentID, role := taken[0].agentID, taken[0].role
	// left is regular, leftRev the agent's revocable pool, and leftLent
	// regular resources offered as revocable (policy.Grant.AsRevocable).
	var left, leftRev, leftLent policy.Resources
	for _, o := range taken {
		if o.asRev {
			leftLent = leftLent.Add(o.res)
		} else {
			left = left.Add(o.res)
		}
		leftRev = leftRev.Add(o.rev)
	}
	launching := map[string]bool{}
	launched := 0
	a := m.books.agents[agentID]
	for _, t := range tasks {
		res, rev, err := m.books.validateTask(f, agentID, t, launching, left)
		lent := false
		switch {
		case err != nil:
		case rev.IsEmpty():
		case leftLent.Contains(rev):
			lent = true
		case !leftRev.Contains(rev):
			err = fmt.Errorf("task asks for revocable %s but only %s is left (one task takes its revocable resources from one offer kind)", rev, leftRev.Add(leftLent))
		}
		if err != nil {
			m.log.Info("task invalid", "framework_id", f.id(), "task_id", t.GetTaskId().GetValue(), "err", err)
			m.sendStatus(ctx, f, m.taskStatus(t.TaskId, a.info.Id, messages.TaskState_TASK_ERROR, messages.TaskStatusReason_REASON_TASK_INVALID, err.Error()))
			continue
		}
		left = left.Sub(res)
		if lent {
			// Regular resources on loan: the agent sees them as regular,
			// the books charge them to the regular pool.
			leftLent = leftLent.Sub(rev)
			res, rev = res.Add(rev), policy.Resources{}
		} else {
			leftRev = leftRev.Sub(rev)
		}
		launching[t.TaskId.Value] = true
		launched++
		if lent {
			t = proto.Clone(t).(*messages.TaskInfo)
			t.Resources = append(res.ToMessages(false), rev.ToMessages(true)...)
		}
		m.books.addTask(f, agentID, role, t, res, rev, lent, m.now())
		ctx.Send(actor.NewPID(a.address, a.actorID), &messages.RunTask{
			Framework: f.info, Task: t, FrameworkPid: m.schedulers[f.id()], MasterEpoch: m.cfg.Info.Epoch, Role: role, Revocable: lent,
		})
	}
	left = left.Add(leftLent)
	m.cfg.Metrics.launched.Add(float64(launched))
	if !left.IsEmpty() || !leftRev.IsEmpty() {
		ret := allocation.Return{FrameworkID: f.id(), Role: role, AgentID: agentID, Resources: left, Revocable: leftRev}
		if launched > 0 {
			// What a launch left unused is filtered for this framework
			// as its accept asks (Mesos); others are offered it at once.
			ret.Unused, ret.Refuse = true, refuse(msg.Filters)
		}
		ctx.Send(m.cfg.Allocator, ret)
	}
	if launched > 0 {
		m.changed()
	}
}

// taskStatus builds a status the master itself reports (no uuid: it needs
// no acknowledgement).
func (m *master) taskStatus(taskID *messages.TaskID, agentID *messages.AgentID, state messages.TaskState, reason messages.TaskStatusReason, text string) *messages.TaskStatus {
	return &messages.TaskStatus{TaskId: taskID, AgentId: agentID, State: state, Reason: reason, Message: text, TimestampUnixNano: m.now().UnixNano()}
}

// toFramework sends msg to the framework's handler. A framework recovered
// from agents' re-registrations has none until its scheduler subscribes:
// then nothing is sent (status updates stay unacknowledged on the agent,
// which resends them).
func (m *master) toFramework(ctx actor.Context, frameworkID string, msg any) {
	if h, ok := m.fwHandlers[frameworkID]; ok {
		ctx.Send(h, msg)
	}
}

func (m *master) sendStatus(ctx actor.Context, f *frameworkRecord, st *messages.TaskStatus) {
	if h, ok := m.fwHandlers[f.id()]; ok {
		ctx.Send(h, fwSend{msg: &messages.StatusUpdate{FrameworkId: f.info.Id, Status: st, MasterEpoch: m.cfg.Info.Epoch}})
	}
}

func (m *master) handleSuppress(ctx actor.Context, msg *messages.Suppress) {
	if f, ok := m.caller(ctx, msg.FrameworkId, msg); ok {
		if err := checkRoles(f, msg.Roles); err != nil {
			m.reject(ctx, ctx.Sender(), messages.Error_INVALID_ARGUMENT, err.Error(), msg)
			return
		}
		ctx.Send(m.cfg.Allocator, allocation.Suppress{FrameworkID: f.id(), Roles: msg.Roles})
	}
}

func (m *master) handleRevive(ctx actor.Context, msg *messages.Revive) {
	if f, ok := m.caller(ctx, msg.FrameworkId, msg); ok {
		if err := checkRoles(f, msg.Roles); err != nil {
			m.reject(ctx, ctx.Sender(), messages.Error_INVALID_ARGUMENT, err.Error(), msg)
			return
		}
		ctx.Send(m.cfg.Allocator, allocation.Revive{FrameworkID: f.id(), Roles: msg.Roles})
	}
}

func checkRoles(f *frameworkRecord, roles []string) error {
	for _, r := range roles {
		found := false
		for _, have := range f.info.Roles {
			found = found || have == r
		}
		if !found {
			return fmt.Errorf("framework %s is not subscribed to role %q", f.id(), r)
		}
	}
	return nil
}

func (m *master) handleKill(ctx actor.Context, msg *messages.KillTask) {
	f, ok := m.caller(ctx, msg.FrameworkId, msg)
	if !ok {
		return
	}
	t, live := f.tasks[msg.GetTaskId().GetValue()]
	if !live || messages.IsTerminal(t.task.State) {
		// Mesos: killing an unknown task answers TASK_LOST.
		m.sendStatus(ctx, f, m.taskStatus(msg.TaskId, msg.AgentId, messages.TaskState_TASK_LOST, messages.TaskStatusReason_REASON_RECONCILIATION, "task unknown to the master"))
		return
	}
	m.killTask(ctx, t, msg.KillPolicy, messages.TaskStatusReason_REASON_KILLED_BY_FRAMEWORK)
}

func (m *master) killTask(ctx actor.Context, t *taskRecord, policy *messages.KillPolicy, reason messages.TaskStatusReason) {
	a, ok := m.books.agents[t.agentID()]
	if !ok || !a.reachable {
		return // the agent's return settles the task
	}
	ctx.Send(actor.NewPID(a.address, a.actorID), &messages.KillTask{
		FrameworkId: t.task.FrameworkId, TaskId: t.task.TaskId, AgentId: t.task.AgentId, KillPolicy: policy, MasterEpoch: m.cfg.Info.Epoch,
		Reason: reason,
	})
}

// handleReconcile answers with the latest known state of the named tasks
// (explicit), or of every live task (implicit, no tasks named).
func (m *master) handleReconcile(ctx actor.Context, msg *messages.Reconcile) {
	f, ok := m.caller(ctx, msg.FrameworkId, msg)
	if !ok {
		return
	}
	reply := func(st *messages.TaskStatus) {
		st = proto.Clone(st).(*messages.TaskStatus)
		st.Uuid, st.Reason = nil, messages.TaskStatusReason_REASON_RECONCILIATION
		m.sendStatus(ctx, f, st)
	}
	if len(msg.Tasks) == 0 {
		for _, t := range ordered(f.tasks, strings.Compare) {
			if !messages.IsTerminal(t.task.State) {
				reply(t.task.LatestStatus)
			}
		}
		return
	}
	deferred := 0
	defer func() {
		if deferred > 0 {
			ctx.ActorSystem().EventStream.Publish(ReconcileDeferred{FrameworkID: f.id(), Tasks: deferred})
		}
	}()
	for _, q := range msg.Tasks {
		if t, ok := f.tasks[q.GetTaskId().GetValue()]; ok {
			reply(t.task.LatestStatus)
			continue
		}
		if m.now().Before(m.recoveringUntil) {
			deferred++
			// Its agent may not have re-registered with this new leader
			// yet: answer when it does, or when the window ends.
			m.pendingReconcile = append(m.pendingReconcile, pendingReconcile{frameworkID: f.id(), task: q})
			continue
		}
		reply(m.taskStatus(q.TaskId, q.AgentId, messages.TaskState_TASK_LOST, messages.TaskStatusReason_REASON_RECONCILIATION, "task unknown to the master"))
	}
}

func (m *master) handleTeardown(ctx actor.Context, msg *messages.Teardown) {
	if f, ok := m.caller(ctx, msg.FrameworkId, msg); ok {
		m.log.Info("framework teardown requested", "framework_id", f.id())
		m.teardown(ctx, f, "framework tore itself down")
	}
}

// teardown removes a framework: offers rescinded, tasks killed. The
// allocator keeps the tasks' resources until each ends, so nothing is
// offered twice; the framework is forgotten when its last task ends.
func (m *master) teardown(ctx actor.Context, f *frameworkRecord, why string) {
	f.tearingDown = true
	m.rescindAll(ctx, f, why)
	ctx.Send(m.cfg.Allocator, allocation.DeactivateFramework{FrameworkID: f.id()})
	for _, t := range ordered(f.tasks, strings.Compare) {
		if !messages.IsTerminal(t.task.State) {
			m.killTask(ctx, t, nil, messages.TaskStatusReason_REASON_FRAMEWORK_REMOVED)
		}
	}
	m.maybeRemove(ctx, f)
}

// maybeRemove forgets a torn-down framework once no task is live.
func (m *master) maybeRemove(ctx actor.Context, f *frameworkRecord) {
	if !f.tearingDown {
		return
	}
	for _, t := range f.tasks {
		if !messages.IsTerminal(t.task.State) {
			return
		}
	}
	for _, t := range f.tasks {
		m.books.forgetTask(t)
	}
	m.books.removeFramework(f.id())
	ctx.Send(m.cfg.Allocator, allocation.RemoveFramework{FrameworkID: f.id()})
	if h, ok := m.fwHandlers[f.id()]; ok {
		ctx.Send(h, fwSend{msg: &messages.Error{Code: messages.Error_UNKNOWN_FRAMEWORK, Message: "framework removed", Leader: m.cfg.Info}})
		ctx.Poison(h) // Stop would drop the message above: Poison drains first

		delete(m.fwHandlers, f.id())
	}
	delete(m.schedulers, f.id())
	m.log.Info("framework removed", "framework_id", f.id())
	m.changed()
	ctx.ActorSystem().EventStream.Publish(FrameworkRemoved{FrameworkID: f.id()})
}

func (m *master) handleFrameworkDisconnected(ctx actor.Context, msg frameworkDisconnected) {
	if pid, ok := m.schedulers[msg.frameworkID]; !ok || !pid.Equal(msg.pid) {
		return // an old scheduler went away after a failover
	}
	gen, ok := m.books.disconnect(msg.frameworkID)
	if !ok {
		return
	}
	f, _ := m.books.framework(msg.frameworkID)
	delete(m.schedulers, msg.frameworkID)
	m.rescindAll(ctx, f, "scheduler disconnected")
	ctx.Send(m.cfg.Allocator, allocation.DeactivateFramework{FrameworkID: f.id()})
	timeout := failoverTimeout(f.info)
	m.log.Warn("framework disconnected; its tasks keep running until the failover timeout", "framework_id", f.id(), "failover_timeout", timeout)
	m.later(timeout, failoverExpired{frameworkID: f.id(), gen: gen})
	m.changed()
	ctx.ActorSystem().EventStream.Publish(FrameworkDisconnected{FrameworkID: f.id()})
}

func (m *master) handleFailoverExpired(ctx actor.Context, msg failoverExpired) {
	f, err := m.books.framework(msg.frameworkID)
	if err != nil || f.connected || f.gen != msg.gen || f.tearingDown {
		return
	}
	m.log.Warn("framework failover timeout passed; removing it and killing its tasks", "framework_id", f.id())
	m.teardown(ctx, f, "failover timeout passed")
}

package core

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// failoverTimeout is a disconnected framework's failover timeout; gen
// tells it from an earlier disconnection's.
type failoverTimeout struct {
	frameworkID string
	gen         uint64
}

func (failoverTimeout) isTimer() {}

// Subscribe registers a framework, or re-connects one with its ID: a
// scheduler that failed over, reconnected after a partition, or found a new
// leader. p is the scheduler's connection; from now on only calls on it are
// taken for the framework.
func (c *Core) Subscribe(p Peer, msg *messages.SubscribeFramework, now time.Time) Ready {
	to := replyTo(p, msg.GetPid().GetAddress(), msg.GetPid().GetId())
	if to.IsZero() {
		c.log.Warn("subscription without a scheduler to answer; ignored")
		return c.ready()
	}
	resubscribing := msg.GetInfo().GetId().GetValue() != ""
	if !c.mayHoldFramework(p, msg.GetInfo(), c.books.frameworks[msg.GetInfo().GetId().GetValue()], to, msg) || !c.mayRegisterIn(p, msg.GetInfo(), msg) {
		return c.ready()
	}
	if !resubscribing && ValidateFrameworkInfo(msg.GetInfo()) == nil && !c.books.subscribeRetried(msg.Session) {
		principal := msg.GetInfo().GetPrincipal()
		if p.authenticated() {
			principal = p.Principal
		}
		if !c.mayAddFramework(to, principal, msg.GetInfo(), msg) {
			return c.ready()
		}
	}
	for _, r := range msg.SuppressedRoles {
		if !hasRole(msg.GetInfo(), r) {
			c.reject(to, messages.Error_INVALID_ARGUMENT, fmt.Sprintf("suppressed role %q is not one of the framework's roles %v; suppress only roles it subscribes in", r, msg.GetInfo().GetRoles()), msg)
			return c.ready()
		}
	}
	f, known, err := c.books.subscribe(msg.GetInfo(), msg.Session)
	if err != nil {
		code := messages.Error_INVALID_ARGUMENT
		if errors.Is(err, ErrFrameworkRemoved) {
			code = messages.Error_UNKNOWN_FRAMEWORK
		}
		c.log.Warn("framework subscription rejected", "name", msg.GetInfo().GetName(), "err", err)
		c.reject(to, code, err.Error(), msg)
		return c.ready()
	}
	id := f.id()
	if p.authenticated() && f.info.Principal == "" {
		f.info.Principal = p.Principal // a copy the books own
	}
	subscribed := &messages.FrameworkSubscribed{FrameworkId: f.info.Id, Master: c.cfg.Info, HeartbeatIntervalNanos: int64(c.cfg.FrameworkHeartbeat), TakesBatches: true}
	if known && f.connected && f.conn == to {
		// The same scheduler again: its retry crossed our answer (it
		// retries until it hears one). Answer again; its offers stand,
		// or it would launch on offers rescinded under it.
		c.send(to, subscribed)
		return c.ready()
	}
	if known {
		// A new scheduler connection: the old one's offers go, and the
		// old scheduler (if another) is told it lost the framework.
		c.rescindAll(f, "framework failed over")
		if f.connected && !f.conn.IsZero() && f.conn != to {
			c.log.Info("scheduler failed over; telling the old one", "framework_id", id, "old", f.conn.String(), "new", to.String())
			c.send(f.conn, &messages.FrameworkFailedOver{FrameworkId: f.info.Id, MasterEpoch: c.epoch()})
		}
		c.toAllocator(&messages.AllocatorActivateFramework{FrameworkId: id})
		c.log.Info("framework re-subscribed", "framework_id", id, "scheduler", to.String())
	} else {
		c.toAllocator(&messages.AllocatorAddFramework{Info: f.info})
		c.log.Info("framework subscribed", "framework_id", id, "name", f.info.Name, "roles", f.info.Roles, "scheduler", to.String())
	}
	if len(msg.SuppressedRoles) > 0 {
		// Before any allocation: the allocator takes these in order, so a
		// new leader offers a suppressed role nothing, even while every
		// agent re-registers.
		c.suppress(f, msg.SuppressedRoles)
	}
	f.connected, f.conn = true, to
	c.emit(WatchScheduler{FrameworkID: id, Scheduler: to, Heartbeat: c.cfg.FrameworkHeartbeat})
	c.send(to, subscribed)
	c.tellDrains(f)
	c.tellMaintenance(f, now)
	c.changed = true
	// A scheduler with its FrameworkID re-subscribes, even to a new leader
	// that had not heard of the framework yet.
	c.publish(FrameworkSubscribed{FrameworkID: id, Resubscribed: known || resubscribing, Info: f.info})
	return c.ready()
}

// caller checks that a call comes from the framework's current scheduler
// and answers the sender if not.
func (c *Core) caller(p Peer, id *messages.FrameworkID, req proto.Message) (*frameworkRecord, bool) {
	f, err := c.books.framework(id.GetValue())
	if err != nil {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_FRAMEWORK, err.Error()+": subscribe first", req)
		return nil, false
	}
	if f.tearingDown {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_FRAMEWORK, fmt.Sprintf("framework %s is being torn down: register a new one", f.id()), req)
		return nil, false
	}
	if !f.connected {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_FRAMEWORK, fmt.Sprintf("framework %s is not connected: subscribe again", f.id()), req)
		return nil, false
	}
	if p.authenticated() && f.info.GetPrincipal() != p.Principal {
		c.deny(p, DeniedIdentity, fmt.Sprintf("framework %s belongs to principal %q", f.id(), f.info.GetPrincipal()), req)
		return nil, false
	}
	if p.Endpoint.IsZero() || f.conn != p.Endpoint {
		c.reject(p.Endpoint, messages.Error_UNKNOWN_FRAMEWORK, fmt.Sprintf("framework %s is held by another scheduler (failed over): stop", f.id()), req)
		return nil, false
	}
	return f, true
}

// SchedulerLost is the framework's handler reporting that the connection
// to conn ended. If conn still held the framework, the framework is
// disconnected: its offers are rescinded and its tasks keep running for its
// failover timeout, waiting for a scheduler to subscribe with its ID.
func (c *Core) SchedulerLost(frameworkID string, conn Endpoint, now time.Time) Ready {
	f, ok := c.books.frameworks[frameworkID]
	if !ok || !f.connected || f.conn != conn {
		return c.ready() // an old scheduler went away after a failover
	}
	f.connected, f.conn = false, Endpoint{}
	f.gen++
	c.rescindAll(f, "scheduler disconnected")
	c.toAllocator(&messages.AllocatorDeactivateFramework{FrameworkId: f.id()})
	timeout := failoverTimeoutOf(f.info)
	c.log.Warn("framework disconnected; its tasks keep running until the failover timeout", "framework_id", f.id(), "failover_timeout", timeout)
	c.arm(timeout, failoverTimeout{frameworkID: f.id(), gen: f.gen})
	c.changed = true
	c.publish(FrameworkDisconnected{FrameworkID: f.id()})
	return c.ready()
}

func (c *Core) failoverExpired(t failoverTimeout, now time.Time) {
	f, err := c.books.framework(t.frameworkID)
	if err != nil || f.connected || f.gen != t.gen || f.tearingDown {
		return
	}
	c.log.Warn("framework failover timeout passed; removing it and killing its tasks", "framework_id", f.id())
	c.teardown(f, "failover timeout passed", now)
}

// Teardown is a scheduler removing its framework: its tasks are killed.
func (c *Core) Teardown(p Peer, msg *messages.Teardown, now time.Time) Ready {
	if f, ok := c.caller(p, msg.FrameworkId, msg); ok {
		c.log.Info("framework teardown requested", "framework_id", f.id())
		c.teardown(f, "framework tore itself down", now)
	}
	return c.ready()
}

// teardown removes a framework: offers withdrawn, tasks killed. The
// allocator keeps the tasks' resources until each ends, so nothing is
// offered twice; the framework is forgotten when its last task ends.
func (c *Core) teardown(f *frameworkRecord, why string, now time.Time) {
	f.tearingDown = true
	c.log.Info("framework being torn down", "framework_id", f.id(), "why", why, "offers_withdrawn", len(f.offers))
	// A framework with no live task is removed below, in this same
	// step, and the allocator's RemoveFramework frees all it granted
	// the framework: returning each offer first would only be a
	// thousand messages to undo one by one what that undoes at once.
	c.withdrawAll(f, f.hasLiveTasks())
	c.toAllocator(&messages.AllocatorDeactivateFramework{FrameworkId: f.id()})
	for _, t := range ordered(f.tasks, strings.Compare) {
		if !messages.IsTerminal(t.task.State) {
			c.killTask(t, nil, messages.TaskStatusReason_REASON_FRAMEWORK_REMOVED)
		}
	}
	c.maybeRemove(f)
	c.changed = true
}

// hasLiveTasks reports whether a task of the framework has not ended.
func (f *frameworkRecord) hasLiveTasks() bool {
	for _, t := range f.tasks {
		if !messages.IsTerminal(t.task.State) {
			return true
		}
	}
	return false
}

// maybeRemove forgets a torn-down framework once no task is live.
func (c *Core) maybeRemove(f *frameworkRecord) {
	if !f.tearingDown || f.hasLiveTasks() {
		return
	}
	for _, t := range ordered(f.tasks, strings.Compare) {
		c.books.forgetTask(t)
	}
	c.books.removeFramework(f.id())
	c.books.dropSharedCharges(f.id()) // the allocator frees them with the framework
	c.toAllocator(&messages.AllocatorRemoveFramework{FrameworkId: f.id()})
	if f.connected {
		c.send(f.conn, &messages.Error{Code: messages.Error_UNKNOWN_FRAMEWORK, Message: "framework removed", Leader: c.cfg.Info})
	}
	c.emit(ForgetScheduler{FrameworkID: f.id()})
	c.log.Info("framework removed", "framework_id", f.id())
	c.changed = true
	c.publish(FrameworkRemoved{FrameworkID: f.id()})
}

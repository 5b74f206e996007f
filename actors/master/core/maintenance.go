package core

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Maintenance windows, after Mesos' maintenance primitives: an operator
// schedules windows ahead, each a set of machines (agents' hostnames, or
// agent IDs) unavailable from a start for a duration. Mesos' machine modes
// map onto the drain:
//
//   - scheduled (Mesos' DRAINING mode): the agent is still offered, and
//     every framework with live tasks on it is told, with the window's start
//     as deadline (AgentDraining: Agora's inverse offer), when the schedule
//     is set and when it subscribes again;
//   - at the start (Mesos' DOWN): the agent drains with the start as its
//     deadline, so what still runs is killed at once (REASON_AGENT_DRAINING)
//     and it is offered to nobody; an agent that registers during the
//     window is drained as it arrives;
//   - at the end (Mesos' UP): the agent is reactivated by itself. Mesos
//     waits for an operator's machine/up instead; here an operator who wants
//     that schedules a longer window, or drains the agent (a drain of his own
//     is not ended by a window).
//
// The schedule is configuration, kept like the role configuration: stored
// (PersistMaintenance: Consul KV with HA, a file in the work directory
// without) before it applies, and loaded by every new leader (Config).

// Bounds on a schedule.
const (
	MaxMaintenanceWindows  = 1000
	MaxMaintenanceMachines = 10_000 // in all windows together
	// MaxMaintenanceDuration bounds one window.
	MaxMaintenanceDuration = 365 * 24 * time.Hour
)

// ErrInvalidSchedule wraps every refused maintenance schedule.
var ErrInvalidSchedule = errors.New("invalid maintenance schedule")

// ValidateMaintenance checks a schedule: bounded, every window with
// machines and a positive duration, a machine in at most one window (as
// Mesos), and no window already over at now.
func ValidateMaintenance(s *messages.MaintenanceSchedule, now time.Time) error {
	if n := len(s.GetWindows()); n > MaxMaintenanceWindows {
		return fmt.Errorf("%w: %d windows, at most %d", ErrInvalidSchedule, n, MaxMaintenanceWindows)
	}
	seen := map[string]int{}
	for i, w := range s.GetWindows() {
		if len(w.Machines) == 0 {
			return fmt.Errorf("%w: window %d names no machine", ErrInvalidSchedule, i+1)
		}
		for _, m := range w.Machines {
			if err := messages.ValidateID("machine", m); err != nil {
				return fmt.Errorf("%w: window %d: %w", ErrInvalidSchedule, i+1, err)
			}
			if j, ok := seen[m]; ok {
				return fmt.Errorf("%w: machine %q is in windows %d and %d: a machine may be in one window", ErrInvalidSchedule, m, j, i+1)
			}
			seen[m] = i + 1
		}
		d := time.Duration(w.DurationNanos)
		if d <= 0 || d > MaxMaintenanceDuration {
			return fmt.Errorf("%w: window %d lasts %v: want more than 0 and at most %v", ErrInvalidSchedule, i+1, d, MaxMaintenanceDuration)
		}
		if w.StartUnixNano <= 0 {
			return fmt.Errorf("%w: window %d has no start", ErrInvalidSchedule, i+1)
		}
		if end := windowEnd(w); !end.After(now) {
			return fmt.Errorf("%w: window %d ended at %s, before now", ErrInvalidSchedule, i+1, end.UTC().Format(time.RFC3339))
		}
	}
	if len(seen) > MaxMaintenanceMachines {
		return fmt.Errorf("%w: %d machines, at most %d", ErrInvalidSchedule, len(seen), MaxMaintenanceMachines)
	}
	return nil
}

func windowStart(w *messages.MaintenanceWindow) time.Time { return time.Unix(0, w.StartUnixNano) }

func windowEnd(w *messages.MaintenanceWindow) time.Time {
	return windowStart(w).Add(time.Duration(w.DurationNanos))
}

// maintenanceState is the schedule in force and the change being stored.
type maintenanceState struct {
	// schedule is never changed in place: a change replaces it.
	schedule *messages.MaintenanceSchedule
	// byMachine indexes the schedule's windows by machine: agents
	// (re-)registering by the thousand after a failover look theirs up.
	byMachine map[string]int
	// gen counts schedules, so timers of an earlier one find nothing.
	gen     uint64
	writing *maintenanceWrite
}

// setSchedule puts s in force in the books of maintenance.
func (m *maintenanceState) setSchedule(s *messages.MaintenanceSchedule) {
	m.schedule = s
	m.byMachine = make(map[string]int, len(s.GetWindows()))
	for i, w := range s.GetWindows() {
		for _, name := range w.Machines {
			m.byMachine[name] = i
		}
	}
}

type maintenanceWrite struct {
	schedule *messages.MaintenanceSchedule
	token    uint64
	to       Endpoint
	req      proto.Message
}

// Timers of a window (by its index in the schedule of generation gen).
type (
	maintenanceStart struct {
		gen    uint64
		window int
	}
	maintenanceEnd struct {
		gen    uint64
		window int
	}
)

func (maintenanceStart) isTimer() {}
func (maintenanceEnd) isTimer()   {}

// UpdateMaintenance replaces the schedule for an operator the
// drain_agents list allows. It applies once stored (PersistMaintenance),
// or at once when the core stores nothing.
func (c *Core) UpdateMaintenance(p Peer, msg *messages.UpdateMaintenanceSchedule, now time.Time) Ready {
	if !c.mayDrain(p, "schedule maintenance", msg) {
		return c.ready()
	}
	s := msg.GetSchedule()
	if s == nil {
		s = &messages.MaintenanceSchedule{}
	}
	if err := ValidateMaintenance(s, now); err != nil {
		c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, err.Error(), msg)
		return c.ready()
	}
	s = proto.Clone(s).(*messages.MaintenanceSchedule)
	if !c.cfg.PersistMaintenance {
		c.applyMaintenance(s, now)
		c.send(p.Endpoint, &messages.OperatorAccepted{Message: scheduleText(s)})
		return c.ready()
	}
	if c.maint.writing != nil {
		c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, "another maintenance schedule is being stored: retry once it is", msg)
		return c.ready()
	}
	c.nextToken++
	c.maint.writing = &maintenanceWrite{schedule: s, token: c.nextToken, to: p.Endpoint, req: msg}
	c.emit(PersistMaintenance{Schedule: s, Token: c.nextToken})
	return c.ready()
}

// MaintenancePersisted is the end of a PersistMaintenance write: the
// schedule applies, or the operator is told it was not stored.
func (c *Core) MaintenancePersisted(token uint64, err error, now time.Time) Ready {
	w := c.maint.writing
	if w == nil || w.token != token {
		return c.ready()
	}
	c.maint.writing = nil
	if err != nil {
		c.log.Error("maintenance schedule not stored; the one in force stays", "err", err)
		c.reject(w.to, messages.Error_INVALID_ARGUMENT, fmt.Sprintf("the maintenance schedule could not be stored (%v); the one in force stays: retry", err), w.req)
		return c.ready()
	}
	c.applyMaintenance(w.schedule, now)
	c.send(w.to, &messages.OperatorAccepted{Message: scheduleText(w.schedule)})
	return c.ready()
}

func scheduleText(s *messages.MaintenanceSchedule) string {
	if len(s.Windows) == 0 {
		return "maintenance schedule cleared"
	}
	machines := 0
	for _, w := range s.Windows {
		machines += len(w.Machines)
	}
	return fmt.Sprintf("maintenance schedule in force: windows: %d, machines: %d", len(s.Windows), machines)
}

// MaintenanceSchedule is the schedule in force, for an operator the
// view_state list allows.
func (c *Core) MaintenanceSchedule(p Peer, q *messages.GetMaintenanceSchedule) (*messages.MaintenanceSchedule, *messages.Error) {
	if refused := c.mayView(p, q); refused != nil {
		return nil, refused
	}
	if c.maint.schedule == nil {
		return &messages.MaintenanceSchedule{}, nil
	}
	return c.maint.schedule, nil
}

// applyMaintenance puts a schedule in force: agents a window of the old
// one drains and the new one does not are reactivated, and the new one's
// windows are started.
func (c *Core) applyMaintenance(s *messages.MaintenanceSchedule, now time.Time) {
	var ahead []*agentRecord // told of a window that has not started
	for _, a := range ordered(c.books.agents, strings.Compare) {
		if i, ok := c.windowOf(a); ok && a.drain == nil && windowStart(c.maint.schedule.Windows[i]).After(now) {
			ahead = append(ahead, a)
		}
	}
	c.maint.setSchedule(s)
	c.log.Info("maintenance schedule in force", "windows", len(s.Windows))
	for _, a := range ahead {
		if _, ok := c.windowOf(a); !ok {
			c.tellFrameworksDrainEnded(a) // its window was taken off the schedule
		}
	}
	for _, a := range ordered(c.books.agents, strings.Compare) {
		if a.drain != nil && a.drain.maintenance {
			if i, ok := c.windowOf(a); !ok || !inWindow(s.Windows[i], now) {
				c.log.Info("maintenance over for an agent (rescheduled)", "agent_id", a.id())
				c.reactivate(a)
			}
		}
	}
	c.startMaintenance(now)
	c.changed = true
}

// startMaintenance arms the schedule's timers and tells frameworks of
// windows ahead; agents in a window now are drained.
func (c *Core) startMaintenance(now time.Time) {
	c.maint.gen++
	agents := c.agentsByWindow()
	for i, w := range c.maint.schedule.GetWindows() {
		start, end := windowStart(w), windowEnd(w)
		if !end.After(now) {
			continue
		}
		if start.After(now) {
			for _, a := range agents[i] {
				c.tellFrameworksMaintenance(a, start)
			}
			c.arm(start.Sub(now), maintenanceStart{gen: c.maint.gen, window: i})
		} else {
			c.maintenanceStarted(maintenanceStart{gen: c.maint.gen, window: i}, now)
		}
		c.arm(end.Sub(now), maintenanceEnd{gen: c.maint.gen, window: i})
	}
}

// maintenanceStarted drains the window's agents.
func (c *Core) maintenanceStarted(t maintenanceStart, now time.Time) {
	w := c.window(t.gen, t.window)
	if w == nil {
		return
	}
	for _, a := range c.agentsByWindow()[t.window] {
		c.maintain(a, w, now)
	}
}

// maintain drains an agent for its window, unless it already is. An
// operator's drain with an earlier deadline stays his (the window does not
// end it); one with a later deadline gives way to the window.
func (c *Core) maintain(a *agentRecord, w *messages.MaintenanceWindow, now time.Time) {
	start := windowStart(w)
	switch {
	case a.drain != nil && a.drain.maintenance:
		return
	case a.drain != nil && a.drain.deadline.Equal(start):
		// The window's own drain, which a new leader restored from the
		// agent's report.
		a.drain.maintenance = true
		return
	case a.drain != nil && a.drain.deadline.Before(start):
		return
	}
	c.log.Info("maintenance window starts: draining the agent", "agent_id", a.id(), "hostname", a.info.GetHostname(), "until", windowEnd(w))
	c.drain(a, start, true, now)
}

// maintenanceOver reactivates the window's agents it drained.
func (c *Core) maintenanceOver(t maintenanceEnd, now time.Time) {
	if c.window(t.gen, t.window) == nil {
		return
	}
	for _, a := range c.agentsByWindow()[t.window] {
		if a.drain != nil && a.drain.maintenance {
			c.log.Info("maintenance window over: the agent is active again", "agent_id", a.id())
			c.reactivate(a)
		}
	}
}

// maybeMaintain settles an agent that (re-)registered: one in a window
// now is drained (or, restored from its report by a new leader, known as
// the window's drain); one that reports the drain of a window that is
// over is reactivated.
func (c *Core) maybeMaintain(a *agentRecord, now time.Time) {
	i, ok := c.windowOf(a)
	if !ok {
		return
	}
	w := c.maint.schedule.Windows[i]
	switch {
	case inWindow(w, now):
		c.maintain(a, w, now)
	case a.drain != nil && !windowEnd(w).After(now) && a.drain.deadline.Equal(windowStart(w)):
		c.log.Info("the agent's maintenance window is over: active again", "agent_id", a.id())
		c.reactivate(a)
	}
}

// window is window i of the schedule of generation gen (nil: replaced).
func (c *Core) window(gen uint64, i int) *messages.MaintenanceWindow {
	if gen != c.maint.gen || i >= len(c.maint.schedule.GetWindows()) {
		return nil
	}
	return c.maint.schedule.Windows[i]
}

func inWindow(w *messages.MaintenanceWindow, now time.Time) bool {
	return !now.Before(windowStart(w)) && now.Before(windowEnd(w))
}

// windowOf is the index of the window naming the agent (by hostname or
// ID), if any.
func (c *Core) windowOf(a *agentRecord) (int, bool) {
	if i, ok := c.maint.byMachine[a.info.GetHostname()]; ok {
		return i, true
	}
	i, ok := c.maint.byMachine[a.id()]
	return i, ok
}

// agentsByWindow are the agents each window names, by window index, each
// list by agent ID.
func (c *Core) agentsByWindow() map[int][]*agentRecord {
	out := map[int][]*agentRecord{}
	if len(c.maint.byMachine) == 0 {
		return out
	}
	for _, a := range ordered(c.books.agents, strings.Compare) {
		if i, ok := c.windowOf(a); ok {
			out[i] = append(out[i], a)
		}
	}
	return out
}

// tellFrameworksMaintenance tells every connected framework with live
// tasks on the agent that it goes down at start.
func (c *Core) tellFrameworksMaintenance(a *agentRecord, start time.Time) {
	for _, id := range liveFrameworks(a) {
		if f, ok := c.books.frameworks[id]; ok && f.connected {
			c.send(f.conn, &messages.AgentDraining{AgentId: a.info.Id, DeadlineUnixNano: start.UnixNano(), MasterEpoch: c.epoch()})
		}
	}
}

// tellMaintenance tells a framework that (re-)subscribed of the windows
// ahead of agents where it has live tasks.
func (c *Core) tellMaintenance(f *frameworkRecord, now time.Time) {
	if len(c.maint.schedule.GetWindows()) == 0 {
		return
	}
	var told []string
	for _, t := range ordered(f.tasks, strings.Compare) {
		a, ok := c.books.agents[t.agentID()]
		if !ok || a.drain != nil || messages.IsTerminal(t.task.State) || slices.Contains(told, a.id()) {
			continue
		}
		if i, ok := c.windowOf(a); ok && windowStart(c.maint.schedule.Windows[i]).After(now) {
			told = append(told, a.id())
			c.send(f.conn, &messages.AgentDraining{AgentId: a.info.Id, DeadlineUnixNano: c.maint.schedule.Windows[i].StartUnixNano, MasterEpoch: c.epoch()})
		}
	}
}

// liveFrameworks are the IDs of the frameworks with live tasks on the
// agent, sorted.
func liveFrameworks(a *agentRecord) []string {
	var ids []string
	for _, t := range a.tasks {
		if !messages.IsTerminal(t.task.State) && !slices.Contains(ids, t.frameworkID()) {
			ids = append(ids, t.frameworkID())
		}
	}
	slices.Sort(ids)
	return ids
}

package master

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/agora-sched/agora/messages"
)

// The cluster's recent past, for the web UI: its totals over the last hour
// (charts) and a timeline of its events (agents added and lost, drains,
// frameworks added and removed, preemptions, this master's election). Both
// come from the snapshots the master already publishes, folded by a
// recorder on its own goroutine (Publisher.Record), never by the master
// actor; a browser gets them when it connects to the state stream, then
// each change.

const (
	// HistoryStep is the time one point of the history covers: the
	// newest snapshot of each step is kept.
	HistoryStep = 10 * time.Second
	// HistoryPoints bounds the history: an hour of steps.
	HistoryPoints = 360
	// TimelineEvents bounds the timeline.
	TimelineEvents = 500
	// timelineBurst: more events of one kind in one snapshot than this
	// (10,000 agents registering) become one event that counts them.
	timelineBurst = 10
)

// History is the cluster's recent past as its snapshots show it: one point
// of totals per HistoryStep and a timeline found by comparing each snapshot
// with the one before. Plain data: fed snapshots in order, it reads no
// clock and keeps no snapshot (only what the next comparison needs).
type History struct {
	points []*messages.ClusterPoint
	events []*messages.ClusterEvent
	seq    uint64

	master     string
	epoch      uint64
	agents     map[string]*agentSeen
	frameworks map[string]*frameworkSeen
	preempted  map[string]uint64
	// mark tells this snapshot's entries from those it no longer has.
	mark uint64
}

type agentSeen struct {
	host      string
	reachable bool
	drain     messages.DrainInfo_State
	mark      uint64
}

type frameworkSeen struct {
	name                   string
	connected, tearingDown bool
	mark                   uint64
}

// Points returns the history, oldest first. The points are shared: never
// change them.
func (h *History) Points() []*messages.ClusterPoint { return slices.Clone(h.points) }

// Events returns the timeline, oldest first (shared, as Points).
func (h *History) Events() []*messages.ClusterEvent { return slices.Clone(h.events) }

// Observe folds a snapshot into the history. Snapshots of a standby (not
// leading) are ignored: only a leader's books say what the cluster does.
func (h *History) Observe(st *messages.MasterState) {
	if !st.GetLeading() {
		return
	}
	h.addPoint(clusterTotals(st))
	now := st.SnapshotUnixNano
	if st.GetMaster().GetId() != h.master || st.GetMaster().GetEpoch() != h.epoch {
		// A new term: what its snapshot holds was there before it (agents
		// and frameworks re-register after a failover), so it is the
		// baseline, not news.
		h.master, h.epoch = st.GetMaster().GetId(), st.GetMaster().GetEpoch()
		h.agents, h.frameworks, h.preempted = map[string]*agentSeen{}, map[string]*frameworkSeen{}, map[string]uint64{}
		h.diff(st)
		h.add(now, []*messages.ClusterEvent{{Kind: messages.ClusterEvent_LEADER, Subject: h.master, Text: fmt.Sprintf(
			"master %s leads (epoch %d): %d agents, %d frameworks", h.master, h.epoch, len(st.Agents), len(st.Frameworks))}})
		return
	}
	h.add(now, h.diff(st))
}

// addPoint keeps p as its step's point, replacing an earlier one of the
// same step, and forgets points older than the history's hour.
func (h *History) addPoint(p *messages.ClusterPoint) {
	p.UnixNano -= p.UnixNano % int64(HistoryStep)
	if n := len(h.points); n > 0 && h.points[n-1].UnixNano >= p.UnixNano {
		h.points[n-1] = p // a snapshot with an older time than the last: keep the newest
		return
	}
	h.points = append(h.points, p)
	drop := 0
	for drop < len(h.points)-1 && (len(h.points)-drop > HistoryPoints || h.points[drop].UnixNano <= p.UnixNano-int64(HistoryPoints)*int64(HistoryStep)) {
		drop++
	}
	h.points = slices.Delete(h.points, 0, drop)
}

// diff updates what was seen to st and returns what changed.
func (h *History) diff(st *messages.MasterState) []*messages.ClusterEvent {
	h.mark++
	var out []*messages.ClusterEvent
	ev := func(kind messages.ClusterEvent_Kind, subject, id, text string) {
		out = append(out, &messages.ClusterEvent{Kind: kind, Subject: subject, Id: id, Text: text})
	}
	for _, a := range st.Agents {
		id, host := a.GetInfo().GetId().GetValue(), a.GetInfo().GetHostname()
		drain := a.GetDrain().GetState()
		seen, ok := h.agents[id]
		if !ok {
			seen = &agentSeen{host: host, reachable: true}
			h.agents[id] = seen
			ev(messages.ClusterEvent_AGENT_ADDED, host, id, "agent "+host+" registered")
		}
		seen.mark = h.mark
		switch {
		case seen.reachable && !a.Reachable:
			ev(messages.ClusterEvent_AGENT_UNREACHABLE, host, id, "agent "+host+" is unreachable (missed its heartbeats)")
		case !seen.reachable && a.Reachable:
			ev(messages.ClusterEvent_AGENT_REACHABLE, host, id, "agent "+host+" is back")
		}
		if drain != seen.drain {
			switch drain {
			case messages.DrainInfo_DRAINING:
				ev(messages.ClusterEvent_AGENT_DRAINING, host, id, "agent "+host+" draining until "+
					time.Unix(0, a.GetDrain().GetDeadlineUnixNano()).UTC().Format(time.RFC3339))
			case messages.DrainInfo_DRAINED:
				ev(messages.ClusterEvent_AGENT_DRAINED, host, id, "agent "+host+" drained")
			default:
				ev(messages.ClusterEvent_AGENT_REACTIVATED, host, id, "agent "+host+" reactivated")
			}
		}
		seen.host, seen.reachable, seen.drain = host, a.Reachable, drain
	}
	for _, id := range slices.Sorted(maps.Keys(h.agents)) {
		if seen := h.agents[id]; seen.mark != h.mark {
			ev(messages.ClusterEvent_AGENT_REMOVED, seen.host, id, "agent "+seen.host+" removed")
			delete(h.agents, id)
		}
	}
	for _, f := range st.Frameworks {
		id, name := f.GetInfo().GetId().GetValue(), f.GetInfo().GetName()
		seen, ok := h.frameworks[id]
		if !ok {
			seen = &frameworkSeen{name: name, connected: true}
			h.frameworks[id] = seen
			ev(messages.ClusterEvent_FRAMEWORK_ADDED, name, id, "framework "+name+" subscribed")
		}
		seen.mark = h.mark
		if seen.connected && !f.Connected && !f.TearingDown {
			ev(messages.ClusterEvent_FRAMEWORK_DISCONNECTED, name, id, "framework "+name+" disconnected (its failover timeout runs)")
		}
		if !seen.tearingDown && f.TearingDown {
			ev(messages.ClusterEvent_FRAMEWORK_TEARING_DOWN, name, id, "framework "+name+" is being torn down")
		}
		seen.connected, seen.tearingDown = f.Connected, f.TearingDown
	}
	for _, id := range slices.Sorted(maps.Keys(h.frameworks)) {
		if seen := h.frameworks[id]; seen.mark != h.mark {
			ev(messages.ClusterEvent_FRAMEWORK_REMOVED, seen.name, id, "framework "+seen.name+" removed")
			delete(h.frameworks, id)
		}
	}
	for _, u := range st.RoleUsage {
		before, ok := h.preempted[u.Role]
		if ok && u.Preemptions > before {
			ev(messages.ClusterEvent_PREEMPTION, u.Role, "", fmt.Sprintf("role %s: %d tasks preempted", u.Role, u.Preemptions-before))
		}
		h.preempted[u.Role] = u.Preemptions
	}
	return out
}

// add stamps events with their time and number and appends them, a burst
// of one kind as one event that counts it.
func (h *History) add(now int64, events []*messages.ClusterEvent) {
	count := map[messages.ClusterEvent_Kind]int{}
	for _, e := range events {
		count[e.Kind]++
	}
	summarized := map[messages.ClusterEvent_Kind]bool{}
	for _, e := range events {
		if n := count[e.Kind]; n > timelineBurst {
			if summarized[e.Kind] {
				continue
			}
			summarized[e.Kind] = true
			e = &messages.ClusterEvent{Kind: e.Kind, Text: fmt.Sprintf("%d× %s (%s, …)", n, burstName(e.Kind), e.Subject)}
		}
		h.seq++
		e.Seq, e.UnixNano = h.seq, now
		h.events = append(h.events, e)
	}
	if over := len(h.events) - TimelineEvents; over > 0 {
		h.events = slices.Delete(h.events, 0, over)
	}
}

func burstName(k messages.ClusterEvent_Kind) string {
	switch k {
	case messages.ClusterEvent_AGENT_ADDED:
		return "agent registered"
	case messages.ClusterEvent_AGENT_UNREACHABLE:
		return "agent unreachable"
	case messages.ClusterEvent_AGENT_REACHABLE:
		return "agent back"
	case messages.ClusterEvent_AGENT_REMOVED:
		return "agent removed"
	}
	return k.String()
}

// clusterTotals sums a snapshot's resources by name: what reachable agents
// have, what tasks use, what outstanding offers hold, and what tasks use
// of resources offered as revocable (scalars only: ranges are not a
// quantity to chart). /metrics and the history show the same totals.
func clusterTotals(st *messages.MasterState) *messages.ClusterPoint {
	capacity, used, offered, revocable := map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}
	add := func(to map[string]float64, rs []*messages.Resource) {
		for _, r := range rs {
			if r.Scalar != 0 {
				to[r.Name] += r.Scalar
			}
		}
	}
	for _, a := range st.Agents {
		if a.Reachable {
			add(capacity, a.GetInfo().GetResources())
		}
		add(used, a.Used)
	}
	for _, u := range st.RoleUsage {
		add(revocable, u.RevocableUsed)
	}
	for _, f := range st.Frameworks {
		add(offered, f.Offered)
	}
	list := func(m map[string]float64) []*messages.Resource {
		out := make([]*messages.Resource, 0, len(m))
		for _, name := range slices.Sorted(maps.Keys(m)) {
			out = append(out, &messages.Resource{Name: name, Scalar: m[name]})
		}
		return out
	}
	return &messages.ClusterPoint{UnixNano: st.SnapshotUnixNano, Capacity: list(capacity), Used: list(used), Offered: list(offered), Revocable: list(revocable)}
}

package master

import "time"

// liveness decides when one agent is unreachable. It is plain data owned by
// the agent's handler actor, which asks it when to check next.
type liveness struct {
	lastSeen time.Time
	interval time.Duration
}

// observe records a heartbeat and the interval the agent was told to use.
func (l *liveness) observe(now time.Time, interval time.Duration) {
	l.lastSeen, l.interval = now, interval
}

// check says whether the agent has missed maxMisses heartbeats in a row at
// now; if not, it returns when to check again.
func (l *liveness) check(now time.Time, maxMisses int) (unreachable bool, next time.Time) {
	deadline := l.lastSeen.Add(l.interval * time.Duration(maxMisses))
	if !now.Before(deadline) {
		return true, time.Time{}
	}
	return false, deadline
}

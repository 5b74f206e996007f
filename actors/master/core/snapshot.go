package core

import (
	"time"

	"github.com/agora-sched/agora/messages"
)

// State is the master's state as /state shows it. It shares only
// immutable parts with the books (AgentInfo, FrameworkInfo and role
// settings are replaced, never changed), so it can be read on another
// goroutine while the core goes on.
func (c *Core) State(now time.Time) *messages.MasterState {
	return &messages.MasterState{
		Master:                 c.cfg.Info,
		Leading:                true,
		Agents:                 c.books.Agents(),
		Frameworks:             c.books.Frameworks(now),
		Roles:                  c.roles.Config(),
		RoleUsage:              c.roleUsage(),
		ReclaimIntervalNanos:   int64(c.cfg.ReclaimInterval),
		SnapshotUnixNano:       now.UnixNano(),
		HeartbeatIntervalNanos: int64(c.HeartbeatInterval()),
		MaxMissedHeartbeats:    uint32(c.cfg.Liveness.MaxMisses),
	}
}

// AgentCounts is how many agents the books know, and how many of them are
// reachable.
func (c *Core) AgentCounts() (known, reachable int) {
	return c.books.AgentCount(), c.books.ReachableCount()
}

package core

import "time"

// LivenessPolicy says how often agents heartbeat and how many heartbeats may
// be missed before an agent is unreachable.
type LivenessPolicy struct {
	// Interval is a fixed heartbeat interval; 0 means auto: the interval
	// grows with the number of agents so the master receives at most
	// MaxRate heartbeats per second, and never drops below MinInterval.
	Interval    time.Duration
	MinInterval time.Duration
	MaxRate     float64
	// MaxMisses heartbeats missed in a row make an agent unreachable.
	MaxMisses int
}

// DefaultLiveness: heartbeat every 5 s (more on big clusters, at most 500
// heartbeats/s), unreachable after 3 missed: 15 s on a small cluster, where
// Mesos waits 75 s (15 s x 5). 10,000 agents heartbeat every 20 s.
var DefaultLiveness = LivenessPolicy{MinInterval: 5 * time.Second, MaxRate: 500, MaxMisses: 3}

// HeartbeatInterval is the interval for a cluster of n agents.
func (p LivenessPolicy) HeartbeatInterval(n int) time.Duration {
	if p.Interval > 0 {
		return p.Interval
	}
	d := p.MinInterval
	if p.MaxRate > 0 {
		if scaled := time.Duration(float64(n) / p.MaxRate * float64(time.Second)); scaled > d {
			d = scaled
		}
	}
	return d
}

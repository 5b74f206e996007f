package core

import "time"

// Metrics receives the core's counts as it decides: telemetry only, never
// read back, so that the core stays free of a metrics library and tests can
// leave it out.
type Metrics interface {
	// Count adds n to counter c; label is the counter's one label value
	// where it has one (an error code, a task state, a role), else "".
	Count(c Counter, label string, n int)
	// Observe records one duration of histogram h.
	Observe(h Histogram, d time.Duration)
}

// Histogram names a duration the core measures on its own clock.
type Histogram int

// The histograms.
const (
	OfferToLaunch       Histogram = iota // an offer made to the accept that launched on it
	StatusUpdateLatency                  // a status update's agent timestamp to its arrival (clock skew between hosts included)
)

// Counter names what the core counts.
type Counter int

// The counters.
const (
	Registrations         Counter = iota // new agents admitted
	Reregistrations                      // agents re-admitted with their ID
	Heartbeats                           // agent heartbeats accepted
	UnreachableEvents                    // agents marked unreachable
	Rejected                             // requests answered with an Error; label: code
	OffersSent                           // offers sent to frameworks
	OffersRescinded                      // offers taken back
	OffersDeclined                       // offers declined
	TasksLaunched                        // tasks sent to agents
	StatusUpdates                        // task status updates from agents; label: state
	Preemptions                          // tasks preempted; label: the task's role
	PermissionDenied                     // requests refused for who sent them; label: the acl.Action, or DeniedIdentity
	LimitExceeded                        // requests refused by a limit; label: the limit's flag
	AgentsRemoved                        // unreachable agents removed after --agent-unreachable-timeout
	ReregistrationRetries                // re-registration retries of an admission already taken (answered again, or ignored while the answer is on its way)
)

type discard struct{}

func (discard) Count(Counter, string, int)       {}
func (discard) Observe(Histogram, time.Duration) {}

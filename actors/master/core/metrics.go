package core

// Metrics receives the core's counts as it decides: telemetry only, never
// read back, so that the core stays free of a metrics library and tests can
// leave it out.
type Metrics interface {
	// Count adds n to counter c; label is the counter's one label value
	// where it has one (an error code, a task state, a role), else "".
	Count(c Counter, label string, n int)
}

// Counter names what the core counts.
type Counter int

// The counters.
const (
	Registrations     Counter = iota // new agents admitted
	Reregistrations                  // agents re-admitted with their ID
	Heartbeats                       // agent heartbeats accepted
	UnreachableEvents                // agents marked unreachable
	Rejected                         // requests answered with an Error; label: code
	OffersSent                       // offers sent to frameworks
	OffersRescinded                  // offers taken back
	OffersDeclined                   // offers declined
	TasksLaunched                    // tasks sent to agents
	StatusUpdates                    // task status updates from agents; label: state
	Preemptions                      // tasks preempted; label: the task's role
	LimitExceeded                    // requests refused by a limit; label: the limit's flag
	AgentsRemoved                    // unreachable agents removed after --agent-unreachable-timeout
)

type discard struct{}

func (discard) Count(Counter, string, int) {}

package master

// Events the master publishes on its actor system's EventStream after its
// books change. They are for observers in the same process (testkit, the
// dev CLI); they never cross a node boundary.
type (
	// AgentAdmitted: an agent registered (Reregistered false, new ID) or
	// re-registered with its existing ID.
	AgentAdmitted struct {
		AgentID      string
		Hostname     string
		Reregistered bool
	}
	// AgentMarkedUnreachable: an agent missed MaxMisses heartbeats.
	AgentMarkedUnreachable struct{ AgentID string }
	// AgentRemoved: an agent unregistered.
	AgentRemoved struct{ AgentID string }
)

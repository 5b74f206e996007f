package agent

import "github.com/agora-sched/agora/messages"

// Events the agent publishes on its actor system's EventStream, for
// observers in the same process (testkit). They never cross a node boundary.
type (
	// Registered: the master confirmed a (re-)registration.
	Registered struct {
		AgentID      string
		Reregistered bool
	}
	// UpdateAcknowledged: the scheduler acknowledged a task's status
	// update; the agent stops resending it.
	UpdateAcknowledged struct {
		FrameworkID, TaskID string
		State               messages.TaskState
	}
	// HeartbeatAcked: the master acknowledged heartbeat Seq.
	HeartbeatAcked struct {
		AgentID string
		Seq     uint64
	}
)

// SandboxRemoved: a finished task's sandbox was garbage-collected.
type SandboxRemoved struct{ Dir string }

// ExecutorLaunched: the agent started a custom executor for a framework.
type ExecutorLaunched struct{ FrameworkID, ExecutorID string }

// ExecutorResized: the agent wrote a custom executor's container limits
// (its resources and its live tasks'), after a task came or went or its
// container started.
type ExecutorResized struct {
	FrameworkID, ExecutorID string
	CPUs, MemMB             float64
}

// ExecutorEnded: the agent forgot a custom executor (it exited, or was
// killed) and told the master, which frees its resources.
type ExecutorEnded struct{ FrameworkID, ExecutorID string }

// HealthChecked: a health check probe of a task ended (Passed, or its
// Failures-th failure in a row counted), and the agent acted on it.
type HealthChecked struct {
	FrameworkID, TaskID string
	Passed              bool
	Failures            uint32
}

// Checked: a check (CheckInfo) probe of a task ended with Status, and the
// agent acted on it.
type Checked struct {
	FrameworkID, TaskID string
	Status              *messages.CheckStatusInfo
}

// DiskChecked: a round of disk enforcement ended: Targets directories
// (sandboxes and volumes) were measured, and the tasks Killed (their IDs)
// are being killed for their disk. The next round is armed when it is
// published.
type DiskChecked struct {
	Targets int
	Killed  []string
}

package core

import (
	"time"

	"github.com/agora-sched/agora/messages"
)

// Events the core publishes (Publish effects) after its books change. They
// are for observers in the master's process (testkit, the dev CLI); they
// never cross a node boundary.
type (
	// AgentAdmitted: an agent registered (Reregistered false, new ID) or
	// re-registered with its existing ID.
	AgentAdmitted struct {
		AgentID      string
		Hostname     string
		Reregistered bool
		// Info is the agent's, as registered: the books' own (read it while
		// handling the event).
		Info *messages.AgentInfo
	}
	// AgentMarkedUnreachable: an agent missed MaxMisses heartbeats.
	AgentMarkedUnreachable struct{ AgentID string }
	// AgentDrainChanged: an operator drained an agent (Draining, until
	// Deadline) or reactivated it, or a new leader restored a drain.
	AgentDrainChanged struct {
		AgentID  string
		Draining bool
		Deadline time.Time
	}
	// AgentRemoved: an agent unregistered.
	AgentRemoved struct{ AgentID string }
	// FrameworkSubscribed: a framework registered (Resubscribed false) or
	// a scheduler re-subscribed with its FrameworkID.
	FrameworkSubscribed struct {
		FrameworkID  string
		Resubscribed bool
		// Info is the framework's, as subscribed: the books' own (read it
		// while handling the event).
		Info *messages.FrameworkInfo
	}
	// FrameworkDisconnected: its scheduler went away; the failover timeout
	// runs.
	FrameworkDisconnected struct{ FrameworkID string }
	// FrameworkRemoved: torn down and forgotten.
	FrameworkRemoved struct{ FrameworkID string }
	// TaskAdded: a task was launched (STAGING). Task is the books' own
	// record, which the master goes on changing: read it only while
	// handling the event (on the master's goroutine, as EventStream
	// subscribers are called), and copy what is kept.
	TaskAdded struct{ Task *messages.Task }
	// TaskUpdated: the master learned a task's new state.
	TaskUpdated struct {
		FrameworkID, TaskID string
		State               messages.TaskState
	}
	// ReclaimChecked: a reclamation check ran. Starved lists the roles
	// below their guarantee that free resources could not cover;
	// Rescinded counts offers taken back from other roles and Preempted
	// the tasks (framework ID and task ID) told to stop.
	ReclaimChecked struct {
		Starved   []string
		Rescinded int
		Preempted [][2]string
	}
	// ReconcileDeferred: a newly elected master holds back its answer for
	// tasks it has not heard of until their agents re-register or the
	// re-registration window ends.
	ReconcileDeferred struct {
		FrameworkID string
		Tasks       int
	}
)

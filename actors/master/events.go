package master

import "github.com/agora-sched/agora/actors/master/core"

// The events the master publishes on its actor system's EventStream after
// its books change (core.Publish effects). They are for observers in the
// same process (testkit, the dev CLI); they never cross a node boundary.
type (
	AgentAdmitted          = core.AgentAdmitted
	AgentMarkedUnreachable = core.AgentMarkedUnreachable
	AgentRemoved           = core.AgentRemoved
	FrameworkSubscribed    = core.FrameworkSubscribed
	FrameworkDisconnected  = core.FrameworkDisconnected
	FrameworkRemoved       = core.FrameworkRemoved
	TaskUpdated            = core.TaskUpdated
	TaskAdded              = core.TaskAdded
	ReclaimChecked         = core.ReclaimChecked
	ReconcileDeferred      = core.ReconcileDeferred
)

// LivenessPolicy says how often agents heartbeat and how many heartbeats
// may be missed (core.LivenessPolicy).
type LivenessPolicy = core.LivenessPolicy

// DefaultLiveness is core.DefaultLiveness.
var DefaultLiveness = core.DefaultLiveness

// CompletedTasks is how many finished tasks the master remembers.
const CompletedTasks = core.CompletedTasks

// DefaultFailoverTimeout is core.DefaultFailoverTimeout.
const DefaultFailoverTimeout = core.DefaultFailoverTimeout

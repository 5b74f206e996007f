// Package chaos checks what a cluster did under faults: a History recorded
// during a chaos run (every status update each framework saw, each
// framework's subscriptions, the leading master's /state snapshots, and
// scans of the task processes actually alive on the machine) goes in,
// the broken rules come out. The checker is a pure function: no clock, no
// I/O; the recording is the test's (cmd/agora's chaos process test), so
// the rules can be tested on hand-made histories.
//
//	h := chaos.History{...}                 // appended to while faults run
//	for _, v := range chaos.Check(h, chaos.Options{Grace: time.Second}) {
//		t.Error(v)
//	}
//
// The rules (docs/chaos.md says why each matters):
//
//   - RunningTwice: no task ID is RUNNING twice at once: in one process
//     scan on two agents, in one snapshot on two agents, or RUNNING at its
//     framework on a second agent with no terminal update in between.
//   - TerminalOnce: every launched task ends in exactly one terminal update
//     at its framework (a reconciliation answer repeating it is an answer,
//     not a second end), and nothing follows it but such answers.
//   - Unaccounted: a task the framework saw and never saw end is running
//     in the final snapshot.
//   - Overcommit: in every snapshot, each agent's used plus offered is
//     within its total, resource by resource.
//   - FrameworkID: a framework process subscribes under one FrameworkID
//     throughout, and the master never shows its name under another.
//   - EndedButRunning: nothing reported ended (LOST above all) is still
//     running: a process scan later than Grace after the report finds none
//     of it, and no later snapshot lists it running.
package chaos

import (
	"fmt"
	"time"
)

// Update is one status update as a framework process saw it.
type Update struct {
	At time.Time
	// Framework names the process that saw it (the key of its
	// Subscriptions).
	Framework   string
	FrameworkID string
	TaskID      string
	// AgentID is where the update says the task is; may be empty.
	AgentID string
	// State is a TaskState's name: TASK_RUNNING.
	State string
	// Reconciled: an answer to the framework's reconciliation, which
	// repeats the latest state rather than reporting a change.
	Reconciled bool
}

// Subscription is a framework process's (re)subscription, as it logged it.
type Subscription struct {
	At        time.Time
	Framework string // the process
	// Name is the FrameworkInfo name the master shows it under.
	Name        string
	FrameworkID string
}

// Placement is a task somewhere.
type Placement struct {
	FrameworkID, TaskID, AgentID string
}

// AgentUse is one agent's resources in a snapshot, scalars by name.
type AgentUse struct {
	ID        string
	Reachable bool
	Total     map[string]float64
	Used      map[string]float64
	Offered   map[string]float64
}

// Snapshot is what a leading master reported at one time.
type Snapshot struct {
	At     time.Time
	Master string
	Agents []AgentUse
	// Frameworks maps each framework's ID to its name.
	Frameworks map[string]string
	// Running are the tasks the master lists as TASK_RUNNING.
	Running []Placement
}

// Scan is the task processes alive on the machine at one time (each task
// process carries its framework, task and agent IDs in its environment).
type Scan struct {
	At    time.Time
	Tasks []Placement
}

// History is a chaos run's record. Each list is in the order recorded;
// the checker orders by At where it matters.
type History struct {
	Updates       []Update
	Subscriptions []Subscription
	Snapshots     []Snapshot
	Scans         []Scan
}

// Options tune the checker.
type Options struct {
	// Grace is how long after a task is reported ended its process may
	// still be seen (the scan and the report race by milliseconds: an
	// agent reports a kill once the process is gone, but a scan may have
	// read /proc a moment before the report was logged).
	Grace time.Duration
}

// Rule names a property a run must keep.
type Rule string

// The rules Check applies (see the package comment).
const (
	RunningTwice    Rule = "running-twice"
	TerminalOnce    Rule = "terminal-once"
	Unaccounted     Rule = "unaccounted"
	Overcommit      Rule = "overcommit"
	FrameworkID     Rule = "framework-id"
	EndedButRunning Rule = "ended-but-running"
)

// Violation is one broken rule, with what broke it.
type Violation struct {
	Rule   Rule
	At     time.Time
	Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s at %s: %s", v.Rule, v.At.Format("15:04:05.000"), v.Detail)
}

package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

var t0 = time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func up(s float64, task, agent, state string) Update {
	return Update{At: at(s), Framework: "elastic", FrameworkID: "F1", TaskID: task, AgentID: agent, State: state}
}

func reconciled(u Update) Update { u.Reconciled = true; return u }

func agent(id string, used, offered float64) AgentUse {
	return AgentUse{ID: id, Reachable: true, Total: map[string]float64{"cpus": 2, "mem": 1024},
		Used: map[string]float64{"cpus": used}, Offered: map[string]float64{"cpus": offered}}
}

func snap(s float64, running ...Placement) Snapshot {
	return Snapshot{At: at(s), Master: "master-0", Agents: []AgentUse{agent("A1", 1, 0.5), agent("A2", 0.5, 1.5)},
		Frameworks: map[string]string{"F1": "elastic"}, Running: running}
}

func on(task, agent string) Placement {
	return Placement{FrameworkID: "F1", TaskID: task, AgentID: agent}
}

// clean is a run that keeps every rule: t1 runs through an agent's
// partition (UNREACHABLE, RUNNING again, reconciled), t2 is killed, t3 is
// lost with its agent and never seen again.
func clean() History {
	return History{
		Subscriptions: []Subscription{{At: at(0), Framework: "elastic", Name: "elastic", FrameworkID: "F1"},
			{At: at(20), Framework: "elastic", Name: "elastic", FrameworkID: "F1"}},
		Updates: []Update{
			up(1, "t1", "A1", "TASK_STARTING"), up(1.1, "t1", "A1", "TASK_RUNNING"),
			up(1, "t2", "A2", "TASK_RUNNING"), up(1, "t3", "A2", "TASK_RUNNING"),
			up(10, "t1", "A1", "TASK_UNREACHABLE"), up(15, "t1", "A1", "TASK_RUNNING"),
			up(16, "t2", "A2", "TASK_KILLED"), up(17, "t3", "A2", "TASK_LOST"),
			reconciled(up(21, "t1", "A1", "TASK_RUNNING")), reconciled(up(21, "t3", "A2", "TASK_LOST")),
		},
		Snapshots: []Snapshot{snap(2, on("t1", "A1"), on("t2", "A2"), on("t3", "A2")), snap(30, on("t1", "A1"))},
		Scans: []Scan{{At: at(2), Tasks: []Placement{on("t1", "A1"), on("t1", "A1"), on("t2", "A2"), on("t3", "A2")}},
			{At: at(16.5), Tasks: []Placement{on("t1", "A1"), on("t2", "A2")}}, // t2's kill was 0.5 s ago: within grace
			{At: at(30), Tasks: []Placement{on("t1", "A1")}}},
	}
}

func TestCheckPassesACleanRun(t *testing.T) {
	if vs := Check(clean(), Options{Grace: time.Second}); len(vs) != 0 {
		t.Fatalf("a clean history broke rules: %v", vs)
	}
}

// Each case breaks one rule of a clean history, as a bug in the cluster
// would; the checker names that rule (and only that one).
func TestCheckCatchesEachRule(t *testing.T) {
	cases := []struct {
		name   string
		rule   Rule
		mutate func(h *History)
	}{
		{"the same task in two agents' process trees at once", RunningTwice, func(h *History) {
			h.Scans[2].Tasks = append(h.Scans[2].Tasks, on("t1", "A2"))
		}},
		{"a snapshot placing a task on two agents", RunningTwice, func(h *History) {
			h.Snapshots[1].Running = append(h.Snapshots[1].Running, on("t1", "A2"))
		}},
		{"RUNNING on a second agent with no end between", RunningTwice, func(h *History) {
			h.Updates = append(h.Updates, up(18, "t1", "A2", "TASK_RUNNING"))
		}},
		{"a second terminal update", TerminalOnce, func(h *History) {
			h.Updates = append(h.Updates, up(18, "t2", "A2", "TASK_FAILED"))
		}},
		{"a repeated terminal update that is no reconciliation answer", TerminalOnce, func(h *History) {
			h.Updates = append(h.Updates, up(18, "t2", "A2", "TASK_KILLED"))
		}},
		{"a state after the end", TerminalOnce, func(h *History) {
			h.Updates = append(h.Updates, up(18, "t2", "A2", "TASK_KILLING"))
		}},
		{"a task never ended and gone at the end", Unaccounted, func(h *History) {
			h.Updates = append(h.Updates, up(5, "t4", "A1", "TASK_RUNNING"))
		}},
		{"used plus offered over an agent's total", Overcommit, func(h *History) {
			h.Snapshots[0].Agents[1].Offered["cpus"] = 1.6
		}},
		{"offered a resource the agent does not have", Overcommit, func(h *History) {
			h.Snapshots[0].Agents[0].Offered["gpus"] = 1
		}},
		{"a framework process subscribing under a new ID", FrameworkID, func(h *History) {
			h.Subscriptions[1].FrameworkID = "F2"
		}},
		{"the master showing the framework under another ID", FrameworkID, func(h *History) {
			h.Snapshots[1].Frameworks = map[string]string{"F9": "elastic"}
		}},
		{"LOST, yet its process still runs", EndedButRunning, func(h *History) {
			h.Scans[2].Tasks = append(h.Scans[2].Tasks, on("t3", "A2"))
		}},
		{"LOST, then RUNNING again at the framework", EndedButRunning, func(h *History) {
			h.Updates = append(h.Updates, up(25, "t3", "A2", "TASK_RUNNING"))
		}},
		{"LOST, yet a later snapshot lists it running", EndedButRunning, func(h *History) {
			h.Snapshots[1].Running = append(h.Snapshots[1].Running, on("t3", "A2"))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := clean()
			c.mutate(&h)
			vs := Check(h, Options{Grace: time.Second})
			if len(vs) != 1 || vs[0].Rule != c.rule {
				t.Fatalf("want exactly one %s violation, got %v", c.rule, vs)
			}
			if !strings.Contains(vs[0].String(), string(c.rule)) {
				t.Fatalf("the violation's text %q does not name its rule", vs[0])
			}
		})
	}
}

// Grace bounds how long a process may outlive the report of its end.
func TestCheckGrace(t *testing.T) {
	h := clean()
	h.Scans[1].At = at(17.5) // 1.5 s after t2's kill
	if vs := Check(h, Options{Grace: time.Second}); len(vs) != 1 || vs[0].Rule != EndedButRunning {
		t.Fatalf("a task seen 1.5 s after its kill with 1 s of grace: want ended-but-running, got %v", vs)
	}
	if vs := Check(h, Options{Grace: 2 * time.Second}); len(vs) != 0 {
		t.Fatalf("within 2 s of grace: want none, got %v", vs)
	}
}

// A violation is reported once per rule and task, however often it shows.
func TestCheckReportsEachBreakOnce(t *testing.T) {
	h := clean()
	for i := range h.Scans {
		h.Scans[i].Tasks = append(h.Scans[i].Tasks, on("t1", "A9"))
	}
	if vs := Check(h, Options{Grace: time.Second}); len(vs) != 1 {
		t.Fatalf("want one running-twice violation for t1, got %v", vs)
	}
}

// The checker's terminal states are messages.IsTerminal's.
func TestTerminalMatchesMessages(t *testing.T) {
	for v, name := range messages.TaskState_name {
		if got, want := terminal(name), messages.IsTerminal(messages.TaskState(v)); got != want {
			t.Errorf("terminal(%s) = %v, messages.IsTerminal says %v", name, got, want)
		}
	}
}

package main

import (
	"testing"

	"github.com/agora-sched/agora/testkit/chaos"
)

// The recorder reads the elastic example's JSON log as it writes it: each
// update under the FrameworkID it last subscribed as, reconciliation
// answers marked, other lines skipped.
func TestFrameworkHistoryParsesTheElasticLog(t *testing.T) {
	log := `{"time":"2026-12-02T06:00:00Z","level":"INFO","msg":"framework subscribed","framework_id":"F1"}
{"time":"2026-12-02T06:00:01Z","level":"INFO","msg":"task status","task_id":"task-0000","state":"TASK_RUNNING","agent_id":"A1"}
not json
{"time":"2026-12-02T06:00:02Z","level":"WARN","msg":"disconnected from the master; subscribing again","reason":"x"}
{"time":"2026-12-02T06:00:03Z","level":"INFO","msg":"framework subscribed","framework_id":"F1"}
{"time":"2026-12-02T06:00:04Z","level":"INFO","msg":"task reconciled","task_id":"task-0000","state":"TASK_RUNNING","agent_id":"A1"}
`
	updates, subs := frameworkHistory(t, "elastic", log)
	if len(subs) != 2 || subs[1].FrameworkID != "F1" || subs[1].Name != "elastic" {
		t.Fatalf("subscriptions: %+v", subs)
	}
	want := []chaos.Update{
		{At: subs[0].At.Add(1e9), Framework: "elastic", FrameworkID: "F1", TaskID: "task-0000", AgentID: "A1", State: "TASK_RUNNING"},
		{At: subs[0].At.Add(4e9), Framework: "elastic", FrameworkID: "F1", TaskID: "task-0000", AgentID: "A1", State: "TASK_RUNNING", Reconciled: true},
	}
	if len(updates) != len(want) {
		t.Fatalf("updates: %+v", updates)
	}
	for i := range want {
		if !updates[i].At.Equal(want[i].At) || updates[i].TaskID != want[i].TaskID || updates[i].State != want[i].State ||
			updates[i].AgentID != want[i].AgentID || updates[i].Reconciled != want[i].Reconciled || updates[i].FrameworkID != want[i].FrameworkID {
			t.Errorf("update %d: %+v, want %+v", i, updates[i], want[i])
		}
	}
}

// A scan skips exited processes: /proc/PID/stat's state after the name,
// which may itself hold spaces and parentheses.
func TestZombieStat(t *testing.T) {
	for stat, zombie := range map[string]bool{
		"123 (sleep) S 1 2 3":    false,
		"123 (a b) (c)) Z 1 2 3": true,
		"123 (sh) X 1":           true,
		"123 (sh) R 1":           false,
		"garbage":                true,
	} {
		if got := zombieStat([]byte(stat)); got != zombie {
			t.Errorf("zombieStat(%q) = %v, want %v", stat, got, zombie)
		}
	}
}

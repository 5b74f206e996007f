package core

import (
	"fmt"
	"testing"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
)

// BenchmarkAgentsSnapshot: the agents' part of a state snapshot (what the
// publisher takes at most every 100 ms) of 10,000 agents with 4 tasks
// each, 2 of them RUNNING and 2 FINISHED unacknowledged. The per-agent task
// counts are kept as tasks change, and made into the snapshot's form only
// for agents whose tasks changed since the last snapshot; no task is
// walked.
func BenchmarkAgentsSnapshot(b *testing.B) {
	const agents, perAgent = 10_000, 4
	books := NewBooks("m")
	f, _, _ := books.subscribe(&messages.FrameworkInfo{Name: "f", Roles: []string{"r"}}, "")
	res := policy.MustParse("cpus:0.1;mem:32")
	for i := range agents {
		id, _, _ := books.register(info(fmt.Sprintf("node-%05d", i)), Endpoint{fmt.Sprintf("a%d", i), "agent"}, "", t0)
		for j := range perAgent {
			t := books.addTask(f, id, "r", &messages.TaskInfo{TaskId: &messages.TaskID{Value: fmt.Sprintf("t-%d-%d", i, j)}}, res, policy.Resources{}, false, t0)
			state := messages.TaskState_TASK_RUNNING
			if j%2 == 1 {
				state = messages.TaskState_TASK_FINISHED
			}
			books.setState(t, &messages.TaskStatus{TaskId: t.task.TaskId, State: state})
		}
	}
	b.Run("unchanged", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if st := books.Agents(); len(st) != agents || st[0].Tasks["TASK_RUNNING"] != 2 {
				b.Fatalf("%d agents, the first with %v", len(st), st[0].Tasks)
			}
		}
	})
	// Every agent's tasks changed since the last snapshot: the worst case.
	b.Run("all-changed", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			for _, a := range books.agents {
				a.stateNames = nil
			}
			b.StartTimer()
			if st := books.Agents(); len(st) != agents || st[0].Tasks["TASK_RUNNING"] != 2 {
				b.Fatalf("%d agents, the first with %v", len(st), st[0].Tasks)
			}
		}
	})
}

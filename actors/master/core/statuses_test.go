package core

import (
	"testing"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
)

// A task's history (Task.statuses, as Mesos keeps it) has one status per
// change of state, from STAGING on; a repeated state (a RUNNING health
// update) adds nothing, and a task that flaps keeps its launch and its
// newest MaxTaskStatuses-1 changes.
func TestTaskStatusesKeepEachStateChangeBounded(t *testing.T) {
	b := NewBooks("m1")
	agentID, _, err := b.register(info("h1"), Endpoint{"10.0.0.1:1", "agent"}, "s1", t0)
	if err != nil {
		t.Fatal(err)
	}
	f, _, _ := b.subscribe(&messages.FrameworkInfo{Name: "f", Roles: []string{"r"}}, "")
	tr := b.addTask(f, agentID, "r", &messages.TaskInfo{TaskId: &messages.TaskID{Value: "t1"}}, policy.MustParse("cpus:1"), policy.Resources{}, false, t0)
	set := func(s messages.TaskState, at time.Duration) {
		b.setState(tr, &messages.TaskStatus{TaskId: tr.task.TaskId, State: s, TimestampUnixNano: t0.Add(at).UnixNano()})
	}
	set(messages.TaskState_TASK_RUNNING, time.Second)
	set(messages.TaskState_TASK_RUNNING, 2*time.Second)
	states := func() (out []messages.TaskState) {
		for _, st := range tr.task.Statuses {
			out = append(out, st.State)
		}
		return out
	}
	if got := states(); len(got) != 2 || got[0] != messages.TaskState_TASK_STAGING || got[1] != messages.TaskState_TASK_RUNNING {
		t.Fatalf("statuses = %v, want STAGING, RUNNING", got)
	}
	for i := range 2 * MaxTaskStatuses {
		set(messages.TaskState_TASK_UNREACHABLE, time.Duration(10+2*i)*time.Second)
		set(messages.TaskState_TASK_RUNNING, time.Duration(11+2*i)*time.Second)
	}
	got := tr.task.Statuses
	if len(got) != MaxTaskStatuses || got[0].State != messages.TaskState_TASK_STAGING || got[len(got)-1] != tr.task.LatestStatus {
		t.Fatalf("after flapping: %d statuses, first %v, last is latest %v; want %d, STAGING, true",
			len(got), got[0].State, got[len(got)-1] == tr.task.LatestStatus, MaxTaskStatuses)
	}
	for i := 2; i < len(got); i++ {
		if got[i].TimestampUnixNano <= got[i-1].TimestampUnixNano {
			t.Fatalf("statuses out of order at %d: %v", i, states())
		}
	}
}

// An agent's report of a task the books did not know starts the task's
// history at the report: what the agent claims of its past is not kept.
func TestAdoptedTaskHistoryStartsAtItsReport(t *testing.T) {
	b := NewBooks("m1")
	agentID, _, _ := b.register(info("h1"), Endpoint{"10.0.0.1:1", "agent"}, "s1", t0)
	f, _, _ := b.subscribe(&messages.FrameworkInfo{Name: "f", Roles: []string{"r"}}, "")
	claimed := make([]*messages.TaskStatus, 1000)
	for i := range claimed {
		claimed[i] = &messages.TaskStatus{State: messages.TaskState_TASK_RUNNING}
	}
	tr := b.adoptTask(f, b.agents[agentID], &messages.Task{TaskId: &messages.TaskID{Value: "t1"}, State: messages.TaskState_TASK_RUNNING, Statuses: claimed},
		policy.MustParse("cpus:1"), policy.Resources{}, t0, nil)
	if len(tr.task.Statuses) != 1 || tr.task.Statuses[0] != tr.task.LatestStatus {
		t.Fatalf("adopted task's statuses: %d, want its one status from the report", len(tr.task.Statuses))
	}
}

// Tasks adopted from one report share slabs (a record, a Task, a status and
// a history each, taskSlab), and are still each their own: a status added
// to one task's history never shows in its neighbour's, nor changes its
// neighbour's latest status.
func TestTasksAdoptedInOneSlabHaveTheirOwnHistories(t *testing.T) {
	b := NewBooks("m1")
	agentID, _, _ := b.register(info("h1"), Endpoint{"10.0.0.1:1", "agent"}, "s1", t0)
	f, _, _ := b.subscribe(&messages.FrameworkInfo{Name: "f", Roles: []string{"r"}}, "")
	slab := newTaskSlab(3)
	var adopted []*taskRecord
	for _, id := range []string{"t1", "t2", "t3"} {
		adopted = append(adopted, b.adoptTask(f, b.agents[agentID], &messages.Task{TaskId: &messages.TaskID{Value: id}, State: messages.TaskState_TASK_RUNNING},
			policy.MustParse("cpus:1"), policy.Resources{}, t0, slab))
	}
	first, second := adopted[0], adopted[1]
	for i := range MaxTaskStatuses {
		for _, s := range []messages.TaskState{messages.TaskState_TASK_UNREACHABLE, messages.TaskState_TASK_RUNNING} {
			b.setState(first, &messages.TaskStatus{TaskId: first.task.TaskId, State: s, TimestampUnixNano: int64(i + 1)})
		}
	}
	if len(second.task.Statuses) != 1 || second.task.Statuses[0] != second.task.LatestStatus || second.task.LatestStatus.GetTaskId().GetValue() != "t2" ||
		second.task.LatestStatus.TimestampUnixNano != t0.UnixNano() {
		t.Fatalf("t1's statuses changed t2's: history %v, latest %v", second.task.Statuses, second.task.LatestStatus)
	}
	if got := first.task.Statuses; len(got) != MaxTaskStatuses || got[0].GetTaskId().GetValue() != "t1" {
		t.Fatalf("t1's history: %d statuses, first of %v; want %d, t1's adoption first", len(got), got[0].GetTaskId(), MaxTaskStatuses)
	}
	for i, tr := range adopted {
		if got := tr.task.GetTaskId().GetValue(); got != []string{"t1", "t2", "t3"}[i] || b.frameworks[f.id()].tasks[got] != tr {
			t.Fatalf("adopted task %d is %q, in the books as %v", i, got, b.frameworks[f.id()].tasks[got])
		}
	}
}

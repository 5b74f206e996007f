package core

import (
	"fmt"
	"testing"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"pgregory.net/rapid"
)

// The books keep per-framework and per-agent state counts and per-role tallies as tasks
// change, so that snapshots do not walk every task. After any sequence of
// launches, adoptions, updates and forgets they must equal a recount.
func TestTalliesMatchRecount(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		b := NewBooks("m")
		agentID, _, _ := b.register(info("h"), Endpoint{"a", "agent"}, "", t0)
		a := b.agents[agentID]
		fws := []*frameworkRecord{}
		for i, role := range []string{"r1", "r2"} {
			f, _, _ := b.subscribe(&messages.FrameworkInfo{Name: fmt.Sprint("f", i), Roles: []string{role}}, "")
			fws = append(fws, f)
		}
		states := []messages.TaskState{messages.TaskState_TASK_STARTING, messages.TaskState_TASK_RUNNING, messages.TaskState_TASK_KILLING,
			messages.TaskState_TASK_FINISHED, messages.TaskState_TASK_FAILED, messages.TaskState_TASK_LOST}
		var all []*taskRecord
		for i := 0; i < rapid.IntRange(1, 40).Draw(rt, "ops"); i++ {
			f := fws[rapid.IntRange(0, 1).Draw(rt, "fw")]
			res := policy.MustParse(fmt.Sprintf("cpus:%d;mem:32", rapid.IntRange(1, 3).Draw(rt, "cpus")))
			switch op := rapid.IntRange(0, 3).Draw(rt, "op"); {
			case op == 0:
				info := &messages.TaskInfo{TaskId: &messages.TaskID{Value: fmt.Sprint("t", i)}}
				all = append(all, b.addTask(f, agentID, f.info.Roles[0], info, res, policy.Resources{}, rapid.Bool().Draw(rt, "lent"), t0))
			case op == 1:
				task := &messages.Task{TaskId: &messages.TaskID{Value: fmt.Sprint("a", i)}, State: messages.TaskState_TASK_RUNNING, Role: f.info.Roles[0]}
				all = append(all, b.adoptTask(f, a, task, res, policy.Resources{}, t0, nil))
			case op == 2 && len(all) > 0:
				tr := all[rapid.IntRange(0, len(all)-1).Draw(rt, "task")]
				st := &messages.TaskStatus{TaskId: tr.task.TaskId, State: states[rapid.IntRange(0, len(states)-1).Draw(rt, "state")]}
				if _, live := b.frameworks[tr.frameworkID()].tasks[tr.id()]; live {
					b.setState(tr, st)
				}
			case op == 3 && len(all) > 0:
				b.forgetTask(all[rapid.IntRange(0, len(all)-1).Draw(rt, "forget")])
			}
		}
		want := map[string]*roleTally{}
		for _, f := range fws {
			counts := map[messages.TaskState]uint32{}
			var used policy.Resources
			for _, t := range f.tasks {
				counts[t.task.State]++
				if messages.IsTerminal(t.task.State) {
					continue
				}
				used = used.Add(t.res)
				r := want[t.task.Role]
				if r == nil {
					r = &roleTally{}
					want[t.task.Role] = r
				}
				r.used, r.tasks = r.used.Add(t.res), r.tasks+1
				if t.task.Revocable {
					r.revocable = r.revocable.Add(t.res)
				}
			}
			if fmt.Sprint(counts) != fmt.Sprint(f.states) {
				rt.Fatalf("framework %s: states %v, recount %v", f.id(), f.states, counts)
			}
			if used.String() != f.used.String() {
				rt.Fatalf("framework %s: used %s, recount %s", f.id(), f.used, used)
			}
		}
		agentCounts := map[messages.TaskState]uint32{}
		for _, t := range a.tasks {
			agentCounts[t.task.State]++
		}
		if fmt.Sprint(agentCounts) != fmt.Sprint(a.states) {
			rt.Fatalf("agent: states %v, recount %v", a.states, agentCounts)
		}
		if len(want) != len(b.roles) {
			rt.Fatalf("roles tallied %d, recount %d", len(b.roles), len(want))
		}
		for role, w := range want {
			g := b.roles[role]
			if g == nil || g.tasks != w.tasks || g.used.String() != w.used.String() || g.revocable.String() != w.revocable.String() {
				rt.Fatalf("role %s: tally %+v, recount %+v", role, g, w)
			}
		}
	})
}

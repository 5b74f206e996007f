package allocator

import (
	"fmt"
	"testing"
	"time"
)

// With RevocableAbove=guarantee, a capable framework's role gets its
// guarantee as regular resources and the rest as revocable; a framework
// without the capability is never given revocable resources.
func TestRevocableAboveGuarantee(t *testing.T) {
	e := newEnv(t, Options{RevocableAbove: RevocableAboveGuarantee})
	for i := 0; i < 4; i++ {
		e.agent(fmt.Sprintf("a%d", i), "cpus:2;mem:2048", nil)
	}
	if err := e.h.SetQuota("prod", NoLimit(MustParse("cpus:4").Scalars)); err != nil {
		t.Fatal(err)
	}
	e.framework(Framework{ID: "prod", Roles: []string{"prod"}, Revocable: true})
	e.framework(Framework{ID: "plain", Roles: []string{"batch"}})
	regular, asRev := map[string]int{}, map[string]int{}
	for _, g := range e.cycle(time.Second) {
		if g.AsRevocable {
			asRev[g.FrameworkID]++
		} else {
			regular[g.FrameworkID]++
		}
	}
	if regular["prod"] != 2 {
		t.Fatalf("prod should get its 4-cpu guarantee (2 agents) as regular resources: regular %v, revocable %v", regular, asRev)
	}
	if asRev["plain"] != 0 || regular["plain"] == 0 {
		t.Fatalf("a framework without the capability got revocable resources or nothing: regular %v, revocable %v", regular, asRev)
	}
}

func TestRevocableAboveFairShare(t *testing.T) {
	e := newEnv(t, Options{RevocableAbove: RevocableAboveFairShare})
	for i := 0; i < 4; i++ {
		e.agent(fmt.Sprintf("a%d", i), "cpus:2;mem:2048", nil)
	}
	e.framework(Framework{ID: "x", Roles: []string{"x"}, Revocable: true})
	e.framework(Framework{ID: "y", Roles: []string{"y"}, Revocable: true})
	// Two roles with demand: each is fairly owed half. The first grant to
	// each is regular (share 0 < 1/2), and after each holds half, revocable.
	gs := e.cycle(time.Second)
	var rev, reg int
	for _, g := range gs {
		if g.AsRevocable {
			rev++
		} else {
			reg++
		}
	}
	if len(gs) != 4 || reg != 4 {
		t.Fatalf("while below their fair shares both roles get regular resources: %+v", gs)
	}
	e.recover(gs[0])
	// The role that lost an agent is below half again: regular.
	g2 := e.cycle(time.Second)
	if len(g2) != 1 || g2[0].FrameworkID != gs[0].FrameworkID || g2[0].AsRevocable {
		t.Fatalf("got %+v, want a regular grant to %s", g2, gs[0].FrameworkID)
	}
	// Drop y's demand: x alone is owed everything, so never revocable.
	if err := e.h.Suppress("y"); err != nil {
		t.Fatal(err)
	}
	for _, g := range g2 {
		e.recover(g)
	}
	for _, g := range e.cycle(time.Second) {
		if g.AsRevocable {
			t.Fatalf("the only role with demand is owed the whole cluster: %+v", g)
		}
	}
}

// Shortfalls: the unmet guarantee of a role with demand, less what is free,
// least satisfied role first; nothing for a role without demand.
func TestShortfalls(t *testing.T) {
	e := newEnv(t, Options{})
	for i := 0; i < 4; i++ {
		e.agent(fmt.Sprintf("a%d", i), "cpus:4;mem:4096", nil)
	}
	e.framework(Framework{ID: "batch", Roles: []string{"batch"}})
	for _, g := range e.cycle(time.Second) {
		if g.FrameworkID != "batch" {
			t.Fatalf("unexpected grant %+v", g)
		}
	}
	if err := e.h.SetQuota("prod", NoLimit(MustParse("cpus:8;mem:1024").Scalars)); err != nil {
		t.Fatal(err)
	}
	if s := e.h.Shortfalls(); len(s) != 0 {
		t.Fatalf("prod has no demand yet: %v", s)
	}
	e.framework(Framework{ID: "prod", Roles: []string{"prod"}})
	s := e.h.Shortfalls()
	if len(s) != 1 || s[0].Role != "prod" || s[0].Need != MustParse("cpus:8;mem:1024").Scalars {
		t.Fatalf("shortfalls = %+v, want prod short of cpus:8;mem:1024", s)
	}
	// Free resources count against the need.
	if err := e.h.RemoveFramework("batch"); err != nil {
		t.Fatal(err)
	}
	if s := e.h.Shortfalls(); len(s) != 0 {
		t.Fatalf("16 free cpus cover prod's 8: %v", s)
	}
}

func run(task, role, agent string, res string, rev bool, age int) Running {
	return Running{FrameworkID: "f-" + role, TaskID: task, Role: role, AgentID: agent, Resources: MustParse(res).Scalars, Revocable: rev,
		Started: time.Unix(1000-int64(age), 0)}
}

func victimIDs(vs []Running) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.TaskID)
	}
	return out
}

func TestPlanPreemptionOrder(t *testing.T) {
	total := MustParse("cpus:16;mem:16384").Scalars
	need := []Shortfall{{Role: "prod", Need: MustParse("cpus:2").Scalars}}
	cases := []struct {
		name    string
		running []Running
		roles   map[string]RoleStanding
		want    string
	}{
		{
			name: "revocable first",
			running: []Running{
				run("young", "batch", "a1", "cpus:2", false, 1),
				run("rev", "batch", "a2", "cpus:2", true, 100),
			},
			want: "[rev]",
		},
		{
			name: "youngest first",
			running: []Running{
				run("old", "batch", "a1", "cpus:2", false, 100),
				run("young", "batch", "a1", "cpus:2", false, 1),
			},
			want: "[young]",
		},
		{
			name: "role most over its share first",
			running: []Running{
				run("b1", "batch", "a1", "cpus:2", false, 100),
				run("b2", "batch", "a1", "cpus:2", false, 100),
				run("b3", "batch", "a1", "cpus:2", false, 100),
				run("s1", "small", "a2", "cpus:2", false, 1),
			},
			want: "[b1]",
		},
		{
			name: "fewest tasks on one agent",
			running: []Running{
				run("t1", "batch", "a1", "cpus:1", false, 1),
				run("t2", "batch", "a1", "cpus:1", false, 2),
				run("big", "batch", "a2", "cpus:2", false, 50),
			},
			want: "[big]",
		},
		{
			name: "never below a guarantee",
			running: []Running{
				run("g1", "guarded", "a1", "cpus:2", false, 1),
				run("g2", "guarded", "a1", "cpus:2", false, 2),
				run("b1", "batch", "a2", "cpus:1", false, 100),
			},
			roles: map[string]RoleStanding{"guarded": {Guarantee: MustParse("cpus:4").Scalars, Weight: 1}},
			want:  "[b1]",
		},
		{
			name: "never the starved role",
			running: []Running{
				run("p1", "prod", "a1", "cpus:2", false, 1),
			},
			want: "[]",
		},
		{
			name: "a parent's guarantee protects its children",
			running: []Running{
				run("m1", "eng/ml", "a1", "cpus:2", false, 1),
				run("w1", "eng/web", "a1", "cpus:2", false, 2),
			},
			roles: map[string]RoleStanding{"eng": {Guarantee: MustParse("cpus:3").Scalars, Weight: 1}},
			want:  "[]",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := victimIDs(PlanPreemption(PreemptionPlan{Need: need, Running: tc.running, Roles: tc.roles, Total: total}))
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("victims %v, want %s", got, tc.want)
			}
		})
	}
}

// A need larger than one agent can free is met across agents, and the
// victims free at least the need.
func TestPlanPreemptionAcrossAgents(t *testing.T) {
	var running []Running
	for a := 0; a < 4; a++ {
		for i := 0; i < 4; i++ {
			running = append(running, run(fmt.Sprintf("t%d-%d", a, i), "batch", fmt.Sprintf("a%d", a), "cpus:1;mem:1024", false, a*4+i))
		}
	}
	need := []Shortfall{{Role: "prod", Need: MustParse("cpus:6;mem:512").Scalars}}
	vs := PlanPreemption(PreemptionPlan{Need: need, Running: running, Total: MustParse("cpus:16;mem:16384").Scalars})
	var freed Scalars
	for _, v := range vs {
		freed = freed.Add(v.Resources)
	}
	if len(vs) != 6 || !freed.Contains(need[0].Need) {
		t.Fatalf("victims %v free %v; want 6 tasks covering %v", victimIDs(vs), freed, need[0].Need)
	}
}

package master

import (
	"sort"

	"github.com/agora-sched/agora/actors/allocation"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// Reclamation. Every ReclaimInterval the master asks the allocator which
// roles with demand lack part of their guarantee that free resources cannot
// cover (allocator.Shortfalls). For those it first rescinds offers held by
// other roles, which costs nobody any work, and then preempts running tasks
// chosen by allocator.PlanPreemption: the agent tells the framework
// TASK_KILLING with REASON_PREEMPTED at once, stops the task after
// PreemptionGrace, and reports TASK_KILLED with the same reason. The freed
// resources are held for the starved role by the allocator's headroom: no
// other role is given them while the guarantee is unmet and the role has
// demand. Tasks being preempted count against the need, so a task that
// takes its whole grace to stop does not cost a second victim.

type reclaimTick struct{}

// preemption is a task on its way out for a starved role.
type preemption struct {
	forRole string
	res     policy.Scalars
}

func (m *master) handleReclaimTick(ctx actor.Context) {
	ctx.Request(m.cfg.Allocator, allocation.CheckShortfalls{})
	m.later(m.cfg.ReclaimInterval, reclaimTick{})
}

func (m *master) reclaim(ctx actor.Context, short []policy.Shortfall) {
	ev := ReclaimChecked{}
	defer func() { ctx.ActorSystem().EventStream.Publish(ev) }()
	if len(short) == 0 {
		return
	}
	need := make([]policy.Shortfall, len(short))
	copy(need, short)
	starved := map[string]bool{}
	for _, s := range short {
		starved[s.Role] = true
		ev.Starved = append(ev.Starved, s.Role)
	}
	// Tasks already being preempted for a role count as freed for it.
	for key, p := range m.preempting {
		t := m.books.task(key)
		if t == nil || messages.IsTerminal(t.task.State) {
			delete(m.preempting, key)
			continue
		}
		for i := range need {
			if need[i].Role == p.forRole {
				need[i].Need = need[i].Need.Sub(p.res.Min(need[i].Need))
			}
		}
	}
	// Offers other roles sit on come back before anything is killed.
	var offers []*offerRecord
	for _, o := range m.books.offers {
		if !starved[o.role] {
			offers = append(offers, o)
		}
	}
	sort.Slice(offers, func(i, j int) bool { return offers[i].id < offers[j].id })
	rescinded := 0
	for _, o := range offers {
		if take(need, o.res.Scalars) {
			m.rescind(ctx, o, "resources reclaimed for a role below its guarantee")
			rescinded++
		}
	}
	ev.Rescinded = rescinded
	remaining := policy.Scalars{}
	for _, s := range need {
		remaining = remaining.Add(s.Need)
	}
	if remaining.IsZero() {
		if rescinded > 0 {
			m.log.Info("reclaimed offers for roles below their guarantees", "rescinded_offers", rescinded)
		}
		return
	}
	victims := policy.PlanPreemption(policy.PreemptionPlan{
		Need: need, Running: m.preemptible(), Roles: m.roleStandings(), Total: m.books.regularTotal(),
	})
	grace := &messages.KillPolicy{GracePeriodNanos: int64(m.cfg.PreemptionGrace)}
	for _, v := range victims {
		key := taskKey{v.FrameworkID, v.TaskID}
		t := m.books.task(key)
		forRole := ""
		for i := range need {
			if v.Resources.Covers(need[i].Need) {
				forRole = need[i].Role
				need[i].Need = need[i].Need.Sub(v.Resources.Min(need[i].Need))
				break
			}
		}
		m.preempting[key] = preemption{forRole: forRole, res: v.Resources}
		m.preemptions[v.Role]++
		m.cfg.Metrics.preemptions.WithLabelValues(v.Role).Inc()
		m.log.Info("preempting task", "framework_id", v.FrameworkID, "task_id", v.TaskID, "role", v.Role, "agent_id", v.AgentID,
			"for_role", forRole, "revocable", v.Revocable, "grace", m.cfg.PreemptionGrace)
		m.killTask(ctx, t, grace, messages.TaskStatusReason_REASON_PREEMPTED)
		ev.Preempted = append(ev.Preempted, [2]string{v.FrameworkID, v.TaskID})
	}
	if len(victims) > 0 || rescinded > 0 {
		m.changed()
	}
}

// take charges r against the needs in order and reports whether it covered
// any of them.
func take(need []policy.Shortfall, r policy.Scalars) bool {
	used := false
	for i := range need {
		if r.Covers(need[i].Need) {
			got := r.Min(need[i].Need)
			need[i].Need = need[i].Need.Sub(got)
			r = r.Sub(got)
			used = true
		}
	}
	return used
}

// preemptible lists the running tasks on reachable agents that are not
// already being preempted.
func (m *master) preemptible() []policy.Running {
	var out []policy.Running
	// In map order: PlanPreemption orders candidates itself, totally.
	for _, f := range m.books.frameworks {
		for _, t := range f.tasks {
			switch t.task.State {
			case messages.TaskState_TASK_STAGING, messages.TaskState_TASK_STARTING, messages.TaskState_TASK_RUNNING:
			default:
				continue
			}
			key := taskKey{f.id(), t.id()}
			if _, busy := m.preempting[key]; busy {
				continue
			}
			if a, ok := m.books.agents[t.agentID()]; !ok || !a.reachable {
				continue
			}
			out = append(out, policy.Running{
				FrameworkID: f.id(), TaskID: t.id(), Role: t.task.Role, AgentID: t.agentID(),
				Resources: t.res.Scalars, Revocable: t.task.Revocable, Started: t.launched,
			})
		}
	}
	// Deterministic input, so that a simulation with a seed repeats.
	sort.Slice(out, func(i, j int) bool {
		if out[i].FrameworkID != out[j].FrameworkID {
			return out[i].FrameworkID < out[j].FrameworkID
		}
		return out[i].TaskID < out[j].TaskID
	})
	return out
}

func (m *master) roleStandings() map[string]policy.RoleStanding {
	out := map[string]policy.RoleStanding{}
	for _, s := range m.roles.Config().Roles {
		w := s.Weight
		if w == 0 {
			w = 1
		}
		out[s.Role] = policy.RoleStanding{Guarantee: PolicyQuota(s.Quota).Guarantee, Weight: w}
	}
	return out
}

// roleUsage is what /state shows of each role with a configuration or a
// live task.
func (m *master) roleUsage() []*messages.RoleUsage {
	type acc struct {
		used, offered, rev policy.Resources
		tasks, preempting  uint32
	}
	by := map[string]*acc{}
	get := func(role string) *acc {
		if a, ok := by[role]; ok {
			return a
		}
		a := &acc{}
		by[role] = a
		return a
	}
	for role, r := range m.books.roles {
		a := get(role)
		a.used, a.rev, a.tasks = r.used, r.revocable, r.tasks
	}
	for key := range m.preempting {
		if t := m.books.task(key); t != nil && !messages.IsTerminal(t.task.State) {
			get(t.task.Role).preempting++
		}
	}
	for _, o := range m.books.offers {
		a := get(o.role)
		a.offered = a.offered.Add(o.res)
	}
	settings := map[string]*messages.RoleSettings{}
	for _, s := range m.roles.Config().Roles {
		settings[s.Role] = s
		get(s.Role)
	}
	for r := range m.preemptions {
		get(r)
	}
	out := make([]*messages.RoleUsage, 0, len(by))
	for role, a := range by {
		u := &messages.RoleUsage{
			Role: role, Weight: 1, Used: a.used.ToMessages(false), Offered: a.offered.ToMessages(false),
			RevocableUsed: a.rev.ToMessages(false), Tasks: a.tasks, Preemptions: m.preemptions[role], Preempting: a.preempting,
		}
		if s, ok := settings[role]; ok {
			if s.Weight > 0 {
				u.Weight = s.Weight
			}
			u.Guarantee, u.Limit = s.GetQuota().GetGuarantee(), s.GetQuota().GetLimit()
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Role < out[j].Role })
	m.cfg.Metrics.setRoles(out)
	return out
}

package core

import (
	"sort"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
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

func (reclaimTick) isTimer() {}

// preemption is a task on its way out for a starved role.
type preemption struct {
	forRole string
	res     policy.Scalars
}

// Shortfalls is the allocator's answer to a reclamation check: the roles
// that lack part of their guarantee.
func (c *Core) Shortfalls(msg *messages.AllocatorShortfalls, now time.Time) Ready {
	short, err := policy.FromShortfalls(msg)
	if err != nil {
		c.log.Error("allocator sent shortfalls that do not decode; ignored", "err", err)
		return c.ready()
	}
	ev := ReclaimChecked{}
	c.reclaim(short, &ev)
	c.publish(ev)
	return c.ready()
}

func (c *Core) reclaim(short []policy.Shortfall, ev *ReclaimChecked) {
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
	for key, p := range c.preempting {
		t := c.books.task(key)
		if t == nil || messages.IsTerminal(t.task.State) {
			delete(c.preempting, key)
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
	for _, o := range c.books.offers {
		if !starved[o.role] {
			offers = append(offers, o)
		}
	}
	sort.Slice(offers, func(i, j int) bool { return offers[i].id < offers[j].id })
	rescinded := 0
	for _, o := range offers {
		if take(need, o.res.Scalars) {
			c.rescind(o, "resources reclaimed for a role below its guarantee")
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
			c.log.Info("reclaimed offers for roles below their guarantees", "rescinded_offers", rescinded)
		}
		return
	}
	victims := policy.PlanPreemption(policy.PreemptionPlan{
		Need: need, Running: c.preemptible(), Roles: c.roleStandings(), Total: c.books.regularTotal(),
	})
	grace := &messages.KillPolicy{GracePeriodNanos: int64(c.cfg.PreemptionGrace)}
	for _, v := range victims {
		key := taskKey{v.FrameworkID, v.TaskID}
		t := c.books.task(key)
		forRole := ""
		for i := range need {
			if v.Resources.Covers(need[i].Need) {
				forRole = need[i].Role
				need[i].Need = need[i].Need.Sub(v.Resources.Min(need[i].Need))
				break
			}
		}
		c.preempting[key] = preemption{forRole: forRole, res: v.Resources}
		c.preemptions[v.Role]++
		c.cfg.Metrics.Count(Preemptions, v.Role, 1)
		c.log.Info("preempting task", "framework_id", v.FrameworkID, "task_id", v.TaskID, "role", v.Role, "agent_id", v.AgentID,
			"for_role", forRole, "revocable", v.Revocable, "grace", c.cfg.PreemptionGrace)
		c.killTask(t, grace, messages.TaskStatusReason_REASON_PREEMPTED)
		ev.Preempted = append(ev.Preempted, [2]string{v.FrameworkID, v.TaskID})
	}
	if len(victims) > 0 || rescinded > 0 {
		c.changed = true
	}
}

// take charges r against the needs in order and reports whether it covered
// any of thec.
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
func (c *Core) preemptible() []policy.Running {
	var out []policy.Running
	// In map order: PlanPreemption orders candidates itself, totally.
	for _, f := range c.books.frameworks {
		for _, t := range f.tasks {
			switch t.task.State {
			case messages.TaskState_TASK_STAGING, messages.TaskState_TASK_STARTING, messages.TaskState_TASK_RUNNING:
			default:
				continue
			}
			key := taskKey{f.id(), t.id()}
			if _, busy := c.preempting[key]; busy {
				continue
			}
			if a, ok := c.books.agents[t.agentID()]; !ok || !a.reachable {
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

func (c *Core) roleStandings() map[string]policy.RoleStanding {
	out := map[string]policy.RoleStanding{}
	for _, s := range c.roles.Config().Roles {
		w := s.Weight
		if w == 0 {
			w = 1
		}
		out[s.Role] = policy.RoleStanding{Guarantee: PolicyQuota(s.GetQuota()).Guarantee, Weight: w}
	}
	return out
}

// roleUsage is what /state shows of each role with a configuration or a
// live task.
func (c *Core) roleUsage() []*messages.RoleUsage {
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
	for role, r := range c.books.roles {
		a := get(role)
		a.used, a.rev, a.tasks = r.used, r.revocable, r.tasks
	}
	for key := range c.preempting {
		if t := c.books.task(key); t != nil && !messages.IsTerminal(t.task.State) {
			get(t.task.Role).preempting++
		}
	}
	for _, o := range c.books.offers {
		a := get(o.role)
		a.offered = a.offered.Add(o.res)
	}
	settings := map[string]*messages.RoleSettings{}
	for _, s := range c.roles.Config().Roles {
		settings[s.Role] = s
		get(s.Role)
	}
	for r := range c.preemptions {
		get(r)
	}
	out := make([]*messages.RoleUsage, 0, len(by))
	for role, a := range by {
		u := &messages.RoleUsage{
			Role: role, Weight: 1, Used: a.used.ToMessages(false), Offered: a.offered.ToMessages(false),
			RevocableUsed: a.rev.ToMessages(false), Tasks: a.tasks, Preemptions: c.preemptions[role], Preempting: a.preempting,
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
	return out
}

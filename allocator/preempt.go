package allocator

import (
	"sort"
	"strings"
	"time"
)

// Running is a task reclamation may preempt.
type Running struct {
	FrameworkID, TaskID string
	Role, AgentID       string
	Resources           Scalars
	// Revocable tasks run on resources offered as revocable: they go first.
	Revocable bool
	Started   time.Time
}

// RoleStanding is what reclamation knows of a role: its guarantee, which
// it never preempts the role below, and its weight, which scales its share.
type RoleStanding struct {
	Guarantee Scalars
	Weight    float64
}

// PreemptionPlan is the input of PlanPreemption.
type PreemptionPlan struct {
	// Need is what the starved roles lack (Allocator.Shortfalls).
	Need []Shortfall
	// Running are the live tasks that are not already being preempted.
	Running []Running
	// Roles holds the roles with a guarantee or a weight; others have
	// neither (weight 1).
	Roles map[string]RoleStanding
	// Total is the cluster's resources, for dominant shares.
	Total Scalars
}

// PlanPreemption picks the tasks to preempt so that the starved roles get
// what they need: revocable tasks first, then tasks of the roles most over
// their weighted share, youngest first; on each agent the fewest tasks that
// free enough, preferring the agent that needs the fewest. It never takes a
// task of a starved role, nor one that would leave its role (or an
// ancestor) below its guarantee. A need it cannot meet is met in part.
func PlanPreemption(p PreemptionPlan) []Running {
	var need Scalars
	starved := map[string]bool{}
	for _, s := range p.Need {
		need = need.Add(s.Need)
		starved[s.Role] = true
	}
	if need.IsZero() {
		return nil
	}
	usage := map[string]Scalars{} // per role and ancestor
	for _, t := range p.Running {
		forRolePath(t.Role, func(r string) { usage[r] = usage[r].Add(t.Resources) })
	}
	share := func(role string) float64 {
		w := 1.0
		if st, ok := p.Roles[role]; ok && st.Weight > 0 {
			w = st.Weight
		}
		s := 0.0
		for k, u := range usage[role] {
			if p.Total[k] > 0 {
				s = max(s, float64(u)/float64(p.Total[k]))
			}
		}
		return s / w
	}
	var cands []Running
	for _, t := range p.Running {
		if !starved[t.Role] && t.Resources.Covers(need) {
			cands = append(cands, t)
		}
	}
	shares := map[string]float64{}
	for _, t := range cands {
		shares[t.Role] = share(t.Role)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.Revocable != b.Revocable {
			return a.Revocable
		}
		if shares[a.Role] != shares[b.Role] {
			return shares[a.Role] > shares[b.Role]
		}
		if !a.Started.Equal(b.Started) {
			return a.Started.After(b.Started)
		}
		// A total order: the plan does not depend on the order of
		// p.Running (a simulation replays from its seed).
		if a.TaskID != b.TaskID {
			return a.TaskID < b.TaskID
		}
		return a.FrameworkID < b.FrameworkID
	})
	var victims []Running
	taken := map[int]bool{}
	for !need.IsZero() {
		// Per agent, the candidates in order that would free the need.
		best, bestFreed := []int(nil), Scalars{}
		byAgent := map[string][]int{}
		var agents []string
		for i, t := range cands {
			if !taken[i] {
				if _, ok := byAgent[t.AgentID]; !ok {
					agents = append(agents, t.AgentID)
				}
				byAgent[t.AgentID] = append(byAgent[t.AgentID], i)
			}
		}
		bestCovers := false
		for _, ag := range agents {
			var pick []int
			var freed Scalars
			trial := map[string]Scalars{}
			for _, i := range byAgent[ag] {
				t := cands[i]
				if !t.Resources.Covers(need.Sub(freed.Min(need))) || !keepsWith(t, trial, usage, p.Roles) {
					continue
				}
				forRolePath(t.Role, func(r string) { trial[r] = trial[r].Add(t.Resources) })
				pick = append(pick, i)
				freed = freed.Add(t.Resources)
				if freed.Contains(need) {
					break
				}
			}
			if len(pick) == 0 {
				continue
			}
			covers := freed.Contains(need)
			switch {
			case best == nil,
				covers && !bestCovers,
				covers && bestCovers && better(cands, pick, best),
				!covers && !bestCovers && coverage(freed, need) > coverage(bestFreed, need):
				best, bestFreed, bestCovers = pick, freed, covers
			}
		}
		if best == nil {
			break // nothing more can be taken without breaking a guarantee
		}
		for _, i := range best {
			t := cands[i]
			if !keepsWith(t, nil, usage, p.Roles) { // re-check against victims taken on other agents
				continue
			}
			taken[i] = true
			victims = append(victims, t)
			forRolePath(t.Role, func(r string) { usage[r] = usage[r].Sub(t.Resources) })
			need = need.Sub(t.Resources.Min(need))
		}
		for _, i := range best {
			taken[i] = true
		}
	}
	return victims
}

// better prefers, between two sets that each free enough, the one of
// revocable tasks only, then the one with fewer tasks, then the one whose
// last victim comes earlier in priority order.
func better(cands []Running, a, b []int) bool {
	ra, rb := allRevocable(cands, a), allRevocable(cands, b)
	if ra != rb {
		return ra
	}
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a[len(a)-1] < b[len(b)-1]
}

func allRevocable(cands []Running, set []int) bool {
	for _, i := range set {
		if !cands[i].Revocable {
			return false
		}
	}
	return true
}

// keepsWith reports whether t's role and its ancestors stay at or above
// their guarantees once t, and the trial's victims, are gone from usage.
func keepsWith(t Running, trial, usage map[string]Scalars, roles map[string]RoleStanding) bool {
	ok := true
	forRolePath(t.Role, func(r string) {
		g := roles[r].Guarantee
		if g.IsZero() {
			return
		}
		after := usage[r].Sub(trial[r]).Sub(t.Resources)
		for k := range g {
			if g[k] > 0 && after[k] < g[k] {
				ok = false
			}
		}
	})
	return ok
}

// coverage is the smallest fraction of any needed kind that freed covers.
func coverage(freed, need Scalars) float64 {
	c := 1.0
	for k := range need {
		if need[k] > 0 {
			c = min(c, float64(min(freed[k], need[k]))/float64(need[k]))
		}
	}
	return c
}

// forRolePath calls f for role and each of its ancestors ("a/b/c", "a/b", "a").
func forRolePath(role string, f func(string)) {
	for r := role; r != ""; {
		f(r)
		i := strings.LastIndexByte(r, '/')
		if i < 0 {
			return
		}
		r = r[:i]
	}
}

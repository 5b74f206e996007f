package core

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
)

// holderAllocations recounts, from the master's books, what each
// framework's role holds on the reachable agents (the agents the
// allocator knows): its live tasks' regular and reserved resources, its
// executors', its outstanding offers' and the shared volumes' charges it
// holds. It is what the allocator must have allocated to each holder
// (policy.Hierarchical.Charged), so what its dominant share is computed
// from.
func holderAllocations(c *Core) map[policy.Holder]policy.Resources {
	out := map[policy.Holder]policy.Resources{}
	add := func(fw, role string, r policy.Resources) {
		if !r.IsEmpty() {
			h := policy.Holder{FrameworkID: fw, Role: role}
			out[h] = out[h].Add(r)
		}
	}
	b := c.books
	for _, a := range b.agents {
		if !a.reachable {
			continue
		}
		for _, t := range a.tasks {
			if !messages.IsTerminal(t.task.State) {
				add(t.frameworkID(), t.task.Role, t.res.Add(t.resv))
			}
		}
		for _, o := range a.offers {
			add(o.frameworkID, o.role, o.res)
		}
		for _, ch := range a.shared {
			add(ch.framework, ch.role, ch.disk)
		}
	}
	for k, ex := range b.executors {
		if a := b.agents[k.agent]; a != nil && a.reachable {
			add(k.framework, ex.role, ex.res)
		}
	}
	return out
}

// sharedChargesAgree checks the books' shared volume charges: each is held
// by a framework's role with a live task on the volume (so nothing in use
// is uncharged and nothing unused stays charged), is one of its agent's
// shared volumes, and the count matches.
func sharedChargesAgree(c *Core) error {
	n := 0
	for id, a := range c.books.agents {
		for k, ch := range a.shared {
			n++
			role, vol, _ := strings.Cut(k, "/")
			if i := findVolume(a.info.Resources, role, vol); i < 0 || !a.info.Resources[i].Shared {
				return fmt.Errorf("agent %s: charge for %s, which is no shared volume of the agent", id, k)
			}
			if !volumeUsedBy(a, role, vol, ch.framework, ch.role) {
				return fmt.Errorf("agent %s: shared volume %s charged to %s/%s, which has no live task on it", id, k, ch.framework, ch.role)
			}
		}
	}
	if n != c.books.sharedCharges {
		return fmt.Errorf("%d shared volume charges on agents, books count %d", n, c.books.sharedCharges)
	}
	return nil
}

// charges is the trace's view of the shared volumes' charges and of what
// each holder is allocated in all (holderAllocations: what DRF counts).
func (e *traceEnv) charges() string {
	var out strings.Builder
	for _, a := range ordered(e.c.books.agents, strings.Compare) {
		for _, k := range slices.Sorted(maps.Keys(a.shared)) {
			ch := a.shared[k]
			role, vol, _ := strings.Cut(k, "/")
			var users []string
			for tk, t := range a.tasks {
				if usesVolume(t, role, vol) {
					users = append(users, tk.framework+"/"+tk.task)
				}
			}
			slices.Sort(users)
			fmt.Fprintf(&out, "agent %s volume %s %s charged to %s/%s users=[%s]\n", a.id(), k, ch.disk, ch.framework, ch.role, strings.Join(users, " "))
		}
	}
	alloc := holderAllocations(e.c)
	holders := make([]policy.Holder, 0, len(alloc))
	for h := range alloc {
		holders = append(holders, h)
	}
	slices.SortFunc(holders, func(x, y policy.Holder) int { return strings.Compare(x.String(), y.String()) })
	for _, h := range holders {
		fmt.Fprintf(&out, "holder %s allocated %s\n", h, alloc[h])
	}
	if err := sharedChargesAgree(e.c); err != nil {
		fmt.Fprintf(&out, "BROKEN: %v\n", err)
	}
	if out.Len() == 0 {
		return "none\n"
	}
	return out.String()
}

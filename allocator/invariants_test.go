package allocator

import (
	"fmt"
	"time"
)

// checkInvariants verifies conservation after any sequence of operations:
// per agent, free + everything allocated on it == total (nothing allocated
// twice, nothing lost), nothing negative; each role's allocation is the sum
// of its subtree; the cluster totals and free match the agents; the
// headroom equals the unmet guarantees of roles with demand.
func checkInvariants(h *Hierarchical) error {
	var total, free Scalars
	leafAlloc := map[*node]Scalars{}
	withFree := 0
	for _, ag := range h.agentList {
		if !(ag.free.IsEmpty() && ag.revFree.IsEmpty()) {
			withFree++
		}
		sum := ag.free
		rev := ag.revFree
		resv := map[*resvPool]Resources{}
		for _, al := range ag.allocs {
			if al.pool != nil {
				if !AllocatableTo(al.pool.role, al.c.role.name) {
					return fmt.Errorf("agent %s: resources reserved for %s allocated to role %s", ag.id, al.pool.role, al.c.role.name)
				}
				if !ag.resv[slicesIndex(ag.resv, al.pool)].total.Contains(al.r) {
					return fmt.Errorf("agent %s: allocated %v of reservation %s beyond its total", ag.id, al.r, al.pool.role)
				}
				resv[al.pool] = resv[al.pool].Add(al.r)
				leafAlloc[al.c.leaf] = leafAlloc[al.c.leaf].Add(al.r.Scalars)
				continue
			}
			if !sum.Scalars.Add(al.r.Scalars).Contains(Scalars{}) {
				return fmt.Errorf("agent %s: negative allocation %v", ag.id, al.r)
			}
			for _, p := range al.r.Ports {
				if sum.Ports.Contains(Ranges{p}) {
					return fmt.Errorf("agent %s: port range %v allocated twice", ag.id, p)
				}
			}
			sum = sum.Add(al.r)
			rev = rev.Add(al.rev)
			leafAlloc[al.c.leaf] = leafAlloc[al.c.leaf].Add(al.r.Scalars)
		}
		if sum.Scalars != ag.total.Scalars || fmt.Sprint(sum.Ports) != fmt.Sprint(ag.total.Ports) {
			return fmt.Errorf("agent %s: free %v + allocated = %v, want total %v", ag.id, ag.free, sum, ag.total)
		}
		if rev.Scalars != ag.revTotal.Scalars {
			return fmt.Errorf("agent %s: revocable free + allocated = %v, want %v", ag.id, rev, ag.revTotal)
		}
		for k, v := range ag.free.Scalars {
			if v < 0 || ag.revFree.Scalars[k] < 0 {
				return fmt.Errorf("agent %s: negative free %s", ag.id, Kind(k))
			}
		}
		for _, p := range ag.resv {
			if got := p.free.Add(resv[p]); got.Scalars != p.total.Scalars || fmt.Sprint(got.Ports) != fmt.Sprint(p.total.Ports) {
				return fmt.Errorf("agent %s: reservation %s: free %v + allocated %v, want total %v", ag.id, p.role, p.free, resv[p], p.total)
			}
			if p.total.IsEmpty() {
				return fmt.Errorf("agent %s: empty reservation for %s kept", ag.id, p.role)
			}
			total = total.Add(p.total.Scalars)
		}
		total = total.Add(ag.total.Scalars)
		free = free.Add(ag.free.Scalars)
		inRound := 0
		for c, f := range ag.filters {
			if f.dropped || f.c != c || f.ag != ag || f.cidx < 0 || f.cidx >= len(c.filters) || c.filters[f.cidx] != f {
				return fmt.Errorf("agent %s: filter of %s/%s is not in both books", ag.id, c.fw.id, c.role.name)
			}
			if f.declined() && f.round == ag.round {
				inRound++
			}
		}
		if inRound != ag.inRound {
			return fmt.Errorf("agent %s: %d decline filters in its round, books say %d", ag.id, inRound, ag.inRound)
		}
		for _, t := range ag.turns {
			if fw := h.frameworks[t.c.fw.id]; fw != t.c.fw || fw.clients[t.c.role.name] != t.c {
				return fmt.Errorf("agent %s: turn of removed framework %s", ag.id, t.c.fw.id)
			}
		}
	}
	pools := 0
	resvFree := map[*node]Scalars{}
	for _, ag := range h.agentList {
		pools += len(ag.resv)
		for _, p := range ag.resv {
			for n := p.node; n != nil; n = n.parent {
				resvFree[n] = resvFree[n].Add(p.free.Scalars)
			}
		}
	}
	for _, n := range h.roles {
		if n.resvFree != resvFree[n] {
			return fmt.Errorf("role %q: unallocated reservations %v, agents say %v", n.name, n.resvFree, resvFree[n])
		}
	}
	if pools != h.reservations {
		return fmt.Errorf("%d reservations on agents, books say %d", pools, h.reservations)
	}
	if withFree != h.agentsWithFree {
		return fmt.Errorf("%d agents have free resources, books say %d", withFree, h.agentsWithFree)
	}
	if total != h.total || free != h.free {
		return fmt.Errorf("cluster total %v free %v, books say %v %v", total, free, h.total, h.free)
	}
	var walk func(n *node) (Scalars, error)
	walk = func(n *node) (Scalars, error) {
		var sum Scalars
		if n.client != nil {
			sum = leafAlloc[n]
		}
		for _, c := range n.children {
			s, err := walk(c)
			if err != nil {
				return s, err
			}
			sum = sum.Add(s)
		}
		if n.client == nil {
			for _, fw := range h.frameworks {
				for _, c := range fw.clients {
					if c.role == n {
						sum = sum.Add(leafAlloc[c.leaf])
						if c.leaf.alloc != leafAlloc[c.leaf] {
							return sum, fmt.Errorf("client %s/%s alloc %v, agents say %v", fw.id, n.name, c.leaf.alloc, leafAlloc[c.leaf])
						}
					}
				}
			}
		}
		if n.client == nil && n.alloc != sum {
			return sum, fmt.Errorf("role %q alloc %v, subtree sums to %v", n.name, n.alloc, sum)
		}
		return sum, nil
	}
	if _, err := walk(h.root); err != nil {
		return err
	}
	// Candidates: a node's active count is its active clients, and a node
	// is in its parent's heap exactly when it has any.
	var countActive func(n *node) (int, error)
	countActive = func(n *node) (int, error) {
		count := 0
		if n.client != nil {
			if n.client.fw.active && !n.client.suppressed {
				count = 1
			}
		} else {
			for _, c := range n.children {
				k, err := countActive(c)
				if err != nil {
					return 0, err
				}
				count += k
			}
			for _, fw := range h.frameworks {
				for _, c := range fw.clients {
					if c.role == n {
						k, err := countActive(c.leaf)
						if err != nil {
							return 0, err
						}
						count += k
					}
				}
			}
		}
		if n.active != count {
			return 0, fmt.Errorf("node %q: active %d, want %d", n.name, n.active, count)
		}
		if n.parent != nil && (n.hidx >= 0) != (count > 0) {
			return 0, fmt.Errorf("node %q: in heap %v with %d active clients", n.name, n.hidx >= 0, count)
		}
		return count, nil
	}
	if _, err := countActive(h.root); err != nil {
		return err
	}
	// Binpack never opens more agents to a client in a batch than its
	// budget allows.
	for _, fw := range h.frameworks {
		for _, c := range fw.clients {
			if c.budget < 1 || c.budget > maxOpenBudget || c.openedIn == h.batch && c.opened > c.budget {
				return fmt.Errorf("client %s/%s: opened %d agents in batch %d on a budget of %d", fw.id, c.role.name, c.opened, c.openedIn, c.budget)
			}
			// Every filter the client lists is in force on its agent (the
			// agents' side is checked above).
			for i, f := range c.filters {
				if f.cidx != i || f.c != c || f.dropped || f.ag.filters[c] != f || h.agents[f.ag.id] != f.ag {
					return fmt.Errorf("client %s/%s: filter %d (agent %s) not in force on its agent", fw.id, c.role.name, i, f.ag.id)
				}
			}
		}
	}
	want := h.required
	h.recomputeRequired()
	if h.required != want {
		return fmt.Errorf("headroom %v, want %v", want, h.required)
	}
	return nil
}

func slicesIndex(ps []*resvPool, p *resvPool) int {
	for i, x := range ps {
		if x == p {
			return i
		}
	}
	panic("allocation of a reservation the agent does not have")
}

// tb is what env needs of *testing.T, *testing.B and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// env is a test harness around a Hierarchical allocator on a fake time.
type env struct {
	t   tb
	h   *Hierarchical
	now time.Time
}

func newEnv(t tb, opts Options) *env {
	return &env{t: t, h: NewHierarchical(opts, PlaceShuffled), now: time.Unix(1_700_000_000, 0)}
}

func (e *env) agent(id, res string, attrs map[string]string) {
	e.t.Helper()
	if err := e.h.AddAgent(Agent{ID: id, Total: MustParse(res), Attributes: attrs}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) framework(f Framework) {
	e.t.Helper()
	if err := e.h.AddFramework(f); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) check() {
	e.t.Helper()
	if err := checkInvariants(e.h); err != nil {
		e.t.Fatal(err)
	}
}

// cycle advances time by d and runs a batch.
func (e *env) cycle(d time.Duration) []Grant {
	e.t.Helper()
	e.now = e.now.Add(d)
	gs := e.h.Allocate(e.now)
	e.check()
	return gs
}

func (e *env) decline(g Grant, refuse time.Duration) {
	e.t.Helper()
	if err := e.h.Decline(g.FrameworkID, g.Role, g.AgentID, g.Resources, g.Revocable, refuse, e.now); err != nil {
		e.t.Fatal(err)
	}
	e.check()
}

func (e *env) recover(g Grant) {
	e.t.Helper()
	if err := e.h.Recover(g.FrameworkID, g.Role, g.AgentID, g.Resources, g.Revocable); err != nil {
		e.t.Fatal(err)
	}
	e.check()
}

// byFramework counts grants per framework.
func byFramework(gs []Grant) map[string]int {
	m := map[string]int{}
	for _, g := range gs {
		m[g.FrameworkID]++
	}
	return m
}

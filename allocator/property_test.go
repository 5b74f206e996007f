package allocator

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// twin runs the same operations on the allocator and on a reference copy
// without the dead-agent cache, under any of the placements; grants and
// errors must be identical, and the invariants must hold after every step:
// conservation (checkInvariants) and no over-allocation (checkGrants).
type twin struct {
	t    *rapid.T
	a, b *Hierarchical
	now  time.Time
	// outstanding grants not yet recovered/declined, per allocator (they
	// are equal, so one list).
	held []Grant
}

func (w *twin) both(name string, f func(h *Hierarchical) any) any {
	ra, rb := f(w.a), f(w.b)
	if !reflect.DeepEqual(ra, rb) {
		w.t.Fatalf("%s: allocator and reference differ:\n%v\n%v", name, ra, rb)
	}
	for _, h := range []*Hierarchical{w.a, w.b} {
		if err := checkInvariants(h); err != nil {
			w.t.Fatalf("after %s: %v", name, err)
		}
	}
	return ra
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// propertyRounds multiplies rapid's default 100 cases: the cache bugs this
// test found needed a few thousand to show.
const propertyRounds = 30

func TestPropertyRandomOperations(t *testing.T) {
	for round := 0; round < propertyRounds; round++ {
		checkRandomOperations(t)
	}
}

func checkRandomOperations(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Int64().Draw(t, "seed")
		p := rapid.SampledFrom([]Placement{PlaceShuffled, PlaceBinpack, PlaceSpread}).Draw(t, "placement")
		opts := Options{Seed: seed}
		if rapid.IntRange(0, 3).Draw(t, "any offer") == 0 {
			opts.MinAllocatable = []Scalars{}
		}
		w := &twin{t: t, a: NewHierarchical(opts, p), b: NewHierarchical(opts, p), now: time.Unix(0, 0)}
		w.b.noDeadCache = true
		agents := []string{"a0", "a1", "a2", "a3", "a4"}
		fws := []string{"f0", "f1", "f2", "f3"}
		roles := []string{"r", "q", "eng/ml", "eng/web"}
		pick := func(xs []string, label string) string { return rapid.SampledFrom(xs).Draw(t, label) }
		scal := func(label string) Scalars {
			return Scalars{CPUs: int64(rapid.IntRange(0, 8).Draw(t, label+"cpus")) * 500, Mem: int64(rapid.IntRange(0, 8).Draw(t, label+"mem")) * 512 * Milli}
		}
		ops := map[string]func(*rapid.T){
			"addAgent": func(t *rapid.T) {
				id, total, rev := pick(agents, "agent"), Resources{Scalars: scal("total"), Ports: Ranges{{31000, uint32(31000 + rapid.IntRange(0, 5).Draw(t, "ports"))}}}, Resources{Scalars: scal("rev")}
				attrs := map[string]string{"zone": pick([]string{"a", "b"}, "zone")}
				w.both("addAgent", func(h *Hierarchical) any {
					return errText(h.AddAgent(Agent{ID: id, Total: total, Revocable: rev, Attributes: attrs}))
				})
			},
			"removeAgent": func(t *rapid.T) {
				id := pick(agents, "agent")
				w.both("removeAgent", func(h *Hierarchical) any { return errText(h.RemoveAgent(id)) })
				w.dropHeld(func(g Grant) bool { return g.AgentID == id })
			},
			"addFramework": func(t *rapid.T) {
				f := Framework{ID: pick(fws, "fw"), Roles: []string{pick(roles, "role")}, Revocable: rapid.Bool().Draw(t, "rev")}
				if rapid.Bool().Draw(t, "second role") {
					f.Roles = append(f.Roles, pick(roles, "role2"))
				}
				if rapid.IntRange(0, 3).Draw(t, "constrained") == 0 {
					f.Constraints = []Constraint{{Name: "zone", Values: []string{"a"}}}
				}
				if rapid.IntRange(0, 3).Draw(t, "big tasks") == 0 {
					f.MinResources = Scalars{CPUs: int64(rapid.IntRange(1, 4).Draw(t, "min cpus")) * 500}
				}
				if rapid.IntRange(0, 5).Draw(t, "any offer for it") == 0 {
					f.MinAllocatable = []Scalars{}
				}
				w.both("addFramework", func(h *Hierarchical) any { return errText(h.AddFramework(f)) })
			},
			"removeFramework": func(t *rapid.T) {
				id := pick(fws, "fw")
				w.both("removeFramework", func(h *Hierarchical) any { return errText(h.RemoveFramework(id)) })
				w.dropHeld(func(g Grant) bool { return g.FrameworkID == id })
			},
			"deactivate": func(t *rapid.T) {
				id := pick(fws, "fw")
				w.both("deactivate", func(h *Hierarchical) any { return errText(h.DeactivateFramework(id)) })
			},
			"activate": func(t *rapid.T) {
				id := pick(fws, "fw")
				w.both("activate", func(h *Hierarchical) any { return errText(h.ActivateFramework(id)) })
			},
			"suppress": func(t *rapid.T) {
				id, role := pick(fws, "fw"), pick(roles, "role")
				w.both("suppress", func(h *Hierarchical) any { return errText(h.Suppress(id, role)) })
			},
			"setDemand": func(t *rapid.T) {
				id, want := pick(fws, "fw"), scal("want")
				w.both("setDemand", func(h *Hierarchical) any { return errText(h.SetDemand(id, want)) })
			},
			"revive": func(t *rapid.T) {
				id := pick(fws, "fw")
				w.both("revive", func(h *Hierarchical) any { return errText(h.Revive(id)) })
			},
			"weight": func(t *rapid.T) {
				role, wt := pick(roles, "role"), float64(rapid.IntRange(1, 4).Draw(t, "weight"))
				w.both("weight", func(h *Hierarchical) any { return errText(h.SetWeight(role, wt)) })
			},
			"quota": func(t *rapid.T) {
				role, g := pick(roles, "role"), scal("guarantee")
				q := NoLimit(g)
				if rapid.Bool().Draw(t, "limited") {
					q.Limit[CPUs] = g[CPUs] + int64(rapid.IntRange(0, 4).Draw(t, "extra"))*1000
				}
				w.both("quota", func(h *Hierarchical) any { return errText(h.SetQuota(role, q)) })
			},
			"allocate": func(t *rapid.T) {
				w.now = w.now.Add(time.Duration(rapid.IntRange(0, 3000).Draw(t, "ms")) * time.Millisecond)
				before := roleAllocs(w.a)
				gs := w.both("allocate", func(h *Hierarchical) any { return h.Allocate(w.now) }).([]Grant)
				if err := checkGrants(w.a, before, gs); err != nil {
					t.Fatalf("allocate: %v", err)
				}
				w.held = append(w.held, gs...)
			},
			"allocateAgent": func(t *rapid.T) {
				id := pick(agents, "agent")
				before := roleAllocs(w.a)
				gs := w.both("allocateAgent", func(h *Hierarchical) any { return h.AllocateAgent(id, w.now) }).([]Grant)
				if err := checkGrants(w.a, before, gs); err != nil {
					t.Fatalf("allocateAgent: %v", err)
				}
				w.held = append(w.held, gs...)
			},
			"returnGrant": func(t *rapid.T) {
				if len(w.held) == 0 {
					return
				}
				i := rapid.IntRange(0, len(w.held)-1).Draw(t, "grant")
				g := w.held[i]
				w.held = append(w.held[:i], w.held[i+1:]...)
				refuse := time.Duration(rapid.IntRange(-1, 5).Draw(t, "refuse")) * time.Second
				switch rapid.IntRange(0, 3).Draw(t, "how") {
				case 0:
					w.both("decline", func(h *Hierarchical) any {
						return errText(h.Decline(g.FrameworkID, g.Role, g.AgentID, g.Resources, g.Revocable, refuse, w.now))
					})
				case 1:
					w.both("recover", func(h *Hierarchical) any {
						return errText(h.Recover(g.FrameworkID, g.Role, g.AgentID, g.Resources, g.Revocable))
					})
				case 2: // use half the cpus, return the rest
					used := Resources{Scalars: Scalars{CPUs: g.Resources.Scalars[CPUs] / 2}}
					rest := g.Resources.Sub(used)
					w.both("returnUnused", func(h *Hierarchical) any {
						return errText(h.ReturnUnused(g.FrameworkID, g.Role, g.AgentID, rest, g.Revocable, refuse, w.now))
					})
					w.held = append(w.held, Grant{FrameworkID: g.FrameworkID, Role: g.Role, AgentID: g.AgentID, Resources: used})
				case 3: // keep it (a long-running task)
					w.held = append(w.held, g)
				}
			},
			"transfer": func(t *rapid.T) {
				// Part or all of a held grant's regular resources charged
				// to another holder (the master moving a shared volume's
				// charge); its revocable part stays.
				if len(w.held) == 0 {
					return
				}
				i := rapid.IntRange(0, len(w.held)-1).Draw(t, "grant")
				g := w.held[i]
				moved := g.Resources
				if rapid.Bool().Draw(t, "part") {
					moved = Resources{Scalars: Scalars{CPUs: g.Resources.Scalars[CPUs] / 2}}
				}
				to := Holder{FrameworkID: pick(fws, "to fw"), Role: pick(roles, "to role")}
				res := w.both("transfer", func(h *Hierarchical) any {
					return errText(h.Transfer(g.AgentID, "", moved, Holder{FrameworkID: g.FrameworkID, Role: g.Role}, to))
				})
				if res != "" {
					return
				}
				w.held = append(w.held[:i], w.held[i+1:]...)
				if rest := g.Resources.Sub(moved); !rest.IsEmpty() || !g.Revocable.IsEmpty() {
					w.held = append(w.held, Grant{FrameworkID: g.FrameworkID, Role: g.Role, AgentID: g.AgentID, Resources: rest, Revocable: g.Revocable})
				}
				w.held = append(w.held, Grant{FrameworkID: to.FrameworkID, Role: to.Role, AgentID: g.AgentID, Resources: moved})
			},
			"badRecover": func(t *rapid.T) {
				fw, role, ag := pick(fws, "fw"), pick(roles, "role"), pick(agents, "agent")
				r := Resources{Scalars: scal("r")}
				r.Scalars[CPUs] += 100 * Milli // more than any agent has
				w.both("badRecover", func(h *Hierarchical) any {
					err := h.Recover(fw, role, ag, r, Resources{})
					if err == nil {
						return "recovered more than allocated"
					}
					return errText(err)
				})
			},
		}
		t.Repeat(ops)
	})
}

// roleAllocs is what every role holds, for checkGrants.
func roleAllocs(h *Hierarchical) map[string]Scalars {
	out := map[string]Scalars{}
	for name, n := range h.roles {
		out[name] = n.alloc
	}
	return out
}

// checkGrants verifies that one allocation over-allocated nothing: no grant
// is empty or names an unknown framework, role or agent; no role grew past
// its quota limit (a role may be above one set after it was granted, but
// must not grow); and under spread, no agent gave two regular (or two
// revocable) slices.
func checkGrants(h *Hierarchical, before map[string]Scalars, gs []Grant) error {
	type key struct {
		agent     string
		revocable bool
	}
	slices := map[key]bool{}
	for _, g := range gs {
		if g.Resources.IsEmpty() && g.Revocable.IsEmpty() {
			return fmt.Errorf("empty grant %+v", g)
		}
		if _, err := h.clientOf(g.FrameworkID, g.Role); err != nil {
			return fmt.Errorf("grant %+v: %w", g, err)
		}
		if _, ok := h.agents[g.AgentID]; !ok {
			return fmt.Errorf("grant %+v on an unknown agent", g)
		}
		k := key{g.AgentID, g.Resources.IsEmpty()}
		if h.placement == PlaceSpread && slices[k] {
			return fmt.Errorf("spread: %s gave two slices in one pass", g.AgentID)
		}
		slices[k] = true
	}
	for name, n := range h.roles {
		if !n.hasLimit {
			continue
		}
		for k, lim := range n.quota.Limit {
			if n.alloc[k] > lim && n.alloc[k] > before[name][k] {
				return fmt.Errorf("role %q grew to %s %d past its limit %d", name, Kind(k), n.alloc[k], lim)
			}
		}
	}
	return nil
}

// Rotation bound (package doc): a framework D that declines an agent A
// after batch b with refuse r is filtered on A at most until batch
// b + max(r, 2, K), K the number of clients eligible for A: its refuse time
// and the batch after (Mesos) pass by b + max(r, 2), and the round its
// decline is in ends by b + K, since each batch of the round offers A to
// one client that has not had it yet. It holds whatever the others do with
// A: decline it, or take it and give it back (the case the old rotation got
// wrong), in batches or event-driven runs, under every placement.
func TestPropertyDeclineFilterLifetime(t *testing.T) {
	for round := 0; round < propertyRounds/3; round++ {
		rapid.Check(t, checkDeclineFilterLifetime)
	}
}

func checkDeclineFilterLifetime(t *rapid.T) {
	p := rapid.SampledFrom([]Placement{PlaceShuffled, PlaceBinpack, PlaceSpread}).Draw(t, "placement")
	e := newPolicyEnv(t, p, Options{Seed: rapid.Int64().Draw(t, "seed")})
	k := rapid.IntRange(2, 6).Draw(t, "frameworks")
	for i := 0; i < k; i++ {
		e.framework(Framework{ID: fmt.Sprintf("f%d", i), Roles: []string{fmt.Sprintf("r%d", rapid.IntRange(0, 2).Draw(t, "role"))}})
	}
	// One framework holds another agent, so DRF orders it last.
	holder := fmt.Sprintf("f%d", rapid.IntRange(0, k-1).Draw(t, "holder"))
	held := Grant{FrameworkID: holder, Role: e.h.frameworks[holder].info.Roles[0], Resources: MustParse("cpus:4;mem:4096")}
	if err := e.h.AddAgent(Agent{ID: "busy", Total: held.Resources, Allocated: []Grant{held}}); err != nil {
		t.Fatal(err)
	}
	e.agent("a", "cpus:4;mem:4096", nil)
	deadline := map[string]int{} // framework -> batch its filter on a must be gone by
	batch := 0
	handle := func(gs []Grant) {
		for _, g := range gs {
			delete(deadline, g.FrameworkID) // offered: its filter is gone
			if rapid.Bool().Draw(t, "decline") {
				r := rapid.IntRange(0, 3).Draw(t, "refuse")
				e.decline(g, time.Duration(r)*time.Second)
				deadline[g.FrameworkID] = batch + max(r, 2, k)
			} else {
				e.recover(g) // taken and given back
			}
		}
	}
	for batch = 1; batch <= 40; batch++ {
		handle(e.cycle(time.Second))
		if rapid.IntRange(0, 3).Draw(t, "event-driven run") == 0 {
			handle(e.h.AllocateAgent("a", e.now))
		}
		for id, d := range deadline {
			c := e.h.frameworks[id].clients[e.h.frameworks[id].info.Roles[0]]
			if _, filtered := e.h.agents["a"].filters[c]; filtered && batch >= d {
				t.Fatalf("batch %d: %s still filtered on a, past batch %d", batch, id, d)
			}
		}
	}
}

func (w *twin) dropHeld(match func(Grant) bool) {
	kept := w.held[:0]
	for _, g := range w.held {
		if !match(g) {
			kept = append(kept, g)
		}
	}
	w.held = kept
}

// Envy-freeness within one task (DRF paper, section 4, for indivisible
// tasks: envy-free up to one item): frameworks with random task shapes fill
// one agent by progressive filling; afterwards no framework could run more
// tasks with another's allocation less one of that framework's tasks than
// with its own.
func TestPropertyEnvyFreeWithinOneTask(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := newEnv(t, Options{})
		capCPU := rapid.IntRange(4, 64).Draw(t, "cpus")
		capMem := rapid.IntRange(4, 64).Draw(t, "memGB")
		e.agent("a", fmt.Sprintf("cpus:%d;mem:%d", capCPU, capMem*1024), nil)
		n := rapid.IntRange(2, 4).Draw(t, "frameworks")
		tasks := map[string]Scalars{}
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("f%d", i)
			tasks[id] = Scalars{CPUs: int64(rapid.IntRange(1, 4).Draw(t, id+"cpu")) * Milli, Mem: int64(rapid.IntRange(1, 4).Draw(t, id+"mem")) * 1024 * Milli}
			e.framework(Framework{ID: id, Roles: []string{id}})
		}
		counts := runProgressiveFilling(e, tasks, 1000)
		fits := func(bundle, task Scalars) int {
			k := 1 << 30
			for r := range bundle {
				if task[r] > 0 {
					k = min(k, int(bundle[r]/task[r]))
				}
			}
			return k
		}
		for i, ti := range tasks {
			for j, tj := range tasks {
				if i == j || counts[j] == 0 {
					continue
				}
				bundle := Scalars{}
				for r := range tj {
					bundle[r] = tj[r] * int64(counts[j]-1)
				}
				if got := fits(bundle, ti); got > counts[i] {
					t.Fatalf("%s envies %s: could run %d tasks with its allocation, has %d (counts %v, shapes %v)", i, j, got, counts[i], counts, tasks)
				}
			}
		}
	})
}

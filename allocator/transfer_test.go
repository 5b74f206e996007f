package allocator

import (
	"errors"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"pgregory.net/rapid"
)

// alloc is what holder has allocated on every agent, from the sorter's
// side (its leaf's allocation, which its dominant share is computed from).
func (e *env) alloc(fw, role string) Scalars {
	e.t.Helper()
	s, err := e.h.Charged(Holder{fw, role})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// A shared volume's disk, charged to the framework that first used it,
// moves to another framework of the role: its share grows, the first
// one's shrinks, and the agent offers nothing more or less than before.
func TestTransferMovesTheChargeNotTheResources(t *testing.T) {
	e := newEnv(t, Options{})
	e.framework(Framework{ID: "f1", Roles: []string{"eng"}})
	e.framework(Framework{ID: "f2", Roles: []string{"eng"}})
	a := Agent{ID: "a1", Total: MustParse("cpus:2;mem:2048"), Reserved: map[string]Resources{"eng": MustParse("cpus:2;mem:2048;disk:1000")},
		Allocated: []Grant{
			{FrameworkID: "f1", Role: "eng", Resources: MustParse("cpus:1;disk:200"), Reservation: "eng"},
			{FrameworkID: "f2", Role: "eng", Resources: MustParse("cpus:1"), Reservation: "eng"},
		}}
	if err := e.h.AddAgent(a); err != nil {
		t.Fatal(err)
	}
	e.check()
	pool := e.h.agents["a1"].pool("eng")
	freeBefore, poolBefore := e.h.agents["a1"].free, pool.free
	disk := MustParse("disk:200")
	if err := e.h.Transfer("a1", "eng", disk, Holder{"f1", "eng"}, Holder{"f2", "eng"}); err != nil {
		t.Fatal(err)
	}
	e.check()
	if got, want := e.alloc("f1", "eng"), MustParse("cpus:1").Scalars; got != want {
		t.Fatalf("f1 holds %v after giving the disk away, want %v", got, want)
	}
	if got, want := e.alloc("f2", "eng"), MustParse("cpus:1;disk:200").Scalars; got != want {
		t.Fatalf("f2 holds %v after taking the disk, want %v", got, want)
	}
	if e.h.agents["a1"].free.String() != freeBefore.String() || pool.free.String() != poolBefore.String() {
		t.Fatalf("free %v and reservation free %v changed (were %v, %v): a transfer frees and grants nothing",
			e.h.agents["a1"].free, pool.free, freeBefore, poolBefore)
	}
	// The old holder cannot give back what it no longer holds; the new one
	// gives it back when the volume's last user ends.
	if err := e.h.ReturnReserved("f1", "eng", "a1", "eng", disk, ReturnRecover, 0, e.now); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("f1 recovered the disk it gave away: err %v, want ErrNotAllocated", err)
	}
	if err := e.h.ReturnReserved("f2", "eng", "a1", "eng", disk, ReturnRecover, 0, e.now); err != nil {
		t.Fatal(err)
	}
	e.check()
}

// The gap this closes: the charged framework's removal frees what it holds
// (RemoveFramework); moved first, the charge survives it.
func TestTransferredChargeSurvivesTheOldHoldersRemoval(t *testing.T) {
	e := newEnv(t, Options{})
	e.framework(Framework{ID: "f1", Roles: []string{"eng"}})
	e.framework(Framework{ID: "f2", Roles: []string{"eng/ml"}})
	a := Agent{ID: "a1", Reserved: map[string]Resources{"eng": MustParse("disk:1000")},
		Allocated: []Grant{{FrameworkID: "f1", Role: "eng", Resources: MustParse("disk:200"), Reservation: "eng"}}}
	if err := e.h.AddAgent(a); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Transfer("a1", "eng", MustParse("disk:200"), Holder{"f1", "eng"}, Holder{"f2", "eng/ml"}); err != nil {
		t.Fatal(err)
	}
	if err := e.h.RemoveFramework("f1"); err != nil {
		t.Fatal(err)
	}
	e.check()
	if got := e.h.agents["a1"].pool("eng").free; got.String() != "disk:800" {
		t.Fatalf("reservation free %v after the old holder left, want disk:800 (the volume's 200 still charged)", got)
	}
	if got := e.alloc("f2", "eng/ml"); got != MustParse("disk:200").Scalars {
		t.Fatalf("f2 holds %v, want the volume's disk:200", got)
	}
}

// DRF (Ghodsi et al., section 4: the next resources go to the user with
// the lowest dominant share): after a transfer the shares are the new
// holders', so the next free agent goes to the framework that gave its
// allocation away.
func TestTransferChangesWhoIsOfferedNext(t *testing.T) {
	e := newEnv(t, Options{})
	e.framework(Framework{ID: "f1", Roles: []string{"a"}})
	e.framework(Framework{ID: "f2", Roles: []string{"b"}})
	if err := e.h.AddAgent(Agent{ID: "busy", Total: MustParse("cpus:4;mem:4096"),
		Allocated: []Grant{{FrameworkID: "f1", Role: "a", Resources: MustParse("cpus:4;mem:4096")}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Transfer("busy", "", MustParse("cpus:4;mem:4096"), Holder{"f1", "a"}, Holder{"f2", "b"}); err != nil {
		t.Fatal(err)
	}
	e.check()
	e.agent("free", "cpus:4;mem:4096", nil)
	gs := e.cycle(time.Second)
	if len(gs) != 1 || gs[0].FrameworkID != "f1" || gs[0].AgentID != "free" {
		t.Fatalf("grants %+v: want the free agent to f1, whose share is 0 after the transfer", gs)
	}
}

// Every refusal says why and changes nothing.
func TestTransferRefusals(t *testing.T) {
	for _, tc := range []struct {
		name               string
		agent, reservation string
		r                  string
		from, to           Holder
		want               error
	}{
		{"unknown agent", "nope", "eng", "disk:1", Holder{"f1", "eng"}, Holder{"f2", "eng"}, ErrUnknownAgent},
		{"unknown source", "a1", "eng", "disk:1", Holder{"fx", "eng"}, Holder{"f2", "eng"}, ErrUnknownFramework},
		{"unknown destination", "a1", "eng", "disk:1", Holder{"f1", "eng"}, Holder{"fx", "eng"}, ErrUnknownFramework},
		{"destination not in the role", "a1", "eng", "disk:1", Holder{"f1", "eng"}, Holder{"f2", "dev"}, ErrUnknownRole},
		{"role outside the reservation", "a1", "eng", "disk:1", Holder{"f1", "eng"}, Holder{"f3", "dev"}, ErrInvalid},
		{"no such reservation", "a1", "ops", "disk:1", Holder{"f1", "eng"}, Holder{"f2", "eng"}, ErrNotAllocated},
		{"more than held", "a1", "eng", "disk:201", Holder{"f1", "eng"}, Holder{"f2", "eng"}, ErrNotAllocated},
		{"not held unreserved", "a1", "", "disk:1", Holder{"f1", "eng"}, Holder{"f2", "eng"}, ErrNotAllocated},
		{"held by nobody", "a1", "eng", "disk:1", Holder{"f2", "eng"}, Holder{"f1", "eng"}, ErrNotAllocated},
		{"to itself", "a1", "eng", "disk:1", Holder{"f1", "eng"}, Holder{"f1", "eng"}, ErrInvalid},
		{"nothing", "a1", "eng", "", Holder{"f1", "eng"}, Holder{"f2", "eng"}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.framework(Framework{ID: "f1", Roles: []string{"eng"}})
			e.framework(Framework{ID: "f2", Roles: []string{"eng"}})
			e.framework(Framework{ID: "f3", Roles: []string{"dev"}})
			if err := e.h.AddAgent(Agent{ID: "a1", Total: MustParse("cpus:1"), Reserved: map[string]Resources{"eng": MustParse("disk:1000")},
				Allocated: []Grant{{FrameworkID: "f1", Role: "eng", Resources: MustParse("disk:200"), Reservation: "eng"}}}); err != nil {
				t.Fatal(err)
			}
			var r Resources
			if tc.r != "" {
				r = MustParse(tc.r)
			}
			before := e.alloc("f1", "eng")
			err := e.h.Transfer(tc.agent, tc.reservation, r, tc.from, tc.to)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			e.check()
			if got := e.alloc("f1", "eng"); got != before {
				t.Fatalf("a refused transfer moved f1's allocation from %v to %v", before, got)
			}
		})
	}
	e := newEnv(t, Options{})
	e.framework(Framework{ID: "f1", Roles: []string{"eng"}})
	if err := e.h.Transfer("a1", "", Resources{Scalars: Scalars{Disk: -1}}, Holder{"f1", "eng"}, Holder{"f2", "eng"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative transfer: err %v, want ErrInvalid", err)
	}
}

// The master's message reaches the policy through Apply.
func TestApplyTransfer(t *testing.T) {
	h := NewHierarchical(Options{}, PlaceShuffled)
	for _, id := range []string{"f1", "f2"} {
		if err := h.AddFramework(Framework{ID: id, Roles: []string{"eng"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.AddAgent(Agent{ID: "a1", Reserved: map[string]Resources{"eng": MustParse("disk:1000")},
		Allocated: []Grant{{FrameworkID: "f1", Role: "eng", Resources: MustParse("disk:200"), Reservation: "eng"}}}); err != nil {
		t.Fatal(err)
	}
	msg := &messages.AllocatorTransfer{AgentId: "a1", Reservation: "eng", Resources: ToQuantities(MustParse("disk:200")),
		FromFrameworkId: "f1", FromRole: "eng", ToFrameworkId: "f2", ToRole: "eng"}
	d, err := Apply(h, msg, time.Unix(0, 0))
	if err != nil || !d.All {
		t.Fatalf("Apply: dirty %+v, err %v; want everything dirty, no error", d, err)
	}
	if err := checkInvariants(h); err != nil {
		t.Fatal(err)
	}
	if got := h.frameworks["f2"].clients["eng"].leaf.alloc; got != MustParse("disk:200").Scalars {
		t.Fatalf("f2 holds %v, want disk:200", got)
	}
	if _, err := Apply(h, msg, time.Unix(0, 0)); !errors.Is(err, ErrNotAllocated) {
		t.Fatalf("the same transfer again: err %v, want ErrNotAllocated (f1 holds nothing now)", err)
	}
}

// Transfers between random holders of one agent's reservation and its
// unreserved resources, among grants, returns and removals, against a
// model of who holds what: a transfer succeeds exactly when the model says
// it may (the source holds it, the destination's role may hold it), and
// afterwards the allocator's books equal the model's and conserve every
// pool (checkInvariants): nothing charged twice, nothing lost.
func TestPropertyTransfer(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		e := newEnv(t, Options{Seed: rapid.Int64().Draw(t, "seed"), MinAllocatable: []Scalars{}})
		holders := []Holder{{"f1", "eng"}, {"f2", "eng"}, {"f2", "eng/ml"}, {"f3", "dev"}}
		for _, fw := range []string{"f1", "f2", "f3"} {
			var roles []string
			for _, h := range holders {
				if h.FrameworkID == fw {
					roles = append(roles, h.Role)
				}
			}
			e.framework(Framework{ID: fw, Roles: roles})
		}
		e.reservedAgent("a1", "cpus:4;mem:4096", map[string]string{"eng": "cpus:4;disk:1000"})
		type key struct {
			h    Holder
			resv string
		}
		model := map[key]Resources{} // what each holder has of each pool
		removed := map[string]bool{}
		t.Repeat(map[string]func(*rapid.T){
			"allocate": func(t *rapid.T) {
				for _, g := range e.cycle(time.Second) {
					k := key{Holder{g.FrameworkID, g.Role}, g.Reservation}
					model[k] = model[k].Add(g.Resources)
				}
			},
			"recover": func(t *rapid.T) {
				h := rapid.SampledFrom(holders).Draw(t, "holder")
				resv := rapid.SampledFrom([]string{"", "eng"}).Draw(t, "reservation")
				k := key{h, resv}
				if removed[h.FrameworkID] || model[k].IsEmpty() {
					return
				}
				var err error
				if resv == "" {
					err = e.h.Recover(h.FrameworkID, h.Role, "a1", model[k], Resources{})
				} else {
					err = e.h.ReturnReserved(h.FrameworkID, h.Role, "a1", resv, model[k], ReturnRecover, 0, e.now)
				}
				if err != nil {
					t.Fatal(err)
				}
				delete(model, k)
				e.check()
			},
			"transfer": func(t *rapid.T) {
				from, to := rapid.SampledFrom(holders).Draw(t, "from"), rapid.SampledFrom(holders).Draw(t, "to")
				resv := rapid.SampledFrom([]string{"", "eng"}).Draw(t, "reservation")
				r := Resources{Scalars: Scalars{
					CPUs: int64(rapid.IntRange(0, 4).Draw(t, "cpus")) * 500,
					Disk: int64(rapid.IntRange(0, 4).Draw(t, "disk")) * 250 * Milli,
				}}
				kf, kt := key{from, resv}, key{to, resv}
				ok := !r.IsEmpty() && from != to && !removed[from.FrameworkID] && !removed[to.FrameworkID] &&
					(resv == "" || AllocatableTo(resv, to.Role)) && model[kf].Contains(r)
				err := e.h.Transfer("a1", resv, r, from, to)
				if (err == nil) != ok {
					t.Fatalf("transfer %v of %q from %v to %v: err %v, model says allowed=%v (source holds %v)", r, resv, from, to, err, ok, model[kf])
				}
				e.check()
				if err != nil {
					return
				}
				model[kf] = model[kf].Sub(r)
				model[kt] = model[kt].Add(r)
			},
			"removeFramework": func(t *rapid.T) {
				fw := rapid.SampledFrom([]string{"f1", "f2", "f3"}).Draw(t, "framework")
				if removed[fw] {
					return
				}
				if err := e.h.RemoveFramework(fw); err != nil {
					t.Fatal(err)
				}
				removed[fw] = true
				for k := range model {
					if k.h.FrameworkID == fw {
						delete(model, k)
					}
				}
				e.check()
			},
			"": func(t *rapid.T) {
				// The books equal the model, holder by holder.
				for _, h := range holders {
					if removed[h.FrameworkID] {
						continue
					}
					want := model[key{h, ""}].Add(model[key{h, "eng"}]).Scalars
					if got := e.alloc(h.FrameworkID, h.Role); got != want {
						t.Fatalf("%v holds %v, model says %v", h, got, want)
					}
				}
			},
		})
	})
}

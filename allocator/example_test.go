package allocator_test

import (
	"fmt"
	"time"

	"github.com/agora-sched/agora/allocator"
)

// The allocation loop: agents and frameworks in, grants out; the caller
// turns grants into offers and reports back what each framework did with
// them.
func Example() {
	a, err := allocator.New("drf", allocator.Options{Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Unix(0, 0)
	if err := a.AddAgent(allocator.Agent{ID: "a1", Total: allocator.MustParse("cpus:4;mem:8192")}); err != nil {
		fmt.Println(err)
		return
	}
	if err := a.AddFramework(allocator.Framework{ID: "f1", Roles: []string{"eng/ml"}}); err != nil {
		fmt.Println(err)
		return
	}
	for _, g := range a.Allocate(now) {
		fmt.Printf("offer %s on %s to %s as %s\n", g.Resources, g.AgentID, g.FrameworkID, g.Role)
		// f1 declines: a1 is filtered for it for 5 s.
		if err := a.Decline(g.FrameworkID, g.Role, g.AgentID, g.Resources, g.Revocable, 5*time.Second, now); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println("after 1 s:", len(a.Allocate(now.Add(time.Second))), "offers")
	for _, g := range a.Allocate(now.Add(6 * time.Second)) {
		fmt.Printf("after 6 s: offer %s on %s to %s\n", g.Resources, g.AgentID, g.FrameworkID)
		// f1 runs a task on part of it; the rest returns to the pool
		// when it ends (or is declined with Decline, or left unused in
		// an accept with ReturnUnused).
		task := allocator.MustParse("cpus:1;mem:1024")
		if err := a.Recover(g.FrameworkID, g.Role, g.AgentID, g.Resources.Sub(task), g.Revocable); err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// offer cpus:4;mem:8192 on a1 to f1 as eng/ml
	// after 1 s: 0 offers
	// after 6 s: offer cpus:4;mem:8192 on a1 to f1
}

// The same cluster under each policy: one agent half used by another
// framework, two empty. drf offers every agent whole, in a shuffled order;
// binpack offers the agent in use first and opens one empty agent; spread
// offers a quarter of each, the emptiest first.
func Example_policies() {
	for _, policy := range allocator.Names() {
		a, err := allocator.New(policy, allocator.Options{Seed: 1})
		if err != nil {
			fmt.Println(err)
			return
		}
		total := allocator.MustParse("cpus:8;mem:8192")
		_ = a.AddFramework(allocator.Framework{ID: "batch", Roles: []string{"batch"}})
		_ = a.AddAgent(allocator.Agent{ID: "empty1", Total: total})
		_ = a.AddAgent(allocator.Agent{ID: "used", Total: total, Allocated: []allocator.Grant{
			{FrameworkID: "batch", Role: "batch", Resources: allocator.MustParse("cpus:4;mem:4096")},
		}})
		_ = a.AddAgent(allocator.Agent{ID: "empty2", Total: total})
		_ = a.Suppress("batch")
		_ = a.AddFramework(allocator.Framework{ID: "web", Roles: []string{"web"}})
		fmt.Printf("%s:", policy)
		for _, g := range a.Allocate(time.Unix(0, 0)) {
			fmt.Printf(" %s(%s)", g.AgentID, g.Resources)
		}
		fmt.Println()
	}
	// Output:
	// binpack: used(cpus:4;mem:4096) empty1(cpus:8;mem:8192)
	// drf: empty1(cpus:8;mem:8192) used(cpus:4;mem:4096) empty2(cpus:8;mem:8192)
	// spread: empty1(cpus:2;mem:2048) empty2(cpus:2;mem:2048) used(cpus:2;mem:2048)
}

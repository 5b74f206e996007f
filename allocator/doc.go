// Package allocator decides how much of the cluster each framework is
// offered. It is plain Go: no actors, goroutines, clocks or I/O; time is an
// argument. The allocator actor (actors/allocation) drives it.
//
// The default policy, "drf", is hierarchical weighted Dominant Resource
// Fairness in two stages, as in Mesos:
//
//  1. Quota: roles below their guaranteed quota are served first, least
//     satisfied first.
//  2. Fair share: each agent's free resources go to the framework whose
//     role is furthest below its weighted fair share (DRF among roles, level
//     by level down the role tree, then DRF among the frameworks of the
//     role; ties go to fewer allocations, then to the smaller name). Outside
//     quota an agent's free resources go whole to one framework per cycle.
//
// Resources held back for unmet guarantees of roles with demand (headroom)
// are not given to other roles. Revocable resources go only to frameworks
// with that capability and do not count towards fair shares.
//
// # Filters and rotation
//
// A decline installs a filter on (framework, role, agent) for refuse
// seconds (default 5). A filter lasts at least through the next batch
// allocation, however short, and until every other eligible framework has
// been offered the agent since the decline (rotation). Rotation is what
// keeps a framework that declines everything quickly from being offered the
// same agent over and over while a framework behind it in DRF order starves
// (Mesos' offer starvation, MESOS-3202).
//
// # Starvation bound
//
// A framework F that is eligible for an agent A (active, not suppressed, not
// filtered on A, its offer preferences met by A, A's free resources
// allocatable for it, within its role's quota limit and not needed as
// headroom for another role's guarantee) is offered A's free resources
// within K batch cycles, where K is the number of frameworks eligible for A,
// F included: each batch gives A to the first eligible framework in DRF
// order, and a framework that declines is filtered on A until the others
// have been offered it. If F is first in DRF order, K = 1.
//
// # Usage
//
//	a, _ := allocator.New("drf", allocator.Options{})
//	a.AddAgent(allocator.Agent{ID: "a1", Total: allocator.MustParse("cpus:4;mem:8192")})
//	a.AddFramework(allocator.Framework{ID: "f1", Roles: []string{"eng/ml"}})
//	for _, g := range a.Allocate(now) { /* offer g.Resources on g.AgentID to g.FrameworkID */ }
//	a.Decline("f1", "eng/ml", "a1", 5*time.Second, now) // or Recover what goes unused
package allocator

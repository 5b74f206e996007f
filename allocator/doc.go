// Package allocator decides how much of the cluster each framework is
// offered. It is plain Go: no actors, goroutines, clocks or I/O; time is an
// argument. The allocator actor (actors/allocation) drives it; Example
// shows the loop.
//
// Every policy is hierarchical weighted Dominant Resource Fairness in two
// stages, as in Mesos:
//
//  1. Quota: roles below their guaranteed quota are served first, least
//     satisfied first.
//  2. Fair share: an agent's free resources go to the framework whose role
//     is furthest below its weighted fair share (DRF among roles, level by
//     level down the role tree, then DRF among the frameworks of the role;
//     ties go to fewer allocations, then to the smaller name).
//
// Resources held back for unmet guarantees of roles with demand (headroom)
// are not given to other roles. Revocable resources go only to frameworks
// with that capability and do not count towards fair shares.
//
// # Policies: where a framework's offers come from
//
// In a two-level (offer) scheduler the allocator never sees a task: it
// decides which framework is offered which agent and how much of it, and
// the framework places its tasks on what it holds, usually first fit in the
// order its offers came. So a policy cannot score an agent per task, as
// Kubernetes' NodeResourcesFit (MostAllocated, LeastAllocated) or Nomad's
// scheduler algorithm (binpack, spread) do; it shapes offers instead. The
// three policies agree on who is offered (the two stages above, with every
// rule below: weights, guarantees and limits, filters and rotation, offer
// preferences, revocable resources, minimum offer size) and differ in
// where each framework's offers come from (Placement):
//
//   - "drf" (the default, Mesos' HierarchicalDRF): agents are visited in a
//     seeded shuffled order and each agent's free resources go whole to one
//     framework per cycle. Pick it when frameworks place tasks themselves
//     (they see whole agents) and fairness is all you want from the
//     allocator.
//
//   - "binpack": agents are visited fullest first (the mean over resource
//     kinds of the allocated fraction), whole, so each framework's offers
//     begin with the agents most in use and a first-fit scheduler fills
//     them before it touches an empty one. An agent with nothing allocated
//     is opened to a framework only within its opening budget: one agent
//     in its first cycle, twice as many in each cycle after one in which it
//     was given its whole budget and declined none of it (TCP's slow
//     start: 1,023 agents in ten cycles), back to one when it declines an
//     agent that had nothing else on it. Guarantees are served in full. So
//     empty agents stay empty unless someone uses them: whole agents stay
//     free for tasks that need a whole agent, and idle agents can be
//     drained and scaled down. Pick it for big tasks among small ones, for
//     an autoscaled cluster, or to keep costly hosts (GPUs, licences) few.
//     The costs: a framework with sudden large demand reaches full speed
//     only after a few cycles; and in a saturated cluster the framework
//     furthest below its share is offered the fullest agents, the smallest
//     pieces, first, so one whose tasks do not fit them waits longer than
//     under drf (testkit/scenarios/starvation.yaml: fairness 0.46 against
//     0.60). A framework with big tasks should say so in its offer
//     preferences (minimum resources): it is then skipped, keeping its
//     place, until a piece big enough comes.
//
//   - "spread": agents are visited emptiest first, and an agent gives at
//     most a quarter of itself (of each scalar and of its ports) per cycle,
//     to the first eligible framework in DRF order. So the load on an agent
//     grows by at most a quarter a cycle, new load goes to the emptiest
//     agents, and a framework's tasks land on many agents: agents fill
//     evenly, a lost agent takes few of any framework's tasks, and each
//     agent keeps room for the tasks on it to grow. Pick it for
//     availability and even load (no hot agents, fewer noisy neighbours).
//     An offer model never
//     sees a task, so a framework whose tasks are bigger than a quarter can
//     only decline: a framework that declines a slice is offered one twice
//     as large next time (half an agent, then whole agents), and quarters
//     again once it leaves part of a slice unused. A slice is also at least
//     the framework's minimum resources (offer preferences), and an agent
//     too small to cut into something the framework would accept goes
//     whole. The cost: a framework with large demand is given a quarter of
//     each agent per cycle, so four cycles to fill the cluster.
//
// With frameworks that take tasks first fit from their offers, the same
// churning load ran on 17 agents under binpack, 20 under drf and 39 of 40
// under spread (TestPlacementsPackOrSpreadTasks).
//
// # Reservations
//
// Resources reserved for a role (Agent.Reserved: static ones from the
// agent's resources, dynamic ones moved in and out by UpdateReservation)
// sit in a pool per role on the agent. Before its unreserved resources, an
// agent's pools are each offered whole, with Grant.Reservation set, to the
// first eligible client in DRF order of the role's subtree (the role and
// its descendants, Mesos' isAllocatableTo); quota limits and rotation turns
// do not apply to them, filters do. They count in the cluster's total and,
// allocated, in the holder's shares; allocated or not, towards the
// guarantee of their role and its ancestors (Mesos' quota consumption), so
// no unreserved headroom is held back for what a reservation covers.
//
// # Minimum offer size
//
// An offer must hold at least one of the framework's minimum-allocatable
// sets (Options.MinAllocatable, cpus:0.01 or mem:32 by default, or the
// framework's own, Framework.MinAllocatable). As in Mesos'
// OfferFilters.MinAllocatableResources, a nil list means the default and an
// empty one means any offer, however small; an empty offer is never made.
//
// # Demand hints
//
// A framework may say what it is waiting for (SetDemand, from
// Revive.demand: its pending tasks' resources added up). In each batch
// interval, from one Allocate to the next, event-driven runs included, it
// is then offered agents until what it was granted in the interval holds
// its demand, and no more: it is parked out of the search for the rest of
// each run, keeping its place in DRF order, and the agents it is not
// offered go to the frameworks behind it. Without it, the framework first
// in DRF order after a revive is offered every free agent, and declines
// all but the few its tasks fit on (99 % of 34 million offers in the
// 10,000-agent simulation). With one minimum offer size (Framework.
// MinAllocatable: its task, typically), a grant counts in whole minimums,
// as a framework placing tasks first fit can use it. Each revive restates
// the demand; none means no
// bound. It is a hint, not a reservation: a framework that wants more than
// it said is offered the rest in later intervals, so it costs a task at
// most one allocation interval of waiting.
//
// # Filters and rotation
//
// A decline installs a filter on (framework, role, agent) for refuse
// seconds (default 5). A filter lasts at least through the next batch
// allocation, however short (as in Mesos), and until the agent's rotation
// round ends. A decline opens a round; while it is open, each framework
// offered the agent outside quota has had its turn, whether it declines,
// keeps what it was given or hands it back, and is not offered the agent
// again until the round ends. The round ends when nobody eligible is left
// to offer the agent to: every other eligible framework has been offered it
// since the decline. Rotation keeps a framework that declines everything
// quickly from being offered the same agent over and over while a
// framework behind it in DRF order starves (Mesos' offer starvation,
// MESOS-3202); turns keep a framework that takes the agent and gives it
// back every cycle (short tasks, rescinded offers) from holding the round
// open, and so the decliner out, for ever.
//
// What an accept leaves unused is filtered for the accept's refuse time
// too (also at least through the next batch), without rotation, and only
// while the agent has nothing more free than that (Mesos'
// RefusedOfferFilter): a framework whose task ends on the agent may be
// offered it again at once.
//
// # Bounds
//
// A framework F is eligible for an agent A when it is active, not
// suppressed, not filtered on A, not yet granted its stated demand in this
// batch interval, its offer preferences are met by A, what it would get is
// allocatable for it and within its role's quota limit, and not needed as
// headroom for another role's guarantee. Let K be the number of eligible
// frameworks.
//
//   - A framework that declines A is filtered on A no longer than its
//     refuse time, the batch after, and K-1 batches in which A has free
//     resources (the others' turns): declined after batch b with refuse r
//     seconds, batches a second apart and A free, until batch
//     b + max(r, 2, K) at the latest.
//   - Behind frameworks that decline A, F is offered A within K batches
//     (every batch gives A to the first eligible framework in DRF order, and
//     a framework that had it is held off until the others have had it).
//     Frameworks ahead of F in DRF order that take A keep it, as DRF says
//     they should: fairness, not rotation, then decides when F's turn comes.
//   - binpack may put F off from an agent with nothing on it until a later
//     cycle (its budget is spent); that does not count as F's turn.
package allocator

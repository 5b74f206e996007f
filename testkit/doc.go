// Package testkit runs Agora clusters inside one process for tests and
// simulations: the real master and agent actors on one actor system, with no
// remoting between them, a clock the test can drive, and a record of the
// master's events to wait on instead of sleeping.
//
//	c := testkit.Start(t, testkit.Options{Agents: 3})
//	c.Events.WaitFor(t, func(ev any) bool { ... })
//
// Agents started here are simulated only in that they share a process; they
// run the same actor code as `agora node --role=agent`. What else it has:
//
//   - SimContainerizer: tasks that "run" for a modelled time on the clock,
//     with no process (and no goroutine) each; UseGrace models tasks that
//     take their whole kill grace.
//   - Elastic: a framework that keeps N tasks of a shape alive.
//   - Faults: DropFirst (lose messages an actor sends), Partition (cut an
//     agent off both ways), StopAgent (a crash), FailoverMaster /
//     StopMaster / StartMaster (a new leader with the next epoch that
//     rebuilds from re-registrations), AnnounceLeader (what leader
//     detection tells agents and schedulers).
//   - Waiting: Events (WaitFor, WaitForSince, WaitForCount, Count),
//     AdvanceUntil and StateWhere on the fake clock, WaitState on a real one.
//   - Options.Record keeps only the events a large benchmark waits on.
//   - Options.Serial runs every actor on one Serial dispatcher that only
//     Drain runs: alternating Drain and FakeClock.AdvanceToNext replays a
//     run exactly (with seeded AgentSpec.Rand). testkit/sim drives
//     workload files this way; `agora sim` is its command.
package testkit

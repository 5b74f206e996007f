// Package testkit runs Agora clusters inside one process for tests and
// simulations: the real master and agent actors on one actor system, with no
// remoting between them, a clock the test can drive, and a record of the
// master's events to wait on instead of sleeping.
//
//	c := testkit.Start(t, testkit.Options{Agents: 3})
//	c.Events.WaitFor(t, func(ev any) bool { ... })       // runs the actors until it happens
//	c.AdvanceUntil(t, mark, time.Minute, isUnreachable)  // ... moving the clock timer by timer
//
// By default the clock is a FakeClock and every actor runs on one Serial
// dispatcher that only the waiting helpers run: run every actor until none
// has work, check, move the clock to the next timer, repeat. A test is
// then the same run, message for message, on a loaded 2-core machine as on
// an idle one, with no real time in its logic (agents and schedulers draw
// their jitter from seeded sources). Real processes and Docker still run
// on their own: their launches and exits come back as messages, which the
// waits block on (Serial.Ready) without moving the clock. Options.Concurrent
// puts actors on goroutines of their own instead (benchmarks of
// throughput), as does a real clock.
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
//   - Waiting (drive.go): Events (WaitFor, WaitForSince, WaitForCount,
//     Count) and WaitState run the actors without moving the clock;
//     Advance, AdvanceUntil and StateWhere also move it; Request is
//     RequestFuture for a cluster nothing else runs; WaitProcessesEnded
//     waits for real task processes.
//   - Options.Record keeps only the events a large benchmark waits on.
//   - testkit/sim drives workload files on the same Serial dispatcher,
//     with an agenda of faults beside the clock's timers; `agora sim` is
//     its command.
package testkit

// Package testkit runs Agora clusters inside one process for tests and
// simulations: the real master and agent actors on one actor system, with no
// remoting between them, a clock the test can drive, and a record of the
// master's events to wait on instead of sleeping.
//
//	c := testkit.Start(t, testkit.Options{Agents: 3})
//	c.Events.WaitFor(t, func(ev any) bool { ... })
//
// Agents started here are simulated only in that they share a process; they
// run the same actor code as `agora node --role=agent`.
package testkit

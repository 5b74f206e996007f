// Package leader elects the leading master and tells everyone which master
// leads. It follows Mesos' split: a master campaigns through a Contender and
// learns of its own term's end from it; agents, schedulers, the CLI and the
// masters themselves find the leader through a Detector.
//
// Implementations:
//
//	Consul        NewConsulContender, NewConsulDetector: a lock on
//	              agora/<cluster>/leader held with a Consul session
//	Static        a Detector for a fixed host:port (a single master)
//	Group         an election held in memory, for tests and simulations
//
// A master's loop (actors/mastership runs it):
//
//	for {
//		term, err := contender.Campaign(ctx) // blocks until elected
//		...start leading with term.Epoch()
//		term.Announce(ctx)                   // now detectors find it
//		<-term.Lost()                        // stop leading at once
//		...stand by, campaign again
//	}
//
// A follower's loop:
//
//	leader.Watch(ctx, detector, func(info *messages.MasterInfo) {
//		...register or subscribe with info.Address (nil: none leads now)
//	})
//
// # Epochs
//
// Every term has an epoch larger than every earlier term's. With Consul it
// is the lock key's modify index at acquisition (Consul's raft index only
// grows). Every message from a master carries it, so agents and schedulers
// ignore a deposed leader (fencing) even before it knows it is deposed.
//
// # How long a leader may trust its term
//
// A Consul leader holds its lock with a session bound to a TTL check of its
// own (default 2 s) rather than a session TTL (Consul refuses those under
// 10 s and enforces them only within twice their value). Every quarter of
// the TTL the leader passes the check and then confirms with a consistent
// read that its session still holds the lock, each call with a deadline.
// A round that succeeded and started at t proves the check cannot go
// critical, and so the session cannot end through it, before t + TTL: the
// leader's Lease runs to t + TTL - Margin. When the lease runs out without
// a renewal (Consul unreachable, calls hanging) or a read shows the lock
// lost, the term ends: the leader stops before a successor can take the
// lock, which also waits out the lock delay (500 ms by default).
//
// Margin (TTL/10 by default) covers the two clocks' rates and the time the
// leader takes to stop. Passing the check on a Consul agent of the master's
// own host, the lease still needs the consistent read to go through the
// servers: a host cut from them cannot confirm, and steps down within the
// TTL, before Serf declares its node failed (several seconds).
package leader

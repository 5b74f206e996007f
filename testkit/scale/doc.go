// Package scale is the multi-process scale harness over real TCP (issue
// 18): every message between the master and its agents and frameworks
// crosses loopback TCP through proto.actor remoting, with mutual TLS as
// in production (Config.Insecure turns it off). A real agent's certificate
// speaks for one agent; the agents of a host process share its one
// connection, so each host process holds one agent-host certificate
// (security.RoleAgentHost) that the masters, started with
// --max-agents-per-agent-host, let speak for the agents <name>-0 ..
// <name>-(N-1), each checked as an agent's own certificate is.
//
//	harness (this process)          agora node --role=master  x2 (with
//	  |  starts, reads /proc  ----> (its real flags, ports 0,  Consul:
//	  |  SIGKILLs the leader        --ready-file, --election)  leader and
//	  |  20 /state pollers ------->   ^            ^           standby)
//	  |                               | TCP        | TCP
//	  +-> agents-0 .. agents-H     (simulated agents: each a real agent
//	  |                             actor, registering, heartbeating and
//	  |                             sending status updates; tasks run nothing)
//	  +-> first-offer              (SDK schedulers subscribing one at a
//	  |                             time to the idle cluster, each torn down
//	  |                             before the next)
//	  +-> frameworks-0 .. -F       (SDK schedulers launching as fast as
//	  |                             offers allow)
//	  +-> echo-server <-> echo-client   (bare proto.actor, same loopback)
//
// Run starts the master as `agora node --role=master`, agent-host and
// framework-host children (the caller's own executable, which calls
// RunChildIfAsked first: a test binary), and measures in phases: every
// agent registers; frameworks subscribe one at a time to the idle cluster
// and each one's first offer is timed (issue 18's first offer, as
// BenchmarkFirstOffer in actors/master); the frameworks launch their tasks
// to RUNNING (their first offers there, all subscribing at once into a
// cluster the first of them hold, are reported apart as busy); pollers
// read /state while the agents time their heartbeats (each poller is Go's
// HTTP client: it asks for gzip and decompresses every answer whole, and
// sends If-None-Match only with Config.PollETag); with Config.Consul,
// the leader is SIGKILLed and the harness times the standby's election
// and its rebuild (every agent, task and framework back in its /metrics);
// then every process of the cluster is stopped (an idle cluster is not an
// idle machine: its agents heartbeat and its frameworks decline offers)
// and the bare echo runs on the machine alone, in rounds of a fresh pair
// of processes each, and the ratio is taken to their median. Children bind port 0 and report their
// addresses; they talk to the harness in JSON lines and end when their
// stdin closes.
//
// `make scale` runs BenchmarkTCPScale (1,000 agents by default; SCALE_AGENTS=10000
// for the documented size); TestTCPScaleSmall is the short version in make test.
// On a larger machine raise SCALE_AGENT_HOSTS with the agents (a host
// process of 5,000 agents needs about a core while they register).
package scale

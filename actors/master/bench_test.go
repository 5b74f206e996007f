package master_test

import (
	"testing"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/testkit"
)

// BenchmarkRegisterAgents measures 10,000 agents registering with one
// master in one process: each agent actor sends RegisterAgent, the master
// validates it, assigns an AgentID, spawns the agent's handler and answers;
// an iteration ends when every agent has its AgentRegistered. The agents
// are simulated (nothing persisted: each real agent writes its own disk).
// Target (issue 2): under 1 s for 10,000 agents.
func BenchmarkRegisterAgents10k(b *testing.B) {
	const n = 10_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Concurrent: the master, its handlers and the agents on
		// goroutines of their own, as in production; this measures
		// their throughput on every core, not one thread's.
		c, err := testkit.New(testkit.Options{Concurrent: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sim := testkit.SimContainerizer{Clock: c.Clock}
		for j := 0; j < n; j++ {
			c.AddAgent(testkit.AgentSpec{Containerizer: sim})
		}
		c.Events.WaitForCount(b, 0, n, func(ev any) bool { _, ok := ev.(agent.Registered); return ok })
		b.StopTimer()
		c.Stop()
	}
	b.ReportMetric(float64(n)/(b.Elapsed().Seconds()/float64(b.N)), "agents/s")
}

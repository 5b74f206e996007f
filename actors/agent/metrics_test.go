package agent_test

import (
	"strings"
	"testing"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"
)

// The agent's /metrics follow its tasks: by state, what the live ones
// use (none once the task ended), its capacity and its registration. (The
// ended task's count depends on when the master's acknowledgement comes,
// so it is not compared.)
func TestAgentMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	clock := testkit.NewFakeClock()
	sys, pid, sent := registeredAgentWith(t, clock, agent.Config{Containerizer: testkit.SimContainerizer{Clock: clock}, Metrics: agent.NewMetrics(reg)}, nil)
	update := func(state messages.TaskState) func(proto.Message) bool {
		return func(m proto.Message) bool {
			u, ok := m.(*messages.StatusUpdate)
			return ok && u.Status.State == state
		}
	}
	sys.Root.Send(pid, runTask("t", nil))
	next(t, sent, "TASK_RUNNING", update(messages.TaskState_TASK_RUNNING))
	// A round trip through the agent: whatever it did before is counted.
	if _, err := sys.Root.RequestFuture(pid, &actor.Touch{}, testkit.WaitTimeout).Result(); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP agora_agent_tasks Tasks on this agent, by state (ended ones until their framework acknowledged the end).
# TYPE agora_agent_tasks gauge
agora_agent_tasks{state="TASK_RUNNING"} 1
agora_agent_tasks{state="TASK_STAGING"} 0
agora_agent_tasks{state="TASK_STARTING"} 0
# HELP agora_agent_used Resources of the tasks that have not ended, in the unit the unit label names (mem and disk in bytes).
# TYPE agora_agent_used gauge
agora_agent_used{resource="cpus",unit="core"} 0.5
`), "agora_agent_tasks", "agora_agent_used"); err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(pid, &messages.KillTask{FrameworkId: &messages.FrameworkID{Value: "fw"}, TaskId: &messages.TaskID{Value: "t"}, MasterEpoch: 1})
	next(t, sent, "TASK_KILLED", update(messages.TaskState_TASK_KILLED))
	if _, err := sys.Root.RequestFuture(pid, &actor.Touch{}, testkit.WaitTimeout).Result(); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP agora_agent_capacity Resources this agent offers the cluster, in the unit the unit label names (mem and disk in bytes).
# TYPE agora_agent_capacity gauge
agora_agent_capacity{resource="cpus",unit="core"} 1
agora_agent_capacity{resource="mem",unit="byte"} 2.68435456e+08
# HELP agora_agent_registered 1 while the agent is registered with a master, else 0.
# TYPE agora_agent_registered gauge
agora_agent_registered 1
# HELP agora_agent_used Resources of the tasks that have not ended, in the unit the unit label names (mem and disk in bytes).
# TYPE agora_agent_used gauge
agora_agent_used{resource="cpus",unit="core"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "agora_agent_capacity", "agora_agent_registered", "agora_agent_used"); err != nil {
		t.Fatal(err)
	}
}

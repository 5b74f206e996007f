package master

import (
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/messages"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A snapshot sets the cluster gauges in base units: cores and bytes never
// share a series, unreachable agents add no capacity. The books' counts
// set tasks and frameworks by state.
func TestSnapshotGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	res := func(text string) []*messages.Resource {
		rs, err := messages.ParseResources(text)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	m.setCluster(&messages.MasterState{
		Leading: true, Master: &messages.MasterInfo{Epoch: 7},
		Agents: []*messages.AgentState{
			{Info: &messages.AgentInfo{Resources: res("cpus:4;mem:1024")}, Reachable: true, Used: res("cpus:1;mem:512")},
			{Info: &messages.AgentInfo{Resources: res("cpus:8;mem:2048")}, Reachable: false},
		},
		Frameworks: []*messages.FrameworkState{
			{Connected: true, Offered: res("cpus:3"), Tasks: map[string]uint32{"TASK_RUNNING": 2}},
			{Connected: false, Tasks: map[string]uint32{"TASK_RUNNING": 1, "TASK_STAGING": 1}},
		},
	})
	m.setCounts(core.Counts{Agents: 2, Reachable: 1, Connected: 1, Disconnected: 1,
		Tasks: map[messages.TaskState]int{messages.TaskState_TASK_RUNNING: 3, messages.TaskState_TASK_STAGING: 1}}, time.Second)
	want := `
# HELP agora_cluster_capacity Resources of the reachable agents, by resource, in the unit the unit label names (mem and disk in bytes).
# TYPE agora_cluster_capacity gauge
agora_cluster_capacity{resource="cpus",unit="core"} 4
agora_cluster_capacity{resource="mem",unit="byte"} 1.073741824e+09
# HELP agora_cluster_offered Resources in outstanding offers, by resource, in the unit the unit label names (mem and disk in bytes).
# TYPE agora_cluster_offered gauge
agora_cluster_offered{resource="cpus",unit="core"} 3
# HELP agora_cluster_used Resources used by live tasks, by resource, in the unit the unit label names (mem and disk in bytes).
# TYPE agora_cluster_used gauge
agora_cluster_used{resource="cpus",unit="core"} 1
agora_cluster_used{resource="mem",unit="byte"} 5.36870912e+08
# HELP agora_master_frameworks Frameworks, by state: connected, disconnected (within their failover timeout), tearing_down.
# TYPE agora_master_frameworks gauge
agora_master_frameworks{state="connected"} 1
agora_master_frameworks{state="disconnected"} 1
agora_master_frameworks{state="tearing_down"} 0
# HELP agora_master_tasks Live tasks (not yet ended, or ended and not yet acknowledged), by state.
# TYPE agora_master_tasks gauge
agora_master_tasks{state="TASK_RUNNING"} 3
agora_master_tasks{state="TASK_STAGING"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "agora_cluster_capacity", "agora_cluster_offered", "agora_cluster_used",
		"agora_master_frameworks", "agora_master_tasks"); err != nil {
		t.Fatal(err)
	}
	// A state no task is in any more loses its series.
	m.setCounts(core.Counts{Agents: 2, Reachable: 2, Connected: 2,
		Tasks: map[messages.TaskState]int{messages.TaskState_TASK_RUNNING: 4}}, time.Second)
	want = `
# HELP agora_master_agents Agents known to the master, by liveness.
# TYPE agora_master_agents gauge
agora_master_agents{state="reachable"} 2
agora_master_agents{state="unreachable"} 0
# HELP agora_master_frameworks Frameworks, by state: connected, disconnected (within their failover timeout), tearing_down.
# TYPE agora_master_frameworks gauge
agora_master_frameworks{state="connected"} 2
agora_master_frameworks{state="disconnected"} 0
agora_master_frameworks{state="tearing_down"} 0
# HELP agora_master_tasks Live tasks (not yet ended, or ended and not yet acknowledged), by state.
# TYPE agora_master_tasks gauge
agora_master_tasks{state="TASK_RUNNING"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "agora_master_agents", "agora_master_frameworks", "agora_master_tasks"); err != nil {
		t.Fatal(err)
	}
}

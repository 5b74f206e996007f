package master

import (
	"github.com/agora-sched/agora/messages"
)

// summarize folds a snapshot into the cluster's numbers (/state/summary):
// counts and totals over its agents, and its frameworks and roles as they
// are. The snapshot is shared: what the summary takes from it (frameworks,
// role usage, the master) is shared too, never changed.
func summarize(st *messages.MasterState) *messages.ClusterSummary {
	agents := &messages.AgentCounts{Registered: uint32(len(st.Agents))}
	for _, a := range st.Agents {
		if a.Reachable {
			agents.Reachable++
		} else {
			agents.Unreachable++
		}
		switch a.GetDrain().GetState() {
		case messages.DrainInfo_DRAINING:
			agents.Draining++
		case messages.DrainInfo_DRAINED:
			agents.Drained++
		}
	}
	tasks := map[string]uint64{}
	for _, f := range st.Frameworks {
		for state, n := range f.Tasks {
			tasks[state] += uint64(n)
		}
	}
	return &messages.ClusterSummary{
		Master:           st.Master,
		Leading:          st.Leading,
		SnapshotUnixNano: st.SnapshotUnixNano,
		Agents:           agents,
		Totals:           clusterTotals(st),
		Tasks:            tasks,
		Frameworks:       st.Frameworks,
		RoleUsage:        st.RoleUsage,
	}
}

package core

import (
	"fmt"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// BenchmarkMaintenanceSchedule puts a schedule of 1,000 windows of 10
// machines each in force on a master of 10,000 agents (every window ahead:
// frameworks are told, timers armed), then re-registers every agent, as
// after a failover, each looked up in the schedule. What it bounds: the
// time the master actor spends on a schedule of MaxMaintenanceMachines;
// the sub-benchmark without a schedule is the re-registrations' own cost.
func BenchmarkMaintenanceSchedule(b *testing.B) {
	for _, scheduled := range []bool{false, true} {
		b.Run(fmt.Sprintf("scheduled=%v", scheduled), func(b *testing.B) { benchmarkMaintenance(b, scheduled) })
	}
}

func benchmarkMaintenance(b *testing.B, scheduled bool) {
	const agents, windows, perWindow = 10_000, 1000, 10
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	res := []*messages.Resource{{Name: "cpus", Scalar: 4}, {Name: "mem", Scalar: 8192}}
	c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}, Liveness: LivenessPolicy{Interval: 5 * time.Second, MaxMisses: 3}})
	c.Start(t0)
	ids := make([]string, agents)
	for i := range agents {
		host := fmt.Sprintf("node-%05d", i)
		r := c.RegisterAgent(Peer{Endpoint: Endpoint{host + ":1", "agent"}}, &messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: host, Resources: res}}, t0)
		for _, e := range r.Effects {
			if s, ok := e.(Send); ok {
				if reg, ok := s.Msg.(*messages.AgentRegistered); ok {
					ids[i] = reg.AgentId.Value
				}
			}
		}
	}
	s := &messages.MaintenanceSchedule{}
	for w := range windows {
		win := &messages.MaintenanceWindow{StartUnixNano: t0.Add(time.Duration(w+1) * time.Hour).UnixNano(), DurationNanos: int64(time.Hour)}
		for m := range perWindow {
			win.Machines = append(win.Machines, fmt.Sprintf("node-%05d", w*perWindow+m))
		}
		s.Windows = append(s.Windows, win)
	}
	req := &messages.UpdateMaintenanceSchedule{Schedule: s}
	b.ResetTimer()
	for range b.N {
		if scheduled {
			start := time.Now()
			if r := c.UpdateMaintenance(Peer{Endpoint: Endpoint{"op:1", "op"}}, req, t0); len(r.Effects) < 2*windows {
				b.Fatalf("%d effects: the schedule did not apply", len(r.Effects))
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms/schedule")
		}
		start := time.Now()
		for i, id := range ids {
			host := fmt.Sprintf("node-%05d", i)
			c.ReregisterAgent(Peer{Endpoint: Endpoint{host + ":1", "agent"}}, &messages.ReregisterAgent{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: id},
				Hostname: host, Resources: res}}, t0)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms/10k-reregistrations")
	}
}

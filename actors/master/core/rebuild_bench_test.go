package core

import (
	"fmt"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// BenchmarkReregisterAgents: what a new leader's core does per
// re-registering agent after a failover, without the actors around it: one
// op is a fresh core taking the re-registration of every agent, each with
// 10 RUNNING tasks of 10 frameworks it learns from the reports (as in
// BenchmarkFailoverRebuild, actors/master). The time, bytes and
// allocations are reported per agent. The messages are built before the
// timer starts, each op its own, as each re-registration arrives as a
// fresh message.
func BenchmarkReregisterAgents(b *testing.B) {
	for _, agents := range []int{10_000} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) { benchmarkReregister(b, agents, 10, 10) })
	}
}

func benchmarkReregister(b *testing.B, agents, perAgent, frameworks int) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	agentRes := []*messages.Resource{{Name: "cpus", Scalar: float64(perAgent)}, {Name: "mem", Scalar: float64(perAgent * 1024)}}
	fws := make([]*messages.FrameworkInfo, frameworks)
	for j := range fws {
		fws[j] = &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: fmt.Sprintf("m-0-fw%d", j)}, Name: fmt.Sprintf("fw%d", j),
			Roles: []string{fmt.Sprintf("role%d", j)}, Checkpoint: proto.Bool(true), FailoverTimeoutNanos: int64(time.Hour)}
	}
	report := func(i int) *messages.ReregisterAgent {
		id := fmt.Sprintf("m-0-A%d", i)
		host := fmt.Sprintf("node-%05d", i)
		msg := &messages.ReregisterAgent{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: id}, Hostname: host, Resources: agentRes},
			Session: "s-" + id}
		for k := range perAgent {
			f := fws[(i+k)%frameworks]
			tid := fmt.Sprintf("%s-%d", f.Name, i*perAgent+k)
			msg.Tasks = append(msg.Tasks, &messages.Task{Name: tid, TaskId: &messages.TaskID{Value: tid}, FrameworkId: f.Id,
				AgentId: msg.Info.Id, State: messages.TaskState_TASK_RUNNING, Role: f.Roles[0],
				Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}, {Name: "mem", Scalar: 1024}}})
			msg.Frameworks = append(msg.Frameworks, f)
		}
		return msg
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		msgs := make([]*messages.ReregisterAgent, agents)
		for i := range msgs {
			msgs[i] = report(i)
		}
		c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 2}, Liveness: LivenessPolicy{Interval: 5 * time.Second, MaxMisses: 3}})
		c.Start(t0)
		b.StartTimer()
		for i, msg := range msgs {
			c.ReregisterAgent(Peer{Endpoint: Endpoint{msg.Info.Hostname + ":1", "agent"}}, msg, t0)
			msgs[i] = nil // the shell drops a message once handled
		}
		b.StopTimer()
		var running uint32
		for _, f := range c.books.Frameworks(t0) {
			running += f.Tasks["TASK_RUNNING"]
		}
		if running != uint32(agents*perAgent) {
			b.Fatalf("the books hold %d RUNNING tasks, want %d", running, agents*perAgent)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*agents), "ns/agent")
}

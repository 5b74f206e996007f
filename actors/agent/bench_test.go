package agent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
)

// BenchmarkTaskBurstWithCheckpoints measures an agent with a work dir (so
// every status update is checkpointed with fsyncs) taking a burst of tasks:
// from the RunTasks arriving to every task's RUNNING update sent. Tasks are
// simulated (no process): what is measured is the agent and its disk. The
// master acknowledges every update (the tasks' framework is unknown to it),
// so each acknowledgement rewrites a checkpoint too. probe-ms is how long a
// message queued right behind the burst waits for the agent (a kill of a
// task unknown here, answered without touching the disk): what a heartbeat
// would wait.
func BenchmarkTaskBurstWithCheckpoints(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			clock := testkit.NewFakeClock()
			c := testkit.Start(b, testkit.Options{Clock: clock, Concurrent: true})
			running, probed := make(chan struct{}, n), make(chan struct{}, 1)
			registered := make(chan struct{}, 1)
			c.System.EventStream.Subscribe(func(ev any) {
				if _, ok := ev.(agent.Registered); ok {
					registered <- struct{}{}
				}
			})
			count := func(next actor.SenderFunc) actor.SenderFunc {
				return func(ctx actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
					if u, ok := env.Message.(*messages.StatusUpdate); ok {
						switch u.Status.State {
						case messages.TaskState_TASK_RUNNING:
							running <- struct{}{}
						case messages.TaskState_TASK_LOST:
							probed <- struct{}{}
						}
					}
					next(ctx, target, env)
				}
			}
			var total, probe time.Duration
			for i := 0; i < b.N; i++ {
				pid := c.System.Root.Spawn(agent.Props(agent.Config{
					Info:   &messages.AgentInfo{Hostname: fmt.Sprintf("h%d", i), Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}}},
					Master: c.Master, WorkDir: b.TempDir(), Clock: clock, Logger: testLogger(),
					Containerizer: testkit.SimContainerizer{Clock: clock}, SenderMiddleware: []actor.SenderMiddleware{count},
				}))
				<-registered
				start := time.Now()
				for t := 0; t < n; t++ {
					c.System.Root.Send(pid, runTask(fmt.Sprintf("t%d", t), nil))
				}
				c.System.Root.Send(pid, &messages.KillTask{FrameworkId: &messages.FrameworkID{Value: "fw"}, TaskId: &messages.TaskID{Value: "probe"}, MasterEpoch: 1})
				<-probed
				probe += time.Since(start)
				for t := 0; t < n; t++ {
					<-running
				}
				total += time.Since(start)
				_ = c.System.Root.StopFuture(pid).Wait()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/burst")
			b.ReportMetric(float64(probe.Microseconds())/1000/float64(b.N), "probe-ms")
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "tasks/s")
		})
	}
}

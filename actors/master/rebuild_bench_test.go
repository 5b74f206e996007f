package master_test

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	allocatoractor "github.com/agora-sched/agora/actors/allocator"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
)

// BenchmarkFailoverRebuild: after a master failover in testkit, the time
// until the new leader has rebuilt its books and its allocator from the
// re-registration of every agent with its 10 tasks, and every framework
// has subscribed again. Each op is one failover (the old master's stop
// included). Targets (issue 6): 10k agents <= 1 s, 40k agents <= 4 s
// (Mesos 1.5: about 4.5 s and 19 s).
func BenchmarkFailoverRebuild(b *testing.B) {
	for _, agents := range []int{10_000, 40_000} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			const perAgent, frameworks = 10, 10
			testkit.WaitTimeout = 60 * time.Second
			c := benchCluster(b, agents, fmt.Sprintf("cpus:%d;mem:%d", perAgent, perAgent*1024))
			defer c.Stop()
			var running atomic.Int64
			done := make(chan struct{})
			once := &sync.Once{}
			tasks := agents * perAgent
			var scheds []*actor.PID
			for j := 0; j < frameworks; j++ {
				f := &flood{name: fmt.Sprintf("fw%d", j), queue: tasks / frameworks, task: scheduler.Resources("cpus:1;mem:1024"),
					launchAt: map[string]time.Time{}, running: &running, target: int64(tasks), done: done, once: once}
				scheds = append(scheds, c.System.Root.Spawn(scheduler.Props(scheduler.Config{
					Master: c.Master, Info: frameworkInfo(f.name, fmt.Sprintf("role%d", j)), Clock: c.Clock, Logger: quiet,
				}, f)))
			}
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("only %d of %d tasks RUNNING", running.Load(), tasks)
			}
			if n := c.AllocatorMetrics.Refused(); n > 0 {
				b.Fatalf("the allocator refused %d changes while the tasks launched", n)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mark := c.Events.Mark()
				start := time.Now()
				epoch := c.FailoverMaster(b)
				if os.Getenv("AGORA_BENCH_TRACE") != "" {
					b.Logf("failover call returned after %v", time.Since(start))
					go func() {
						for k := 0; k < 12; k++ {
							time.Sleep(5 * time.Second)
							b.Logf("%v: %d re-registered", time.Since(start), c.Events.Count(mark, isReregistered))
						}
					}()
				}
				for _, s := range scheds {
					c.System.Root.Send(s, scheduler.MasterDetected{Master: c.Master, Epoch: epoch})
				}
				c.Events.WaitForCount(b, mark, agents, isReregistered)
				c.Events.WaitForCount(b, mark, frameworks, isResubscribed)
				// Rebuilt: the master and then the allocator have handled
				// every re-registration.
				for _, barrier := range []struct {
					pid *actor.PID
					msg any
				}{{c.Master, &messages.GetState{}}, {c.Allocator, allocatoractor.Sync{}}} {
					if _, err := c.System.Root.RequestFuture(barrier.pid, barrier.msg, time.Minute).Result(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(time.Since(start).Milliseconds()), "rebuild-ms")
				b.StopTimer()
				st := c.WaitState(b, func(s *messages.MasterState) bool { return s.Master.Epoch == epoch && len(s.Agents) == agents })
				var live uint32
				for _, f := range st.Frameworks {
					live += f.Tasks["TASK_RUNNING"]
				}
				if live != uint32(tasks) {
					b.Fatalf("rebuilt books hold %d running tasks, want %d", live, tasks)
				}
				if n := c.AllocatorMetrics.Refused(); n > 0 {
					b.Fatalf("the allocator refused %d changes while rebuilding", n)
				}
				b.StartTimer()
			}
			_ = master.Name
		})
	}
}

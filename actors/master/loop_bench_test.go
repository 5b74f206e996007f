package master_test

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
)

// benchCluster starts a testkit cluster on the real clock with agents whose
// executor only reports (tasks run until killed), and waits for them.
func benchCluster(b *testing.B, agents int, resources string, record ...func(any) bool) *testkit.Cluster {
	b.Helper()
	opts := testkit.Options{}
	if len(record) > 0 {
		opts.Record = record[0]
	}
	return benchClusterWith(b, agents, resources, opts)
}

// benchClusterWith is benchCluster with options of the caller's (Record,
// ReregisterSpread); the clock, resources, offer timeout and liveness are
// the benchmark's.
func benchClusterWith(b *testing.B, agents int, resources string, opts testkit.Options) *testkit.Cluster {
	b.Helper()
	// Liveness as `agora node` sets it (auto): at most 500 heartbeats/s.
	opts.Clock, opts.AgentResources, opts.OfferTimeout = clockwork.NewRealClock(), resources, -1
	opts.Liveness = &master.LivenessPolicy{MinInterval: 5 * time.Second, MaxRate: 500, MaxMisses: 3}
	c, err := testkit.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	sim := testkit.SimContainerizer{Clock: c.Clock}
	for i := 0; i < agents; i++ {
		c.AddAgent(testkit.AgentSpec{Containerizer: sim})
	}
	c.Events.WaitForCount(b, 0, agents, func(ev any) bool { _, ok := ev.(agent.Registered); return ok })
	return c
}

// flood launches its queue as fast as offers allow and records, per task,
// offer-to-RUNNING latency.
type flood struct {
	name      string
	queue     int
	task      []*messages.Resource
	next      int
	launchAt  map[string]time.Time
	latencies []time.Duration
	running   *atomic.Int64
	target    int64
	done      chan struct{}
	once      *sync.Once
}

func (f *flood) Receive(d *scheduler.Driver, ev any) {
	switch ev := ev.(type) {
	case *messages.Offers:
		zero := 0.0
		now := time.Now()
		for _, o := range ev.Offers {
			left := o.Resources
			var tasks []*messages.TaskInfo
			for f.next < f.queue && scheduler.Fits(left, f.task) {
				left = scheduler.Subtract(left, f.task)
				id := fmt.Sprintf("%s-%d", f.name, f.next)
				f.next++
				f.launchAt[id] = now
				tasks = append(tasks, &messages.TaskInfo{Name: id, TaskId: &messages.TaskID{Value: id}, Resources: f.task,
					Command: &messages.CommandInfo{Value: "true", Shell: true}})
			}
			if len(tasks) == 0 {
				d.Decline([]*messages.OfferID{o.Id}, 3600)
				continue
			}
			d.LaunchWithFilters([]*messages.Offer{o}, &messages.Filters{RefuseSeconds: &zero}, tasks...)
		}
	case *messages.StatusUpdate:
		if ev.Status.State == messages.TaskState_TASK_RUNNING {
			if at, ok := f.launchAt[ev.Status.TaskId.Value]; ok {
				f.latencies = append(f.latencies, time.Since(at))
				delete(f.launchAt, ev.Status.TaskId.Value)
			}
			if f.running.Add(1) == f.target {
				f.once.Do(func() { close(f.done) })
			}
		}
	}
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// BenchmarkOfferLoop: tasks launched to RUNNING per second through the
// whole loop (allocator, offers, accept, RunTask, agent, status update,
// acknowledgement) on 1,000 agents with 10 frameworks; one op launches
// 50,000 tasks. Targets (issue 4): >= 20,000 tasks/s.
func BenchmarkOfferLoop(b *testing.B) {
	const agents, frameworks, tasks = 1000, 10, 50_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := benchCluster(b, agents, "cpus:32;mem:65536")
		var running atomic.Int64
		done := make(chan struct{})
		once := &sync.Once{}
		floods := make([]*flood, frameworks)
		b.StartTimer()
		start := time.Now()
		for j := range floods {
			floods[j] = &flood{name: fmt.Sprintf("fw%d", j), queue: tasks / frameworks, task: scheduler.Resources("cpus:0.1;mem:128"),
				launchAt: map[string]time.Time{}, running: &running, target: tasks, done: done, once: once}
			c.System.Root.Spawn(scheduler.Props(scheduler.Config{
				Master: c.Master, Info: frameworkInfo(floods[j].name, fmt.Sprintf("role%d", j)), Clock: c.Clock, Logger: quiet,
			}, floods[j]))
		}
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("only %d of %d tasks RUNNING", running.Load(), tasks)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		var lat []time.Duration
		for _, f := range floods {
			lat = append(lat, f.latencies...)
		}
		b.ReportMetric(float64(tasks)/elapsed.Seconds(), "tasks/s")
		b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-offer-to-running-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-offer-to-running-ms")
		c.Stop()
	}
}

// BenchmarkFirstOffer: time from a framework's subscription to its first
// offer on a 1,000-agent cluster with everything free; each op is one
// framework (subscribe, first offer, teardown). Target: p99 <= 5 ms.
func BenchmarkFirstOffer(b *testing.B) {
	c := benchCluster(b, 1000, "cpus:32;mem:65536")
	defer c.Stop()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got := make(chan time.Duration, 1)
		mark := c.Events.Mark()
		start := time.Now()
		first := true
		pid := c.System.Root.Spawn(scheduler.Props(scheduler.Config{Master: c.Master, Info: frameworkInfo(fmt.Sprintf("f%d", i), "r"), Clock: c.Clock, Logger: quiet},
			scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
				if _, ok := ev.(*messages.Offers); ok && first {
					first = false
					got <- time.Since(start)
					d.Teardown()
				}
			})))
		select {
		case d := <-got:
			lat = append(lat, d)
		case <-time.After(30 * time.Second):
			b.Fatal("no offer")
		}
		b.StopTimer()
		// Wait until the framework is gone, so the next one finds the
		// cluster free again.
		c.Events.WaitForSince(b, mark, func(ev any) bool {
			_, ok := ev.(master.FrameworkRemoved)
			return ok
		})
		c.System.Root.Stop(pid)
		// Quiet cluster for the next sample: the master and then the
		// allocator have handled everything the removal caused.
		for _, barrier := range []struct {
			pid *actor.PID
			msg any
		}{{c.Master, &messages.GetState{}}, {c.Allocator, &messages.AllocatorSync{}}, {c.Master, &messages.GetState{}}} {
			if _, err := c.System.Root.RequestFuture(barrier.pid, barrier.msg, 10*time.Second).Result(); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	if os.Getenv("AGORA_BENCH_TAIL") != "" {
		slices.Sort(lat)
		b.Logf("slowest: %v", lat[max(0, len(lat)-12):])
	}
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
}

var quiet = slog.New(slog.DiscardHandler)

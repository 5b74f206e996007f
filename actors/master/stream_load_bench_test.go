package master_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/testkit"
	"github.com/prometheus/client_golang/prometheus"
)

// cpuTime is the process's user+system CPU time (getrusage).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// launchWave runs the offer loop until frameworks have launched tasks to
// RUNNING, and returns how long it took and the CPU the process spent.
func launchWave(b *testing.B, c *testkit.Cluster, wave string, frameworks, tasks int) (wall, cpu time.Duration) {
	var running atomic.Int64
	done := make(chan struct{})
	once := &sync.Once{}
	startCPU, start := cpuTime(b), time.Now()
	for j := range frameworks {
		f := &flood{name: fmt.Sprintf("%s-fw%d", wave, j), queue: tasks / frameworks, task: scheduler.Resources("cpus:0.1;mem:128"),
			launchAt: map[string]time.Time{}, running: &running, target: int64(tasks), done: done, once: once}
		c.System.Root.Spawn(scheduler.Props(scheduler.Config{Master: c.Master, Info: frameworkInfo(f.name, fmt.Sprintf("role%d", j)), Clock: c.Clock, Logger: quiet}, f))
	}
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("%s: only %d of %d tasks RUNNING", wave, running.Load(), tasks)
	}
	return time.Since(start), cpuTime(b) - startCPU
}

// BenchmarkStateStreamUnderOfferLoop: the web UI's feed while the master
// works. A testkit cluster of 10,000 agents (real clock, in process) runs
// the offer loop twice: 10 frameworks launch 20,000 tasks to RUNNING with
// nobody watching, then 10 more launch 20,000 with the history recorder
// (Publisher.Record) running and 20 subscribers on GET /events/state.
// Reports the process's CPU per wall second (getrusage: master, allocator,
// the 10,000 simulated agents and the streams together) in both waves,
// and per subscriber the time from a snapshot's taking (its
// snapshot_unix_nano) to the end of its last byte read: p50/p99.
func BenchmarkStateStreamUnderOfferLoop(b *testing.B) {
	const agents, frameworks, tasks, subscribers = 10_000, 10, 20_000, 20
	for range b.N {
		c := benchCluster(b, agents, "cpus:32;mem:65536")
		wall, cpu := launchWave(b, c, "quiet", frameworks, tasks)
		b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores-without-streams")
		b.ReportMetric(float64(tasks)/wall.Seconds(), "tasks/s-without-streams")

		ctx, cancel := context.WithCancel(context.Background())
		recording := make(chan struct{})
		go func() { defer close(recording); c.Publisher.Record(ctx) }()
		srv := httptest.NewServer(master.HTTPHandler(c.Publisher, prometheus.NewRegistry(), nil, nil, nil, nil))
		var mu sync.Mutex
		var lat []time.Duration
		var readers sync.WaitGroup
		var bodies []*http.Response
		for range subscribers {
			resp, err := http.Get(srv.URL + "/events/state")
			if err != nil {
				b.Fatal(err)
			}
			bodies = append(bodies, resp)
			readers.Add(1)
			go func() {
				defer readers.Done()
				r := bufio.NewReaderSize(resp.Body, 1<<20)
				var id int64
				for {
					line, err := r.ReadSlice('\n')
					if err == bufio.ErrBufferFull {
						continue
					}
					if err != nil {
						return
					}
					switch s := string(line); {
					case strings.HasPrefix(s, "id: "):
						id, _ = strconv.ParseInt(strings.TrimSpace(s[4:]), 10, 64)
					case s == "\n" && id != 0:
						d := time.Since(time.Unix(0, id))
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
						id = 0
					}
				}
			}()
		}
		wall, cpu = launchWave(b, c, "watched", frameworks, tasks)
		for _, resp := range bodies {
			resp.Body.Close()
		}
		readers.Wait()
		srv.Close()
		cancel()
		<-recording
		b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores-with-20-streams")
		b.ReportMetric(float64(tasks)/wall.Seconds(), "tasks/s-with-20-streams")
		mu.Lock()
		b.ReportMetric(float64(len(lat))/subscribers, "snapshots/subscriber")
		b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-delivery-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-delivery-ms")
		mu.Unlock()
		if snap := c.Publisher.Latest(); snap != nil {
			b.ReportMetric(float64(len(snap.JSON())), "snapshot-bytes")
		}
		c.Stop()
	}
}

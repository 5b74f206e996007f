package sim_test

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/testkit/sim"
)

// BenchmarkScenario runs every shipped scenario in full on the virtual
// clock (make bench). Reported: simulated seconds per wall-clock second,
// and the peak Go heap in use (sampled at every report sample; `agora
// sim` prints the process's peak RSS).
func BenchmarkScenario(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(scenarios, "*.yaml"))
	for _, f := range files {
		b.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(b *testing.B) {
			w := load(b, filepath.Base(f))
			var peak uint64
			var ms runtime.MemStats
			opts := sim.Options{Progress: func(_, _ time.Duration) {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}}
			start := time.Now()
			for i := 0; i < b.N; i++ {
				rep, err := sim.Run(w, opts)
				if err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					b.ReportMetric(float64(rep.Tasks.Launched), "tasks-launched")
				}
			}
			wall := time.Since(start) / time.Duration(b.N)
			b.ReportMetric(w.Duration.D().Seconds()/wall.Seconds(), "sim-s/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

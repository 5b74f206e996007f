package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestJain(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 1},
		{[]float64{0.3, 0.3, 0.3}, 1},
		{[]float64{1, 0, 0, 0}, 0.25},
		{[]float64{0.2, 0.4}, 0.9},
	} {
		if got := jain(c.xs); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("jain(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}

func TestQuantile(t *testing.T) {
	xs := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for q, want := range map[float64]time.Duration{0.5: 5, 0.99: 10, 1: 10, 0: 1} {
		if got := quantile(xs, q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing")
	}
}

// Each distribution has the mean (or median, or bounds) it is given.
func TestDurationDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	stats := func(d DistSpec) (mean, median, lo, hi time.Duration) {
		xs := make([]time.Duration, n)
		var sum time.Duration
		for i := range xs {
			xs[i] = sample(d, rng)
			sum += xs[i]
		}
		lo, hi = xs[0], xs[0]
		for _, x := range xs {
			lo, hi = min(lo, x), max(hi, x)
		}
		slices.Sort(xs)
		return sum / n, xs[n/2], lo, hi
	}
	near := func(got, want time.Duration) bool { return math.Abs(float64(got-want)) < 0.05*float64(want) }
	if m, _, lo, hi := stats(DistSpec{Dist: "constant", Mean: Duration(time.Minute)}); m != time.Minute || lo != hi {
		t.Errorf("constant: mean %v, range %v..%v", m, lo, hi)
	}
	if m, _, _, _ := stats(DistSpec{Dist: "exponential", Mean: Duration(time.Minute)}); !near(m, time.Minute) {
		t.Errorf("exponential: mean %v, want 1m", m)
	}
	if m, _, lo, hi := stats(DistSpec{Dist: "uniform", Min: Duration(10 * time.Second), Max: Duration(30 * time.Second)}); !near(m, 20*time.Second) || lo < 10*time.Second || hi > 30*time.Second {
		t.Errorf("uniform: mean %v, range %v..%v", m, lo, hi)
	}
	if _, med, _, _ := stats(DistSpec{Dist: "lognormal", Mean: Duration(time.Minute), Sigma: 0.8}); !near(med, time.Minute) {
		t.Errorf("lognormal: median %v, want 1m", med)
	}
	if _, _, _, hi := stats(DistSpec{Dist: "exponential", Mean: Duration(time.Minute), Max: Duration(2 * time.Minute)}); hi > 2*time.Minute {
		t.Errorf("max not applied: %v", hi)
	}
}

// A gang's wave starts whole, across agents, or not at all.
func TestGangStartsWhole(t *testing.T) {
	w, err := Parse([]byte(`
duration: 5m
agents: [{count: 4, resources: "cpus:4;mem:4096"}]
frameworks:
  - {name: mpi, kind: gang, task: "cpus:2;mem:1024", tasks: 6, arrival: {process: once}, duration: {mean: 1m}}
  - {name: big, kind: gang, task: "cpus:4;mem:1024", tasks: 5, arrival: {process: once}, duration: {mean: 1m}}
`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// mpi (12 cpus over 3 agents) fits; big (20 cpus on a 16-cpu
	// cluster) never starts, and none of its tasks runs alone.
	if rep.Jobs.GangsStarted != 1 || rep.Tasks.Launched != 6 || rep.Tasks.Finished != 6 {
		t.Fatalf("gangs started %d, tasks %+v", rep.Jobs.GangsStarted, rep.Tasks)
	}
	if rep.Roles["*"].DominantShareMean == 0 {
		t.Fatal("no share recorded")
	}
}

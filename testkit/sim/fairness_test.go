package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Progressive filling (DRF paper, section 4), case by case: one resource or
// two, roles that ask for less than their weighted share and leave the
// rest to the others, weights, and a role asking for nothing.
func TestFairShares(t *testing.T) {
	for _, c := range []struct {
		name   string
		demand [][]float64
		weight []float64
		want   []float64
	}{
		{"nobody", nil, nil, []float64{}},
		{"all want everything, equal weights", [][]float64{{1}, {1}, {1}, {1}}, []float64{1, 1, 1, 1}, []float64{0.25, 0.25, 0.25, 0.25}},
		{"weighted 3:1", [][]float64{{1}, {1}}, []float64{3, 1}, []float64{0.75, 0.25}},
		// The small role gets all it asks for; the other two share the
		// rest equally (max-min), not a third each.
		{"one asks little", [][]float64{{0.1}, {1}, {1}}, []float64{1, 1, 1}, []float64{0.1, 0.45, 0.45}},
		{"everyone satisfied", [][]float64{{0.1}, {0.2}, {0.3}}, []float64{1, 3, 2}, []float64{0.1, 0.2, 0.3}},
		// Weighted and capped: weight 3 role wants 0.3 (below 3/5), the
		// others split the remaining 0.7 as 2:1... by weight.
		{"capped heavy role", [][]float64{{0.3}, {1}, {1}}, []float64{3, 2, 1}, []float64{0.3, 0.7 * 2 / 3, 0.7 / 3}},
		{"no demand, no share", [][]float64{{0}, {1}}, []float64{1, 1}, []float64{0, 1}},
		// The DRF paper's example: 9 cpus, 18 GB; A's tasks <1 cpu, 4 GB>,
		// B's <3 cpus, 1 GB>, both unbounded. DRF gives A 3 tasks (12/18
		// of memory, dominant 2/3) and B 2 tasks (6/9 cpus, 2/3).
		{"DRF paper", [][]float64{{1.0 / 9 * 100, 4.0 / 18 * 100}, {3.0 / 9 * 100, 1.0 / 18 * 100}}, []float64{1, 1}, []float64{2.0 / 3, 2.0 / 3}},
		// Different dominant resources leave room: each gets all of its
		// own resource.
		{"disjoint resources", [][]float64{{1, 0}, {0, 1}}, []float64{1, 1}, []float64{1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := fairShares(c.demand, c.weight)
			if len(got) != len(c.want) {
				t.Fatalf("fairShares = %v, want %v", got, c.want)
			}
			for i := range got {
				if math.Abs(got[i]-c.want[i]) > 1e-9 {
					t.Fatalf("fairShares = %v, want %v", got, c.want)
				}
			}
		})
	}
}

// Max-min fairness, for random demands: no resource is over-committed; no
// role gets more than it asks for; and a role short of its demand is held
// back only by a resource that ran out, among whose users nobody has more
// per weight than it (so raising it would have to lower someone poorer).
func TestFairSharesProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 2000; trial++ {
		n, kinds := 1+rng.IntN(8), 1+rng.IntN(3)
		demand := make([][]float64, n)
		weight := make([]float64, n)
		for i := range demand {
			demand[i] = make([]float64, kinds)
			for k := range demand[i] {
				if rng.IntN(4) > 0 {
					demand[i][k] = rng.Float64() * 0.6
				}
			}
			weight[i] = float64(1 + rng.IntN(4))
		}
		share := fairShares(demand, weight)
		use := make([]float64, kinds)
		for i, d := range demand {
			dom := 0.0
			for _, v := range d {
				dom = max(dom, v)
			}
			if share[i] > dom+1e-9 || share[i] < 0 {
				t.Fatalf("trial %d: role %d share %v outside [0, demand %v]", trial, i, share[i], dom)
			}
			for k, v := range d {
				if dom > 0 {
					use[k] += share[i] * v / dom
				}
			}
		}
		for k, u := range use {
			if u > 1+1e-9 {
				t.Fatalf("trial %d: resource %d used %v > 1 (demand %v, weights %v, shares %v)", trial, k, u, demand, weight, share)
			}
		}
		for i, d := range demand {
			dom := 0.0
			for _, v := range d {
				dom = max(dom, v)
			}
			if share[i] >= dom-1e-9 {
				continue
			}
			// Short of its demand: some resource it uses ran out, and
			// every user of it holds no more per weight than i.
			blocked := false
			for k, v := range d {
				if v == 0 || use[k] < 1-1e-6 {
					continue
				}
				richest := 0.0
				for j, dj := range demand {
					if dj[k] > 0 {
						richest = max(richest, share[j]/weight[j])
					}
				}
				if richest <= share[i]/weight[i]+1e-9 {
					blocked = true
				}
			}
			if !blocked {
				t.Fatalf("trial %d: role %d holds %v of demand %v with nothing in its way (demand %v, weights %v, shares %v, use %v)",
					trial, i, share[i], dom, demand, weight, share, use)
			}
		}
	}
}

func TestShareMet(t *testing.T) {
	for _, c := range []struct{ held, fair, want float64 }{
		{0.2, 0.4, 0.5}, {0.5, 0.4, 1}, {0, 0, 1}, {0, 0.1, 0},
	} {
		if got := shareMet(c.held, c.fair); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("shareMet(%v, %v) = %v, want %v", c.held, c.fair, got, c.want)
		}
	}
}

package sim

import "math"

// Fairness against entitlement. Jain's index over weighted dominant shares
// says 1 only when every role with demand holds the same share per weight,
// so it reads low whenever a role asks for less than its weighted share:
// in the 10k scenario it read 0.457 while every role got all it asked for.
// What an operator wants to know is whether each role got what it was
// entitled to: its weighted fair share, capped at what it asks for, with
// what others leave over shared among the rest (max-min fairness). That is
// what fairShares computes and shareMet compares with.

// fairShares returns each role's demand-capped weighted fair share of the
// cluster, as a dominant share, by progressive filling (Ghodsi et al., DRF,
// NSDI 2011, section 4): every role not yet frozen holds weight × λ of the
// cluster in its own demand's proportions; λ grows until a role's share
// reaches its demand (it is frozen there) or a resource runs out (every
// role that uses it is frozen). demand[i][k] is what role i asks for of
// resource k (held plus pending) as a fraction of the cluster's total;
// weight[i] > 0. A role asking for nothing is entitled to nothing.
func fairShares(demand [][]float64, weight []float64) []float64 {
	n := len(demand)
	share := make([]float64, n)
	if n == 0 {
		return share
	}
	kinds := len(demand[0])
	dom := make([]float64, n)           // each role's demand as a dominant share
	active := make([]bool, n)           // not frozen yet
	frozenUse := make([]float64, kinds) // what frozen roles hold of each resource
	left := 0
	for i, d := range demand {
		for _, v := range d {
			dom[i] = max(dom[i], v)
		}
		if dom[i] > 0 && weight[i] > 0 {
			active[i] = true
			left++
		}
	}
	const eps = 1e-12
	// Each round freezes at least one role, so at most n rounds.
	for left > 0 {
		// rate[k]: how fast resource k is used up as λ grows.
		rate := make([]float64, kinds)
		lambda := math.Inf(1)
		for i := range demand {
			if !active[i] {
				continue
			}
			lambda = min(lambda, dom[i]/weight[i])
			for k, v := range demand[i] {
				rate[k] += weight[i] * v / dom[i]
			}
		}
		for k := range rate {
			if rate[k] > 0 {
				lambda = min(lambda, max(0, 1-frozenUse[k])/rate[k])
			}
		}
		saturated := make([]bool, kinds)
		for k := range rate {
			saturated[k] = rate[k] > 0 && frozenUse[k]+lambda*rate[k] >= 1-1e-9
		}
		for i := range demand {
			if !active[i] {
				continue
			}
			share[i] = weight[i] * lambda
			freeze := share[i] >= dom[i]-eps
			for k, v := range demand[i] {
				freeze = freeze || v > 0 && saturated[k]
			}
			if freeze {
				share[i] = min(share[i], dom[i])
				active[i] = false
				left--
				for k, v := range demand[i] {
					frozenUse[k] += share[i] * v / dom[i]
				}
			}
		}
	}
	return share
}

// shareMet is how much of its fair share a role holds, at most 1: a role
// holding more than its entitlement (others did not want the rest) counts
// as served, not as more than served. A role entitled to nothing is served.
func shareMet(held, fair float64) float64 {
	if fair <= 0 {
		return 1
	}
	return min(1, held/fair)
}

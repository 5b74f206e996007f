package allocator

// Placement decides where each framework's grants come from: which agents a
// framework is offered, in which order, and how much of one agent it gets
// in a cycle. Who is offered (quota first, then DRF) is the same in every
// policy; see the package doc for why a user picks each.
type Placement int

// Placements, registered as the policies of the same names.
const (
	// PlaceShuffled ("drf"): agents in a seeded shuffled order, each
	// agent's free resources whole to one framework per cycle (Mesos).
	PlaceShuffled Placement = iota
	// PlaceBinpack ("binpack"): fullest agents first, whole; an agent with
	// nothing allocated is opened to a framework only within its opening
	// budget (see rollBudget).
	PlaceBinpack
	// PlaceSpread ("spread"): emptiest agents first, and an agent gives at
	// most one slice (1/spreadSlices of it, see slice) per cycle.
	PlaceSpread
)

// spreadSlices: under spread an agent gives a quarter of itself per cycle,
// so the load on an agent grows by at most a quarter a cycle and a
// framework cannot put more than a quarter's worth of tasks on one agent at
// once, while a quarter (6 cpus of 24) still holds several ordinary tasks.
const spreadSlices = 4

// fillLevels is the resolution of an agent's fill (per mille) for ordering
// agents: a counting sort over it costs O(agents), 35 us at 10,000 agents,
// where a stable comparison sort took 2.7 ms, half a DRF cycle.
const fillLevels = 1000

// fill is how allocated an agent is: the mean over the kinds it has of the
// allocated fraction, in 1/fillLevels (Kubernetes' MostAllocated and
// LeastAllocated score nodes the same way). Revocable resources do not
// count: they are lent, and preempted first.
func fill(ag *agent) int {
	var sum, kinds int64
	for k, t := range ag.total.Scalars {
		if t > 0 {
			sum += (t - ag.free.Scalars[k]) * fillLevels / t
			kinds++
		}
	}
	if kinds == 0 {
		return 0
	}
	return int(sum / kinds)
}

// orderByFill returns the shuffled agents ordered by fill, fullest first for
// binpack and emptiest first for spread. The sort is stable, so agents
// equally full keep their shuffled order (nobody is always first).
func (h *Hierarchical) orderByFill() []*agent {
	n := len(h.shuffled)
	if cap(h.fillKeys) < n {
		h.fillKeys = make([]uint16, n)
		h.ordered = make([]*agent, n)
	}
	keys, out := h.fillKeys[:n], h.ordered[:n]
	var start [fillLevels + 3]int
	for i, ag := range h.shuffled {
		f := fill(ag)
		if h.placement == PlaceBinpack {
			f = fillLevels - f
			if len(ag.allocs) == 0 {
				// Strictly after every agent in use, however little:
				// clients that spent their budget are parked from
				// there on.
				f = fillLevels + 1
			}
		}
		keys[i] = uint16(f)
		start[f+1]++
	}
	for f := 1; f < len(start); f++ {
		start[f] += start[f-1]
	}
	for i, ag := range h.shuffled {
		out[start[keys[i]]] = ag
		start[keys[i]]++
	}
	return out
}

// Binpack opens new agents to a framework the way TCP's slow start opens
// its window: one in its first cycle, twice as many in each cycle after one
// in which it was given all its budget allowed and declined none of them,
// and back to one when it declines an agent that had nothing else on it.
// So a framework that keeps using new agents ramps up in a few cycles
// (1, 2, 4, ... 512: 1,023 agents in ten), and one whose tasks fit on the
// agents already in use is shown one empty agent per cycle: the others
// stay whole.

const maxOpenBudget = 1 << 30

// rollBudget starts c's count of agents opened in batch, doubling its
// budget if it was given all of it in the last batch that had empty agents
// for it.
func (c *client) rollBudget(batch uint64) {
	if c.openedIn == batch {
		return
	}
	if c.opened >= c.budget && c.budget < maxOpenBudget {
		c.budget *= 2
	}
	c.opened, c.openedIn = 0, batch
}

// mayOpen reports whether c may be given an agent with nothing allocated on
// it in this batch.
func (h *Hierarchical) mayOpen(c *client) bool {
	c.rollBudget(h.batch)
	return c.opened < c.budget
}

// declinedEmpty: c declined an agent with nothing else on it, so it did
// not need a new agent: it starts again from one.
func (c *client) declinedEmpty() { c.budget, c.opened = 1, 0 }

// returned updates the placement's books for resources c hands back on ag
// with a filter: declined, or left unused by an accept.
func (h *Hierarchical) returned(c *client, ag *agent, declined bool) {
	switch {
	case h.placement == PlaceBinpack && declined && len(ag.allocs) == 0:
		c.declinedEmpty()
	case h.placement == PlaceSpread && declined:
		c.sliceLevel = min(c.sliceLevel+1, maxSliceLevel)
	case h.placement == PlaceSpread:
		c.sliceLevel = 0
	}
}

// Spread cuts an agent into quarters, but an offer model never sees a task:
// a framework whose tasks are bigger than a quarter can only decline. So a
// framework that declines a slice is offered slices twice as large (a
// half, then whole agents), and back to quarters once it leaves part of a
// slice unused (it accepted, and its tasks fit with room to spare).

// maxSliceLevel: a slice of 1<<maxSliceLevel quarters is a whole agent.
const maxSliceLevel = 2

// slice cuts what c may be given of an agent under spread out of avail (what
// is free and within c's limits): its slice of the agent's total per kind
// and of its ports, but at least c's minimum resources (offer
// preferences). What is too small to cut into something c would accept
// goes whole.
func (h *Hierarchical) slice(c *client, total, avail Resources) Resources {
	out := avail
	for k := range out.Scalars {
		s := (total.Scalars[k]<<c.sliceLevel + spreadSlices - 1) / spreadSlices
		out.Scalars[k] = min(out.Scalars[k], max(s, c.fw.info.MinResources[k]))
	}
	if n := (total.Ports.Count()<<c.sliceLevel + spreadSlices - 1) / spreadSlices; n < avail.Ports.Count() {
		out.Ports = avail.Ports.Head(n)
	}
	if !allocatable(c.fw.minAlloc, out) {
		return avail
	}
	return out
}

// deferred reports whether binpack postpones opening ag to c until a later
// cycle (its opening budget is spent), and notes it: an agent someone was
// deferred on is not one nobody can take.
func (h *Hierarchical) deferred(c *client, ag *agent, mode int) bool {
	if mode == stageQuota || len(ag.allocs) > 0 || h.mayOpen(c) {
		return false
	}
	// Spent for every agent with nothing on it until the next batch, which
	// binpack visits last: park c out of the search for the rest of the
	// run, or each such agent would pop every spent client (a second per
	// cycle at 10,000 agents and 1,000 frameworks that decline). A client
	// its role's guarantee still needs stays, for the quota stage.
	if !h.servesGuarantee(c.role) {
		c.leaf.parked = true
	}
	h.deferredAny = true
	return true
}

// unpark puts parked nodes back into their parents' heaps (with the keys
// grants gave them meanwhile), at the end of an allocation run.
func (h *Hierarchical) unpark() {
	for i := len(h.parked) - 1; i >= 0; i-- {
		e := h.parked[i]
		e.child.parked = false
		e.parent.push(e.child)
		h.parked[i] = stashed{}
	}
	h.parked = h.parked[:0]
}

// placed records a grant to c in mode for binpack's books; open tells
// whether the agent had nothing allocated before it.
func (h *Hierarchical) placed(c *client, mode int, open bool) {
	if h.placement == PlaceBinpack && open && mode != stageQuota {
		c.opened++
	}
}

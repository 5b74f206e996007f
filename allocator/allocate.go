package allocator

import (
	"container/heap"
	"fmt"
	"time"
)

// Stages of allocating one agent.
const (
	stageQuota = iota
	stageFair
	stageRevocable
)

// Allocate implements Allocator.
func (h *Hierarchical) Allocate(now time.Time) []Grant {
	h.batch++
	if h.satedAny {
		// A new interval: clients granted their demand in the last one
		// may be offered agents that nobody could take then.
		h.satedAny = false
		h.version++
	}
	h.expireFilters(now)
	if h.sharesDirty {
		h.resort()
	}
	h.shuffleAgents()
	agents := h.shuffled
	if h.placement != PlaceShuffled {
		agents = h.orderByFill()
	}
	h.buildQuotaHeap()
	// At most one grant per agent with free resources, bar the rare split
	// (quota, fair, revocable): sizing once saves regrowth, which was 40 %
	// of granting. Sized at the first grant: a run that grants nothing
	// (no framework wants anything, as after every teardown) allocates
	// nothing.
	grants := h.spare[:0]
	h.spare = nil
	for _, ag := range agents {
		grants = h.allocateAgent(ag, grants)
		if len(grants) > 0 && cap(grants) < h.agentsWithFree+h.reservations+1 {
			sized := make([]Grant, len(grants), h.agentsWithFree+h.reservations+1)
			copy(sized, grants)
			grants = sized
		}
	}
	h.unpark()
	return grants
}

// Recycle gives back the grants an Allocate returned, once the caller is
// done with them (the allocator actor, once it encoded them for the
// master): the next Allocate fills them again. At 1,000 agents a new
// framework's grants are ~190 KB, a sixth of what its first offer
// allocates in all (BenchmarkFirstOffer); the garbage collector, which
// bounds that benchmark's p99, runs less often without them. The caller
// must not use grants afterwards.
func (h *Hierarchical) Recycle(grants []Grant) {
	if cap(grants) > cap(h.spare) {
		clear(grants[:cap(grants)]) // what they name may be gone by the next run
		h.spare = grants[:0]
	}
}

// AllocateAgent implements Allocator.
func (h *Hierarchical) AllocateAgent(agentID string, now time.Time) []Grant {
	ag, ok := h.agents[agentID]
	if !ok {
		return nil
	}
	if h.sharesDirty {
		h.resort()
	}
	h.buildQuotaHeap()
	grants := h.allocateAgent(ag, nil)
	h.unpark()
	return grants
}

// shuffleBlock agents are visited in a row. Agents are shuffled every cycle
// so that no agent is always first (as in Mesos), but block by block: a
// full shuffle makes every visit a cache miss and costs a quarter of a
// cycle at 10,000 agents.
const shuffleBlock = 32

func (h *Hierarchical) shuffleAgents() {
	n := len(h.agentList)
	blocks := (n + shuffleBlock - 1) / shuffleBlock
	h.blockOrder = h.blockOrder[:0]
	for b := 0; b < blocks; b++ {
		h.blockOrder = append(h.blockOrder, b)
	}
	h.rng.Shuffle(blocks, func(i, j int) { h.blockOrder[i], h.blockOrder[j] = h.blockOrder[j], h.blockOrder[i] })
	h.shuffled = h.shuffled[:0]
	for _, b := range h.blockOrder {
		h.shuffled = append(h.shuffled, h.agentList[b*shuffleBlock:min(n, (b+1)*shuffleBlock)]...)
	}
}

func (h *Hierarchical) allocateAgent(ag *agent, grants []Grant) []Grant {
	if ag.inactive {
		return grants
	}
	if len(ag.resv) > 0 {
		grants = h.allocateReserved(ag, grants)
	}
	if ag.dead && ag.deadGlobal == h.version && ag.deadLocal == ag.version && !h.noDeadCache {
		return grants // nothing changed since nobody could take it
	}
	if ag.free.IsEmpty() && ag.revFree.IsEmpty() {
		return grants
	}
	n := len(grants)
	for {
		// Parked clients are put off from every agent with nothing on it.
		h.deferredAny = len(h.parked) > 0 && len(ag.allocs) == 0
		grants = h.quotaStage(ag, grants)
		if len(grants) == n || h.placement != PlaceSpread { // spread: one slice a pass
			grants = h.stage(ag, stageFair, grants)
		}
		if !ag.revFree.IsEmpty() {
			grants = h.stage(ag, stageRevocable, grants)
		}
		// Nobody eligible took it: end the agent's rotation round, and if
		// that let anyone back, search once more. Those the placement put
		// off to a later cycle do not hold the round open: one that is
		// always put off (it keeps opening another agent first) would
		// keep a decliner filtered for ever.
		if len(grants) > n || !h.endRound(ag) {
			break
		}
	}
	ag.dead = len(grants) == n && !h.deferredAny
	ag.deadGlobal, ag.deadLocal = h.version, ag.version
	return grants
}

// stage offers the agent to the first eligible client of the whole tree.
func (h *Hierarchical) stage(ag *agent, mode int, grants []Grant) []Grant {
	if mode == stageFair && ag.free.IsEmpty() || mode == stageRevocable && ag.revFree.IsEmpty() {
		return grants
	}
	c := h.search(h.root, ag, mode)
	if c != nil {
		asRev := mode == stageFair && c.fw.info.Revocable && h.beyondRevocablePoint(c.role)
		open := len(ag.allocs) == 0
		grants = h.grant(c, ag, h.cand, h.candRev, asRev, grants)
		h.placed(c, mode, open)
		ag.takeTurn(c)
	}
	h.restore(0)
	return grants
}

// search pops n's children in order until one holds a client eligible for
// ag. Popped nodes stay on h.stash until restore, so that the grant updates
// their keys before they go back.
func (h *Hierarchical) search(n *node, ag *agent, mode int) *client {
	for len(n.heap) > 0 {
		c := n.pop()
		h.stash = append(h.stash, stashed{parent: n, child: c})
		if c.client != nil {
			if h.eligible(c.client, ag, mode) {
				return c.client
			}
			continue
		}
		if found := h.search(c, ag, mode); found != nil {
			return found
		}
	}
	return nil
}

func (h *Hierarchical) restore(mark int) {
	for i := len(h.stash) - 1; i >= mark; i-- {
		e := h.stash[i]
		h.stash[i] = stashed{}
		// Deeper nodes come back first, so a role whose every child was
		// parked comes back empty: park it too.
		if e.child.parked || e.child.client == nil && len(e.child.heap) == 0 {
			e.child.parked = true
			h.parked = append(h.parked, e)
			continue
		}
		e.parent.push(e.child)
	}
	h.stash = h.stash[:mark]
}

// eligible decides whether c may be offered ag in this stage, and if so
// leaves what it would get in h.cand and h.candRev.
func (h *Hierarchical) eligible(c *client, ag *agent, mode int) bool {
	if mode == stageReserved {
		return h.eligibleReserved(c, ag)
	}
	// The agent's own index, not the client's: one allocation asks of one
	// agent whether each client filtered it, and the agent's map (a
	// filter per framework role at most) stays in cache over that loop,
	// where each client's (a filter per agent it declined, 10,000 after
	// an hour of declines) cost a cache miss: 11 % of a 10,000-agent
	// master's CPU while 50 frameworks declined every agent.
	f := ag.filters[c]
	if f != nil && f.declined() { // the whole agent
		return false
	}
	if mode != stageQuota && ag.inRound > 0 && ag.hadTurn(c) {
		return false // guarantees come before rotation
	}
	if h.sated(c) {
		return false
	}
	fw := c.fw
	if !satisfies(fw.info.Constraints, ag.attrs) {
		return false
	}
	if mode == stageRevocable {
		if !fw.info.Revocable || f != nil && f.holds(ag.revFree.Scalars, true) {
			return false
		}
		rev := ag.revFree
		if h.placement == PlaceSpread {
			rev = h.slice(c, ag.revTotal, rev)
		}
		if !allocatable(fw.minAlloc, rev) || h.placement == PlaceBinpack && h.deferred(c, ag, mode) {
			return false
		}
		h.cand, h.candRev = Resources{}, rev
		return true
	}
	if f != nil && f.holds(ag.free.Scalars, false) {
		return false
	}
	cand := Resources{Scalars: h.capToLimits(c.role, ag.free.Scalars), Ports: ag.free.Ports}
	if h.placement == PlaceSpread {
		cand = h.slice(c, ag.total, cand)
	}
	g := cand.Scalars
	if !allocatable(fw.minAlloc, cand) || !g.Contains(fw.info.MinResources) {
		return false
	}
	if mode == stageFair && !h.required.IsZero() && !h.servesGuarantee(c.role) {
		// Keep enough free for the unmet guarantees of roles with demand.
		for k, req := range h.required {
			if req > 0 && g[k] > 0 && h.free[k]-g[k] < req {
				return false
			}
		}
	}
	if h.placement == PlaceBinpack && h.deferred(c, ag, mode) {
		return false
	}
	h.cand, h.candRev = cand, Resources{}
	return true
}

func satisfies(cs []Constraint, attrs map[string]string) bool {
	for _, c := range cs {
		v, ok := attrs[c.Name]
		if !ok {
			return false
		}
		match := false
		for _, want := range c.Values {
			if v == want {
				match = true
				break
			}
		}
		if !match {
			return false
		}
	}
	return true
}

// allocatable reports whether r is worth offering to a framework whose
// minimums are mins, as Mesos decides it: never when r is empty; when mins
// is empty (set, to nothing), whatever r holds; otherwise when r holds one
// of them.
func allocatable(mins []Scalars, r Resources) bool {
	if r.IsEmpty() {
		return false
	}
	if len(mins) == 0 {
		return true
	}
	for _, m := range mins {
		if r.Scalars.Contains(m) {
			return true
		}
	}
	return false
}

// capToLimits bounds s by the room left under the limits of role and its
// ancestors.
func (h *Hierarchical) capToLimits(role *node, s Scalars) Scalars {
	for n := role; n != nil; n = n.parent {
		if !n.hasLimit {
			continue
		}
		for k, lim := range n.quota.Limit {
			if lim != Unlimited {
				s[k] = min(s[k], max(0, lim-n.alloc[k]))
			}
		}
	}
	return s
}

// servesGuarantee reports whether role or an ancestor is below its
// guarantee, so that allocating to it is what the headroom is kept for.
func (h *Hierarchical) servesGuarantee(role *node) bool {
	for n := role; n != nil; n = n.parent {
		if n.hasQuota && !unmet(n).IsZero() {
			return true
		}
	}
	return false
}

// beyondRevocablePoint reports whether what role is given now is offered
// as revocable (Options.RevocableAbove).
func (h *Hierarchical) beyondRevocablePoint(role *node) bool {
	switch h.opts.RevocableAbove {
	case RevocableAboveGuarantee:
		return !h.servesGuarantee(role)
	case RevocableAboveFairShare:
		return h.dominantShare(role) >= h.fairShare(role)
	}
	return false
}

// dominantShare is a role's unweighted dominant share of the cluster.
func (h *Hierarchical) dominantShare(n *node) float64 {
	s := 0.0
	for k, a := range n.alloc {
		if h.excluded[k] || h.total[k] <= 0 {
			continue
		}
		s = max(s, float64(a)/float64(h.total[k]))
	}
	return s
}

// fairShare is a role's weighted share of the cluster among the roles with
// demand, level by level down the role tree.
func (h *Hierarchical) fairShare(n *node) float64 {
	f := 1.0
	for ; n.parent != nil; n = n.parent {
		sum := 0.0
		for _, sib := range n.parent.children {
			if sib.active > 0 || sib == n {
				sum += sib.weight
			}
		}
		f *= n.weight / sum
	}
	return f
}

func (h *Hierarchical) grant(c *client, ag *agent, r, rev Resources, asRev bool, grants []Grant) []Grant {
	ag.free = ag.free.Sub(r)
	ag.revFree = ag.revFree.Sub(rev)
	if ag.free.IsEmpty() && ag.revFree.IsEmpty() {
		h.agentsWithFree--
	}
	found := false
	for i := range ag.allocs {
		if ag.allocs[i].c == c && ag.allocs[i].pool == nil {
			ag.allocs[i].r = ag.allocs[i].r.Add(r)
			ag.allocs[i].rev = ag.allocs[i].rev.Add(rev)
			found = true
			break
		}
	}
	if !found {
		ag.allocs = append(ag.allocs, agentAlloc{c: c, r: r, rev: rev})
	}
	h.free = h.free.Sub(r.Scalars)
	h.adjust(c, r.Scalars, true)
	h.count(c, r.Scalars.Add(rev.Scalars))
	return append(grants, Grant{FrameworkID: c.fw.id, Role: c.role.name, AgentID: ag.id, Resources: r, Revocable: rev, Incarnation: ag.incarnation, AsRevocable: asRev})
}

// adjust adds (or removes) s to the allocation of c and its roles, keeping
// keys, heap positions and headroom current.
func (h *Hierarchical) adjust(c *client, s Scalars, add bool) {
	for n := c.leaf; n != nil; n = n.parent {
		var before Scalars
		tracked := n.hasQuota && n.active > 0
		if tracked {
			before = unmet(n)
		}
		if add {
			n.alloc = n.alloc.Add(s)
			n.allocs++
		} else {
			n.alloc = n.alloc.Sub(s)
		}
		if tracked {
			if after := unmet(n); after != before {
				h.required = h.required.Sub(before).Add(after)
				h.version++
			}
		}
		if n.hasLimit && !add {
			h.version++ // room under a limit may make agents eligible again
		}
		if n.qidx >= 0 {
			heap.Fix((*quotaHeap)(&h.quotaHeap), n.qidx)
		}
		if n.parent != nil {
			h.computeShare(n)
			n.fix()
		}
	}
}

func (h *Hierarchical) unallocate(c *client, s Scalars) { h.adjust(c, s, false) }

func (h *Hierarchical) returnToAgent(ag *agent, r, rev Resources) {
	if ag.free.IsEmpty() && ag.revFree.IsEmpty() && !(r.IsEmpty() && rev.IsEmpty()) {
		h.agentsWithFree++
	}
	ag.free = ag.free.Add(r)
	ag.revFree = ag.revFree.Add(rev)
	h.free = h.free.Add(r.Scalars)
	ag.version++
	if !h.required.IsZero() {
		// Headroom is counted over the whole cluster's free resources:
		// more free here may let other agents be granted.
		h.version++
	}
}

// grantee is the framework's role and the agent a return names; an error
// names whichever is unknown.
func (h *Hierarchical) grantee(frameworkID, role, agentID string) (*client, *agent, error) {
	c, err := h.clientOf(frameworkID, role)
	if err != nil {
		return nil, nil, err
	}
	ag, ok := h.agents[agentID]
	if !ok {
		return nil, nil, errUnknownAgent(agentID)
	}
	return c, ag, nil
}

// Recover implements Allocator.
func (h *Hierarchical) Recover(frameworkID, role, agentID string, r, rev Resources) error {
	c, ag, err := h.grantee(frameworkID, role, agentID)
	if err != nil {
		return err
	}
	return h.recoverFrom(c, ag, "", r, rev)
}

// recoverFrom recovers from the unreserved pool, or from the reservation
// for role reservation when it is not empty.
func (h *Hierarchical) recoverFrom(c *client, ag *agent, reservation string, r, rev Resources) error {
	if reservation == "" {
		return h.recover(c, ag, r, rev)
	}
	if !rev.IsEmpty() {
		return fmt.Errorf("%w: revocable resources cannot be reserved", ErrInvalid)
	}
	p := ag.pool(reservation)
	if p == nil {
		return fmt.Errorf("framework %s on agent %s: recover %s reserved for %s: %w", c.fw.id, ag.id, r, reservation, ErrNotAllocated)
	}
	return h.recoverReserved(c, ag, p, r)
}

func (h *Hierarchical) recover(c *client, ag *agent, r, rev Resources) error {
	for k := range r.Scalars {
		if r.Scalars[k] < 0 || rev.Scalars[k] < 0 {
			return fmt.Errorf("%w: negative %s in recovered resources", ErrInvalid, Kind(k))
		}
	}
	for i := range ag.allocs {
		al := &ag.allocs[i]
		if al.c != c || al.pool != nil {
			continue
		}
		if !al.r.Contains(r) || !al.rev.Contains(rev) {
			break
		}
		al.r, al.rev = al.r.Sub(r), al.rev.Sub(rev)
		if al.r.IsEmpty() && al.rev.IsEmpty() {
			ag.allocs = append(ag.allocs[:i], ag.allocs[i+1:]...)
		}
		h.returnToAgent(ag, r, rev)
		h.unallocate(c, r.Scalars)
		return nil
	}
	return fmt.Errorf("framework %s on agent %s: recover %s: %w", c.fw.id, ag.id, r, ErrNotAllocated)
}

func errUnknownAgent(id string) error { return fmt.Errorf("agent %s: %w", id, ErrUnknownAgent) }

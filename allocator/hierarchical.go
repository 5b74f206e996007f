package allocator

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
)

// Hierarchical is the two-stage hierarchical allocator behind every policy
// ("drf", "binpack", "spread"); they differ in their Placement. See the
// package doc for its rules.
type Hierarchical struct {
	opts      Options
	placement Placement
	minAlloc  []Scalars
	excluded  [NumKinds]bool
	rng       *rand.Rand

	agents     map[string]*agent
	agentList  []*agent
	frameworks map[string]*framework
	root       *node
	roles      map[string]*node

	total    Scalars // non-revocable, all agents
	free     Scalars // non-revocable, unallocated
	required Scalars // headroom for unmet guarantees of roles with demand
	// agentsWithFree counts agents with free (or free revocable) resources.
	agentsWithFree int
	// reservations counts the pools of every agent (each may make a grant
	// of its own in a cycle).
	reservations int
	sharesDirty  bool

	batch   uint64 // batch cycles run
	version uint64 // bumped when anything may make a framework newly eligible
	filters filterHeap
	waiting []*filter // expired filters that must survive one more batch

	// noDeadCache disables the skip of agents nobody could take; the
	// property tests compare against it as the reference.
	noDeadCache bool

	stash      []stashed // nodes popped during a search, pushed back after
	parked     []stashed // nodes out of their heaps until the run ends
	cand       Resources // what the client found by a search would get
	candRev    Resources
	shuffled   []*agent
	blockOrder []int
	quotaHeap  []*node
	ordered    []*agent // agents by fill (binpack, spread)
	fillKeys   []uint16
	// deferredAny: in this pass the placement put someone eligible off to
	// a later cycle, so the agent is not one nobody can take.
	deferredAny bool
	// satedAny: a client was put off for having been granted its demand
	// in this batch interval (demand.go); the next batch lets it back.
	satedAny bool
	// spare is a grants slice its caller is done with (Recycle), which
	// the next Allocate fills instead of making one.
	spare []Grant
}

type agent struct {
	id       string
	idx      int
	total    Resources
	free     Resources
	revTotal Resources
	revFree  Resources
	attrs    map[string]string
	allocs   []agentAlloc
	filters  map[*client]*filter
	round    uint64 // rotation round, see filters.go
	// inRound counts the decline filters of the current round: while
	// there are any, the round is open and turns are kept.
	inRound int
	// turns: the clients offered the agent (outside quota) since the
	// round opened; each is held off it until the round ends.
	turns       []turn
	version     uint64 // bumped when its free resources or filters change
	deadGlobal  uint64 // nobody was eligible at (Hierarchical.version, version)
	deadLocal   uint64
	dead        bool
	incarnation uint64
	// inactive: offered to nobody (drained by an operator); its free
	// resources still count in the cluster's totals, as in Mesos.
	inactive bool
	// resv holds the agent's reservations, one pool per role; total and
	// free above are its unreserved resources only.
	resv []*resvPool
}

type agentAlloc struct {
	c   *client
	r   Resources
	rev Resources
	// pool is the reservation r was taken from (nil: unreserved).
	pool *resvPool
}

type framework struct {
	id       string
	info     Framework
	active   bool
	minAlloc []Scalars
	clients  map[string]*client
}

type client struct {
	fw         *framework
	role       *node
	leaf       *node
	suppressed bool
	// filters are the client's filters in force, each also in its agent's
	// filters (by client), which is what an allocation reads.
	filters []*filter
	// gen is bumped by Revive, which ends the client's turns: a turn
	// records the gen it was taken in.
	gen uint64

	// Binpack: agents with nothing allocated it may be given per batch
	// (budget), and how many it was given in batch openedIn.
	budget, opened int
	openedIn       uint64
	// Spread: the size of its slices (a quarter of an agent << sliceLevel).
	sliceLevel uint

	// Demand (SetDemand): what it waits for, and what it was granted in
	// the batch interval that started with batch grantedIn.
	want      Scalars
	hasWant   bool
	granted   Scalars
	grantedIn uint64
}

type turn struct {
	c   *client
	gen uint64
}

type stashed struct{ parent, child *node }

// NewHierarchical returns an empty allocator with the given placement.
func NewHierarchical(opts Options, p Placement) *Hierarchical {
	h := &Hierarchical{
		opts:       opts,
		placement:  p,
		minAlloc:   opts.MinAllocatable,
		rng:        rand.New(rand.NewSource(opts.Seed)),
		agents:     map[string]*agent{},
		frameworks: map[string]*framework{},
		roles:      map[string]*node{},
	}
	if h.minAlloc == nil {
		h.minAlloc = DefaultMinAllocatable()
	}
	for _, k := range opts.ExcludedFromShare {
		h.excluded[k] = true
	}
	h.root = newNode("", nil)
	h.roles[""] = h.root
	return h
}

func validRole(role string) error {
	if role == "" || strings.HasPrefix(role, "/") || strings.HasSuffix(role, "/") || strings.Contains(role, "//") ||
		strings.ContainsAny(role, " \t\n") || role == "." || role == ".." {
		return fmt.Errorf("%w: role %q: want names separated by /, such as eng/ml", ErrInvalid, role)
	}
	return nil
}

// roleNode returns the node of role, creating it and its ancestors.
func (h *Hierarchical) roleNode(role string) *node {
	if n, ok := h.roles[role]; ok {
		return n
	}
	parent := h.root
	if i := strings.LastIndexByte(role, '/'); i >= 0 {
		parent = h.roleNode(role[:i])
	}
	n := newNode(role, parent)
	parent.children[role] = n
	h.roles[role] = n
	return n
}

// AddAgent implements Allocator.
func (h *Hierarchical) AddAgent(a Agent) error {
	if a.ID == "" {
		return fmt.Errorf("%w: agent without ID", ErrInvalid)
	}
	if _, ok := h.agents[a.ID]; ok {
		return fmt.Errorf("agent %s: %w", a.ID, ErrExists)
	}
	for k := range a.Total.Scalars {
		if a.Total.Scalars[k] < 0 || a.Revocable.Scalars[k] < 0 {
			return fmt.Errorf("%w: agent %s has negative %s", ErrInvalid, a.ID, Kind(k))
		}
	}
	for role := range a.Reserved {
		if err := validRole(role); err != nil {
			return fmt.Errorf("agent %s: reservation: %w", a.ID, err)
		}
	}
	clients := make([]*client, len(a.Allocated))
	used := Resources{}
	usedResv := map[string]Resources{}
	for i, g := range a.Allocated {
		c, err := h.clientOf(g.FrameworkID, g.Role)
		if err != nil {
			return fmt.Errorf("agent %s: allocation: %w", a.ID, err)
		}
		clients[i] = c
		if g.Reservation == "" {
			used = used.Add(g.Resources)
			continue
		}
		if !AllocatableTo(g.Reservation, g.Role) {
			return fmt.Errorf("%w: agent %s: role %s uses resources reserved for %s, neither it nor an ancestor", ErrInvalid, a.ID, g.Role, g.Reservation)
		}
		usedResv[g.Reservation] = usedResv[g.Reservation].Add(g.Resources)
	}
	if !a.Total.Contains(used) {
		return fmt.Errorf("%w: agent %s: allocated %s exceeds total %s", ErrInvalid, a.ID, used, a.Total)
	}
	for role, u := range usedResv {
		if !a.Reserved[role].Contains(u) {
			return fmt.Errorf("%w: agent %s: allocated %s exceeds what is reserved for %s (%s)", ErrInvalid, a.ID, u, role, a.Reserved[role])
		}
	}
	ag := &agent{
		id: a.ID, idx: len(h.agentList),
		total: a.Total, free: a.Total, revTotal: a.Revocable, revFree: a.Revocable,
		attrs: a.Attributes, filters: map[*client]*filter{}, incarnation: a.Incarnation,
	}
	for _, role := range sortedRoles(a.Reserved) {
		if r := a.Reserved[role]; !r.IsEmpty() {
			ag.resv = append(ag.resv, &resvPool{role: role, node: h.roleNode(role), total: r, free: r})
			h.reservations++
			h.adjustResvFree(ag.resv[len(ag.resv)-1].node, r.Scalars, true)
			h.total = h.total.Add(r.Scalars)
		}
	}
	h.agents[a.ID] = ag
	h.agentList = append(h.agentList, ag)
	h.total = h.total.Add(a.Total.Scalars)
	h.free = h.free.Add(a.Total.Scalars)
	h.version++ // more free resources cluster-wide loosen headroom for every agent
	if !(a.Total.IsEmpty() && a.Revocable.IsEmpty()) {
		h.agentsWithFree++
	}
	for i, g := range a.Allocated {
		if g.Reservation != "" {
			h.grantReserved(clients[i], ag, ag.pool(g.Reservation), g.Resources, nil)
			continue
		}
		h.grant(clients[i], ag, g.Resources, g.Revocable, g.AsRevocable, nil)
	}
	h.sharesDirty = true
	return nil
}

// RemoveAgent implements Allocator.
func (h *Hierarchical) RemoveAgent(id string) error {
	ag, ok := h.agents[id]
	if !ok {
		return fmt.Errorf("agent %s: %w", id, ErrUnknownAgent)
	}
	for _, al := range ag.allocs {
		h.unallocate(al.c, al.r.Scalars)
	}
	for c, f := range ag.filters {
		c.forget(f)
		f.dropped = true
	}
	h.total = h.total.Sub(ag.total.Scalars)
	for _, p := range ag.resv {
		h.total = h.total.Sub(p.total.Scalars)
		h.adjustResvFree(p.node, p.free.Scalars, false)
	}
	h.reservations -= len(ag.resv)
	h.free = h.free.Sub(ag.free.Scalars)
	if !(ag.free.IsEmpty() && ag.revFree.IsEmpty()) {
		h.agentsWithFree--
	}
	last := h.agentList[len(h.agentList)-1]
	h.agentList[ag.idx], last.idx = last, ag.idx
	h.agentList = h.agentList[:len(h.agentList)-1]
	delete(h.agents, id)
	h.sharesDirty = true
	h.version++
	return nil
}

// DeactivateAgent implements Allocator.
func (h *Hierarchical) DeactivateAgent(id string) error { return h.setAgentActive(id, false) }

// ActivateAgent implements Allocator.
func (h *Hierarchical) ActivateAgent(id string) error { return h.setAgentActive(id, true) }

func (h *Hierarchical) setAgentActive(id string, active bool) error {
	ag, ok := h.agents[id]
	if !ok {
		return errUnknownAgent(id)
	}
	if ag.inactive == !active {
		return nil
	}
	ag.inactive = !active
	ag.version++ // the dead-agent cache must not skip it once it is back
	return nil
}

// AddFramework implements Allocator.
func (h *Hierarchical) AddFramework(f Framework) error {
	if f.ID == "" || len(f.Roles) == 0 {
		return fmt.Errorf("%w: a framework needs an ID and at least one role", ErrInvalid)
	}
	if _, ok := h.frameworks[f.ID]; ok {
		return fmt.Errorf("framework %s: %w", f.ID, ErrExists)
	}
	for _, r := range f.Roles {
		if err := validRole(r); err != nil {
			return err
		}
	}
	fw := &framework{id: f.ID, info: f, active: true, minAlloc: f.MinAllocatable, clients: map[string]*client{}}
	if fw.minAlloc == nil {
		fw.minAlloc = h.minAlloc
	}
	h.frameworks[f.ID] = fw
	for _, r := range f.Roles {
		if _, dup := fw.clients[r]; dup {
			continue
		}
		role := h.roleNode(r)
		c := &client{fw: fw, role: role, budget: 1}
		c.leaf = newNode(f.ID, role)
		c.leaf.client = c
		h.computeShare(c.leaf)
		fw.clients[r] = c
		h.setActive(c, true)
	}
	h.version++
	return nil
}

// RemoveFramework implements Allocator.
func (h *Hierarchical) RemoveFramework(id string) error {
	fw, ok := h.frameworks[id]
	if !ok {
		return fmt.Errorf("framework %s: %w", id, ErrUnknownFramework)
	}
	for _, ag := range h.agentList {
		for i := 0; i < len(ag.allocs); i++ {
			if al := ag.allocs[i]; al.c.fw == fw {
				if al.pool != nil {
					al.pool.free = al.pool.free.Add(al.r)
					h.adjustResvFree(al.pool.node, al.r.Scalars, true)
					ag.version++
				} else {
					h.returnToAgent(ag, al.r, al.rev)
				}
				h.unallocate(al.c, al.r.Scalars)
				ag.allocs = append(ag.allocs[:i], ag.allocs[i+1:]...)
				i--
			}
		}
		ag.turns = slices.DeleteFunc(ag.turns, func(t turn) bool { return t.c.fw == fw })
	}
	for _, c := range fw.clients {
		if fw.active && !c.suppressed {
			h.setActive(c, false)
		}
		h.clearFilters(c)
	}
	delete(h.frameworks, id)
	h.version++
	return nil
}

// DeactivateFramework implements Allocator.
func (h *Hierarchical) DeactivateFramework(id string) error { return h.setFrameworkActive(id, false) }

// ActivateFramework implements Allocator.
func (h *Hierarchical) ActivateFramework(id string) error { return h.setFrameworkActive(id, true) }

func (h *Hierarchical) setFrameworkActive(id string, active bool) error {
	fw, ok := h.frameworks[id]
	if !ok {
		return fmt.Errorf("framework %s: %w", id, ErrUnknownFramework)
	}
	if fw.active == active {
		return nil
	}
	for _, c := range fw.clients {
		if !c.suppressed {
			h.setActive(c, active)
		}
	}
	fw.active = active
	h.version++
	return nil
}

// setActive adds or removes a client from the candidates, keeping the
// headroom for guarantees of roles with demand in step.
func (h *Hierarchical) setActive(c *client, active bool) {
	delta := -1
	if active {
		delta = 1
	}
	h.forQuotaPath(c.role, func(n *node) {
		if n.active == 0 && active {
			h.required = h.required.Add(unmet(n))
		} else if n.active == 1 && !active {
			h.required = h.required.Sub(unmet(n))
		}
	})
	if active {
		// Keys of inactive nodes are not kept current; refresh the path.
		for n := c.leaf; n != nil; n = n.parent {
			old := n.share
			h.computeShare(n)
			if n.share != old {
				n.fix()
			}
		}
	}
	c.leaf.addActive(delta)
	// Candidates or headroom changed: agents nobody could take may now be
	// takeable.
	h.version++
}

func (h *Hierarchical) forQuotaPath(n *node, f func(*node)) {
	for ; n != nil; n = n.parent {
		if n.hasQuota {
			f(n)
		}
	}
}

// unmet is what a role still lacks to reach its guarantee. Its
// unallocated reservations count as held (Mesos' quota consumption), so no
// headroom is kept back for what is already set aside for it.
func unmet(n *node) Scalars {
	var u Scalars
	for k := range u {
		u[k] = max(0, n.quota.Guarantee[k]-n.alloc[k]-n.resvFree[k])
	}
	return u
}

func (h *Hierarchical) clientOf(frameworkID, role string) (*client, error) {
	fw, ok := h.frameworks[frameworkID]
	if !ok {
		return nil, fmt.Errorf("framework %s: %w", frameworkID, ErrUnknownFramework)
	}
	c, ok := fw.clients[role]
	if !ok {
		return nil, fmt.Errorf("framework %s, role %q: %w", frameworkID, role, ErrUnknownRole)
	}
	return c, nil
}

func (h *Hierarchical) clientsOf(frameworkID string, roles []string) ([]*client, error) {
	fw, ok := h.frameworks[frameworkID]
	if !ok {
		return nil, fmt.Errorf("framework %s: %w", frameworkID, ErrUnknownFramework)
	}
	if len(roles) == 0 {
		out := make([]*client, 0, len(fw.clients))
		for _, c := range fw.clients {
			out = append(out, c)
		}
		return out, nil
	}
	out := make([]*client, 0, len(roles))
	for _, r := range roles {
		c, err := h.clientOf(frameworkID, r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Suppress implements Allocator.
func (h *Hierarchical) Suppress(frameworkID string, roles ...string) error {
	cs, err := h.clientsOf(frameworkID, roles)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if !c.suppressed {
			c.suppressed = true
			if c.fw.active {
				h.setActive(c, false)
			}
		}
	}
	return nil
}

// Revive implements Allocator.
func (h *Hierarchical) Revive(frameworkID string, roles ...string) error {
	cs, err := h.clientsOf(frameworkID, roles)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.suppressed {
			c.suppressed = false
			if c.fw.active {
				h.setActive(c, true)
			}
		}
		h.clearFilters(c)
		c.gen++ // its turns end too: it asks for offers again now
	}
	h.version++
	return nil
}

// SetWeight implements Allocator.
func (h *Hierarchical) SetWeight(role string, weight float64) error {
	if err := validRole(role); err != nil {
		return err
	}
	if !(weight > 0) || weight > 1e9 {
		return fmt.Errorf("%w: weight %v for role %s: want a positive number", ErrInvalid, weight, role)
	}
	h.roleNode(role).weight = weight
	h.sharesDirty = true
	return nil
}

// SetQuota implements Allocator.
func (h *Hierarchical) SetQuota(role string, q Quota) error {
	if err := validRole(role); err != nil {
		return err
	}
	for k := range q.Guarantee {
		if q.Guarantee[k] < 0 || q.Limit[k] < 0 || q.Guarantee[k] > q.Limit[k] {
			return fmt.Errorf("%w: quota for %s: %s guarantee %d and limit %d must satisfy 0 <= guarantee <= limit", ErrInvalid, role, Kind(k), q.Guarantee[k], q.Limit[k])
		}
	}
	n := h.roleNode(role)
	n.quota = q
	n.hasLimit = false
	for k := range q.Limit {
		if q.Limit[k] != Unlimited {
			n.hasLimit = true
		}
	}
	n.hasQuota = n.hasLimit || !q.Guarantee.IsZero()
	h.recomputeRequired()
	h.version++
	return nil
}

func (h *Hierarchical) recomputeRequired() {
	h.required = Scalars{}
	for _, n := range h.roles {
		if n.hasQuota && n.active > 0 {
			h.required = h.required.Add(unmet(n))
		}
	}
}

// computeShare sets n's sort key from its allocation.
func (h *Hierarchical) computeShare(n *node) {
	s := 0.0
	for k, a := range n.alloc {
		if h.excluded[k] || h.total[k] <= 0 {
			continue
		}
		if v := float64(a) / float64(h.total[k]); v > s {
			s = v
		}
	}
	n.share = s / n.weight
}

// resort recomputes every key (after totals or weights changed) and
// rebuilds every heap.
func (h *Hierarchical) resort() {
	var walk func(n *node)
	walk = func(n *node) {
		h.computeShare(n)
		for _, c := range n.heap {
			walk(c)
		}
		n.heapify()
	}
	walk(h.root)
	h.sharesDirty = false
}

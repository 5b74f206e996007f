package allocator

// The role tree. Internal nodes are roles ("eng", "eng/ml"); leaves are
// clients, a framework subscribed to one role. Each node keeps its active
// children (those with an active client below) in a binary min-heap ordered
// by the policy, so the next candidate is found in O(log n) and an
// allocation re-sorts only the nodes on its path.

type node struct {
	name   string
	parent *node
	client *client // non-nil for a leaf

	children map[string]*node // sub-roles by full name (roles only)
	weight   float64
	quota    Quota
	hasQuota bool // a guarantee or a limit is set
	hasLimit bool

	alloc Scalars // allocated in the subtree, non-revocable
	// resvFree is what is reserved for the subtree's roles and not
	// allocated: it counts towards the guarantee (unmet).
	resvFree Scalars
	share    float64 // weighted dominant share
	allocs   uint64  // allocations in the subtree (DRF tie-break)

	heap   []*node // active children
	hidx   int     // index in parent.heap, -1 when absent (inactive or popped)
	parked bool    // out of parent.heap until the allocation run ends (binpack)
	qidx   int     // index in the quota heap, -1 when absent
	active int     // active clients in the subtree
}

func newNode(name string, parent *node) *node {
	return &node{name: name, parent: parent, weight: 1, hidx: -1, qidx: -1, children: map[string]*node{}}
}

// less orders siblings: lower share first, then fewer allocations, then name.
func less(a, b *node) bool {
	if a.share != b.share {
		return a.share < b.share
	}
	if a.allocs != b.allocs {
		return a.allocs < b.allocs
	}
	return a.name < b.name
}

func heapUp(h []*node, i int) {
	n := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !less(n, h[p]) {
			break
		}
		h[i] = h[p]
		h[i].hidx = i
		i = p
	}
	h[i] = n
	n.hidx = i
}

func heapDown(h []*node, i int) {
	n := h[i]
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		c := l
		if r := l + 1; r < len(h) && less(h[r], h[l]) {
			c = r
		}
		if !less(h[c], n) {
			break
		}
		h[i] = h[c]
		h[i].hidx = i
		i = c
	}
	h[i] = n
	n.hidx = i
}

func (p *node) push(c *node) {
	p.heap = append(p.heap, c)
	heapUp(p.heap, len(p.heap)-1)
}

func (p *node) pop() *node {
	h := p.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[0].hidx = 0
	h[last] = nil
	p.heap = h[:last]
	if last > 0 {
		heapDown(p.heap, 0)
	}
	top.hidx = -1
	return top
}

func (p *node) remove(c *node) {
	i := c.hidx
	h := p.heap
	last := len(h) - 1
	if i != last {
		h[i] = h[last]
		h[i].hidx = i
	}
	h[last] = nil
	p.heap = h[:last]
	if i != last {
		moved := p.heap[i]
		heapDown(p.heap, i)
		heapUp(p.heap, moved.hidx)
	}
	c.hidx = -1
}

// fix restores c's place in its parent's heap after its key changed.
func (c *node) fix() {
	if c.parent == nil || c.hidx < 0 {
		return
	}
	heapDown(c.parent.heap, c.hidx)
	heapUp(c.parent.heap, c.hidx)
}

// heapify rebuilds a heap after many keys changed.
func (p *node) heapify() {
	for i := range p.heap {
		p.heap[i].hidx = i
	}
	for i := len(p.heap)/2 - 1; i >= 0; i-- {
		heapDown(p.heap, i)
	}
}

// addActive propagates a change in the number of active clients below c,
// entering or leaving parents' heaps as a subtree gains its first or loses
// its last active client.
func (c *node) addActive(delta int) {
	for n := c; n != nil; n = n.parent {
		was := n.active
		n.active += delta
		if n.parent == nil {
			continue
		}
		switch {
		case was == 0 && n.active > 0:
			n.parent.push(n)
		case was > 0 && n.active == 0 && n.hidx >= 0:
			n.parent.remove(n)
		}
	}
}

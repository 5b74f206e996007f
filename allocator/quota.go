package allocator

import (
	"container/heap"
	"sort"
)

// Quota stage: roles below their guarantee with demand, least satisfied
// first (largest fraction of the guarantee still missing).

type quotaHeap []*node

func satisfaction(n *node) float64 {
	s := 1.0
	for k, g := range n.quota.Guarantee {
		if g > 0 {
			s = min(s, float64(n.alloc[k])/float64(g))
		}
	}
	return s
}

func (q quotaHeap) Len() int { return len(q) }
func (q quotaHeap) Less(i, j int) bool {
	si, sj := satisfaction(q[i]), satisfaction(q[j])
	if si != sj {
		return si < sj
	}
	return q[i].name < q[j].name
}
func (q quotaHeap) Swap(i, j int) { q[i], q[j] = q[j], q[i]; q[i].qidx = i; q[j].qidx = j }
func (q *quotaHeap) Push(x any)   { n := x.(*node); n.qidx = len(*q); *q = append(*q, n) }
func (q *quotaHeap) Pop() any {
	old := *q
	n := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	n.qidx = -1
	return n
}

func (h *Hierarchical) buildQuotaHeap() {
	for _, n := range h.quotaHeap {
		n.qidx = -1
	}
	h.quotaHeap = h.quotaHeap[:0]
	if h.required.IsZero() {
		return
	}
	for _, n := range h.roles {
		if n.hasQuota && n.active > 0 && !unmet(n).IsZero() {
			n.qidx = len(h.quotaHeap)
			h.quotaHeap = append(h.quotaHeap, n)
		}
	}
	heap.Init((*quotaHeap)(&h.quotaHeap))
}

func (h *Hierarchical) quotaStage(ag *agent, grants []Grant) []Grant {
	if len(h.quotaHeap) == 0 || ag.free.IsEmpty() {
		return grants
	}
	qh := (*quotaHeap)(&h.quotaHeap)
	var tried []*node
	for qh.Len() > 0 {
		q := heap.Pop(qh).(*node)
		if unmet(q).IsZero() || q.active == 0 {
			continue // satisfied (or lost its demand) since the heap was built
		}
		c := h.search(q, ag, stageQuota)
		if c != nil {
			open := len(ag.allocs) == 0
			grants = h.grant(c, ag, h.cand, h.candRev, false, grants)
			h.placed(c, stageQuota, open)
			h.restore(0)
			if !unmet(q).IsZero() {
				tried = append(tried, q)
			}
			break
		}
		h.restore(0)
		tried = append(tried, q)
	}
	for _, q := range tried {
		heap.Push(qh, q)
	}
	return grants
}

// Shortfalls implements Allocator.
func (h *Hierarchical) Shortfalls() []Shortfall {
	var starved []*node
	for _, n := range h.roles {
		if n.hasQuota && n.active > 0 && !unmet(n).IsZero() {
			starved = append(starved, n)
		}
	}
	sort.Slice(starved, func(i, j int) bool { return quotaHeap(starved).Less(i, j) })
	free := h.free
	var out []Shortfall
	for _, n := range starved {
		need := unmet(n)
		covered := need.Min(free)
		free = free.Sub(covered)
		if need = need.Sub(covered); !need.IsZero() {
			out = append(out, Shortfall{Role: n.name, Need: need})
		}
	}
	return out
}

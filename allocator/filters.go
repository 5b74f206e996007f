package allocator

import (
	"container/heap"
	"slices"
	"time"
)

// A filter keeps one client from being offered one agent. A decline's
// filter holds the whole agent; the filter of what an accept left unused
// holds only while the agent has nothing more to offer than that (Mesos'
// RefusedOfferFilter): once a task ends there, or anything else is freed,
// the client may be offered the agent again. Otherwise a framework that had
// just launched on an agent would be kept off it until the next batch, and
// on a small cluster what freed up meanwhile went past the role of lowest
// share, or stayed idle. It is dropped only when all three hold:
//   - its refuse time has passed;
//   - a batch cycle has run since it was installed (so a filter shorter than
//     the batch interval still applies to the next batch, as in Mesos);
//   - for a decline (not for the unused part of an accepted offer): the
//     agent's rotation round has ended since it was installed, that is,
//     every other eligible client was offered the agent (rotation). A client
//     that accepts part of an offer gains share and DRF moves it back in
//     line by itself; one that declines everything does not, and without
//     rotation would be offered the agent first forever.
//
// A decline opens a round on the agent. While it is open, a client offered
// the agent outside quota has had its turn and is held off the agent too,
// whether it keeps what it was given or hands it back: otherwise a client
// that takes the agent and returns it every cycle (short tasks, rescinded
// offers) would be offered it every cycle, the round would never end, and
// the decliner would stay filtered long after its refuse time. The round
// ends when nobody eligible is left to offer the agent to; turns end with
// it, and so do the filters whose time is up.
//
// Filters expire through a heap ordered by refuse time, so a cycle never
// scans filters that are still in force.
type filter struct {
	c      *client
	ag     *agent
	expiry time.Time
	batch  uint64 // batches run when installed
	round  uint64 // agent round when installed
	// unused is what an accept left, and the filter holds only while the
	// agent's free resources are within it; nil for a decline's filter (the
	// hot path, whose filters stay small), which holds the whole agent and
	// lasts until the round moves on (rotation).
	unused  *[2]Scalars // unreserved or reserved, revocable
	hidx    int         // index in the expiry heap; -1 when not in it
	cidx    int         // index in its client's filters
	timeUp  bool        // refuse time and batch rule passed; waits for the round
	dropped bool
}

type filterHeap []*filter

func (f filterHeap) Len() int           { return len(f) }
func (f filterHeap) Less(i, j int) bool { return f[i].expiry.Before(f[j].expiry) }
func (f filterHeap) Swap(i, j int)      { f[i], f[j] = f[j], f[i]; f[i].hidx = i; f[j].hidx = j }
func (f *filterHeap) Push(x any)        { e := x.(*filter); e.hidx = len(*f); *f = append(*f, e) }
func (f *filterHeap) Pop() any {
	old := *f
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*f = old[:len(old)-1]
	e.hidx = -1
	return e
}

// Decline implements Allocator.
func (h *Hierarchical) Decline(frameworkID, role, agentID string, r, rev Resources, refuse time.Duration, now time.Time) error {
	return h.returnWithFilter(frameworkID, role, agentID, "", r, rev, refuse, now, true)
}

// ReturnUnused implements Allocator.
func (h *Hierarchical) ReturnUnused(frameworkID, role, agentID string, r, rev Resources, refuse time.Duration, now time.Time) error {
	return h.returnWithFilter(frameworkID, role, agentID, "", r, rev, refuse, now, false)
}

func (h *Hierarchical) returnWithFilter(frameworkID, role, agentID, reservation string, r, rev Resources, refuse time.Duration, now time.Time, rotate bool) error {
	c, ag, err := h.grantee(frameworkID, role, agentID)
	if err != nil {
		return err
	}
	if err := h.recoverFrom(c, ag, reservation, r, rev); err != nil {
		return err
	}
	h.returned(c, ag, rotate)
	if refuse < 0 {
		refuse = DefaultRefuse
	}
	f := ag.filters[c]
	if f == nil {
		f = &filter{c: c, ag: ag, hidx: -1, cidx: len(c.filters)}
		c.filters = append(c.filters, f)
		ag.filters[c] = f
	} else if f.inRound() {
		ag.inRound--
	}
	f.expiry, f.batch, f.round, f.timeUp, f.unused = now.Add(refuse), h.batch, ag.round, false, nil
	if rotate {
		if ag.inRound == 0 {
			ag.turns = ag.turns[:0] // left by a round whose filters were all revoked
		}
		ag.inRound++
		// Its filter holds it off the agent now; its turn need not.
		ag.turns = slices.DeleteFunc(ag.turns, func(t turn) bool { return t.c == c })
	} else {
		f.unused = &[2]Scalars{r.Scalars, rev.Scalars}
	}
	if f.hidx >= 0 {
		heap.Fix(&h.filters, f.hidx)
	} else {
		heap.Push(&h.filters, f)
	}
	return nil
}

// holds reports whether f keeps its client from being offered cand of its
// agent (rev: from the agent's revocable resources).
func (f *filter) holds(cand Scalars, rev bool) bool {
	switch {
	case f.declined():
		return true
	case rev:
		return f.unused[1].Contains(cand)
	}
	return f.unused[0].Contains(cand)
}

// inRound reports whether f is one of the decline filters that keep its
// agent's current round open.
func (f *filter) inRound() bool { return f.declined() && f.round == f.ag.round }

// declined reports whether a decline installed f (it rotates).
func (f *filter) declined() bool { return f.unused == nil }

// takeTurn records that c was offered ag in its current round, if one is
// open.
func (ag *agent) takeTurn(c *client) {
	if ag.inRound > 0 {
		ag.turns = append(ag.turns, turn{c: c, gen: c.gen})
	}
}

// hadTurn reports whether c has been offered ag in the open round. Turns are
// few (a client that declines leaves the list), so a scan is cheapest.
func (ag *agent) hadTurn(c *client) bool {
	if ag.inRound == 0 {
		return false
	}
	for _, t := range ag.turns {
		if t.c == c && t.gen == c.gen {
			return true
		}
	}
	return false
}

// expireFilters runs at the start of a batch: it drops filters whose time
// is up, batch rule passed and round moved on, and marks those whose round
// has not moved on yet (dropped when it does).
func (h *Hierarchical) expireFilters(now time.Time) {
	waiting := h.waiting[:0]
	for _, f := range h.waiting {
		if !f.dropped {
			if f.batch+1 < h.batch {
				h.timeUp(f)
			} else {
				waiting = append(waiting, f)
			}
		}
	}
	for len(h.filters) > 0 && !h.filters[0].expiry.After(now) {
		f := heap.Pop(&h.filters).(*filter)
		if f.dropped {
			continue
		}
		if f.batch+1 >= h.batch {
			waiting = append(waiting, f)
			continue
		}
		h.timeUp(f)
	}
	h.waiting = waiting
}

func (h *Hierarchical) timeUp(f *filter) {
	if !f.declined() || f.round != f.ag.round {
		h.dropFilter(f)
		return
	}
	f.timeUp = true
}

// endRound starts a new rotation round on an agent nobody eligible could
// take, dropping the filters that only the round kept and ending turns. It
// reports whether that let anyone back (so the agent is worth another
// search).
func (h *Hierarchical) endRound(ag *agent) bool {
	if ag.inRound == 0 {
		return false
	}
	ag.round++
	ag.inRound = 0
	released := len(ag.turns) > 0
	ag.turns = ag.turns[:0]
	for _, f := range ag.filters {
		if f.timeUp {
			h.dropFilter(f)
			released = true
		}
	}
	return released
}

func (h *Hierarchical) dropFilter(f *filter) {
	if f.dropped {
		return
	}
	f.dropped = true
	if f.inRound() {
		f.ag.inRound--
	}
	f.c.forget(f)
	delete(f.ag.filters, f.c)
	f.ag.version++
	if f.hidx >= 0 {
		heap.Remove(&h.filters, f.hidx)
	}
}

func (h *Hierarchical) clearFilters(c *client) {
	for len(c.filters) > 0 {
		h.dropFilter(c.filters[len(c.filters)-1])
	}
}

// forget takes f out of the client's filters (swapping the last into its
// place). The client's filters are a slice, not a map by agent: a decline
// appends to it and a drop swaps, where a map of 10,000 agents cost a cache
// miss at each (the allocation asks the agent's own map instead).
func (c *client) forget(f *filter) {
	last := len(c.filters) - 1
	moved := c.filters[last]
	c.filters[f.cidx], moved.cidx = moved, f.cidx
	c.filters[last] = nil
	c.filters = c.filters[:last]
}

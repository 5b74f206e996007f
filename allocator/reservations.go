package allocator

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Reservations. Resources reserved for a role sit in a pool of their own on
// the agent, apart from its unreserved resources. As in Mesos
// (Resources::isAllocatableTo), a pool is offered only to its role and the
// role's descendants ("eng" reservations to "eng" and "eng/ml"), found in
// DRF order by searching the role's subtree of the sorter. They count in
// the cluster's total and, once allocated, in the allocation of the role
// that holds them: its dominant share and its guarantee, as Mesos' role
// sorter counts reserved allocations. Reserved resources are offered
// before the agent's unreserved ones, whole, whatever the placement: a
// reservation is made to be used by its role.

type resvPool struct {
	role        string
	node        *node
	total, free Resources
}

// ReturnKind says how resources come back: freed, declined (filtered, with
// rotation) or left unused by an accept (filtered, without rotation).
type ReturnKind int

// Kinds of ReturnKind, as messages.AllocatorReturn_Kind.
const (
	ReturnRecover ReturnKind = iota
	ReturnDecline
	ReturnUnused
)

// stageReserved offers a reservation to its role's subtree.
const stageReserved = stageRevocable + 1

// AllocatableTo reports whether resources reserved for reservation may be
// allocated to role: role is it or one of its descendants (Mesos'
// Resources::isAllocatableTo).
func AllocatableTo(reservation, role string) bool {
	return role == reservation || strings.HasPrefix(role, reservation) && role[len(reservation)] == '/'
}

func (ag *agent) pool(role string) *resvPool {
	for _, p := range ag.resv {
		if p.role == role {
			return p
		}
	}
	return nil
}

func sortedRoles(m map[string]Resources) []string {
	out := make([]string, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// allocateReserved offers each reservation of ag with something free to
// the first eligible client of its role's subtree.
func (h *Hierarchical) allocateReserved(ag *agent, grants []Grant) []Grant {
	for _, p := range ag.resv {
		if p.free.IsEmpty() || p.node.active == 0 {
			continue
		}
		h.cand = p.free
		if c := h.search(p.node, ag, stageReserved); c != nil {
			grants = h.grantReserved(c, ag, p, p.free, grants)
		}
		h.restore(0)
	}
	return grants
}

// eligibleReserved is eligible for stageReserved: rotation turns and
// quota limits do not apply (the reservation was made for the role), the
// rest does.
func (h *Hierarchical) eligibleReserved(c *client, ag *agent) bool {
	if f := ag.filters[c]; f != nil && f.holds(h.cand.Scalars, false) { // as eligible
		return false
	}
	fw := c.fw
	return satisfies(fw.info.Constraints, ag.attrs) && allocatable(fw.minAlloc, h.cand)
}

func (h *Hierarchical) grantReserved(c *client, ag *agent, p *resvPool, r Resources, grants []Grant) []Grant {
	p.free = p.free.Sub(r)
	h.adjustResvFree(p.node, r.Scalars, false)
	found := false
	for i := range ag.allocs {
		if ag.allocs[i].c == c && ag.allocs[i].pool == p {
			ag.allocs[i].r = ag.allocs[i].r.Add(r)
			found = true
			break
		}
	}
	if !found {
		ag.allocs = append(ag.allocs, agentAlloc{c: c, r: r, pool: p})
	}
	h.adjust(c, r.Scalars, true)
	return append(grants, Grant{FrameworkID: c.fw.id, Role: c.role.name, AgentID: ag.id, Resources: r, Incarnation: ag.incarnation, Reservation: p.role})
}

func (h *Hierarchical) recoverReserved(c *client, ag *agent, p *resvPool, r Resources) error {
	for k := range r.Scalars {
		if r.Scalars[k] < 0 {
			return fmt.Errorf("%w: negative %s in recovered resources", ErrInvalid, Kind(k))
		}
	}
	for i := range ag.allocs {
		al := &ag.allocs[i]
		if al.c != c || al.pool != p {
			continue
		}
		if !al.r.Contains(r) {
			break
		}
		al.r = al.r.Sub(r)
		if al.r.IsEmpty() {
			ag.allocs = append(ag.allocs[:i], ag.allocs[i+1:]...)
		}
		p.free = p.free.Add(r)
		h.adjustResvFree(p.node, r.Scalars, true)
		ag.version++
		h.unallocate(c, r.Scalars)
		return nil
	}
	return fmt.Errorf("framework %s on agent %s: recover %s reserved for %s: %w", c.fw.id, ag.id, r, p.role, ErrNotAllocated)
}

// ReturnReserved implements Allocator.
func (h *Hierarchical) ReturnReserved(frameworkID, role, agentID, reservation string, r Resources, kind ReturnKind, refuse time.Duration, now time.Time) error {
	if reservation == "" {
		return fmt.Errorf("%w: a reserved return names the role of its reservation", ErrInvalid)
	}
	switch kind {
	case ReturnDecline, ReturnUnused:
		return h.returnWithFilter(frameworkID, role, agentID, reservation, r, Resources{}, refuse, now, kind == ReturnDecline)
	}
	c, ag, err := h.grantee(frameworkID, role, agentID)
	if err != nil {
		return err
	}
	return h.recoverFrom(c, ag, reservation, r, Resources{})
}

// UpdateReservation implements Allocator.
func (h *Hierarchical) UpdateReservation(agentID, role string, r Resources, unreserve bool, frameworkID, frameworkRole string) error {
	if err := validRole(role); err != nil {
		return err
	}
	ag, ok := h.agents[agentID]
	if !ok {
		return errUnknownAgent(agentID)
	}
	if r.IsEmpty() {
		return fmt.Errorf("%w: nothing to reserve or unreserve", ErrInvalid)
	}
	for k := range r.Scalars {
		if r.Scalars[k] < 0 {
			return fmt.Errorf("%w: negative %s", ErrInvalid, Kind(k))
		}
	}
	if frameworkID != "" {
		c, err := h.clientOf(frameworkID, frameworkRole)
		if err != nil {
			return err
		}
		if frameworkRole != role {
			// Mesos: offered resources are reserved for the role they
			// were allocated to.
			return fmt.Errorf("%w: resources offered to role %s cannot be reserved for or unreserved from role %s", ErrInvalid, frameworkRole, role)
		}
		return h.moveAllocated(c, ag, role, r, unreserve)
	}
	return h.moveFree(ag, role, r, unreserve)
}

// moveAllocated moves resources allocated to c between the unreserved
// pool and the reservation for role: the allocation, shares and the
// cluster's total stay as they are.
func (h *Hierarchical) moveAllocated(c *client, ag *agent, role string, r Resources, unreserve bool) error {
	from := h.allocOf(c, ag, nil)
	p := ag.pool(role)
	if unreserve {
		if p == nil {
			return fmt.Errorf("agent %s: unreserve %s: nothing is reserved for %s: %w", ag.id, r, role, ErrNotAllocated)
		}
		from = h.allocOf(c, ag, p)
	}
	if from == nil || !from.r.Contains(r) {
		return fmt.Errorf("framework %s on agent %s: %s: %w", c.fw.id, ag.id, r, ErrNotAllocated)
	}
	from.r = from.r.Sub(r)
	if unreserve {
		p.total = p.total.Sub(r)
		ag.total = ag.total.Add(r)
		h.addAlloc(c, ag, nil, r)
	} else {
		if p == nil {
			p = &resvPool{role: role, node: h.roleNode(role)}
			ag.resv = append(ag.resv, p)
			h.reservations++
		}
		p.total = p.total.Add(r)
		ag.total = ag.total.Sub(r)
		h.addAlloc(c, ag, p, r)
	}
	h.dropEmpty(ag)
	return nil
}

// moveFree reserves free unreserved resources of ag for role, or
// unreserves free reserved ones.
func (h *Hierarchical) moveFree(ag *agent, role string, r Resources, unreserve bool) error {
	wasFree := !(ag.free.IsEmpty() && ag.revFree.IsEmpty())
	p := ag.pool(role)
	if unreserve {
		if p == nil || !p.free.Contains(r) {
			return fmt.Errorf("agent %s: unreserve %s from %s: not free in the reservation: %w", ag.id, r, role, ErrNotAllocated)
		}
		p.free, p.total = p.free.Sub(r), p.total.Sub(r)
		h.adjustResvFree(p.node, r.Scalars, false)
		ag.free, ag.total = ag.free.Add(r), ag.total.Add(r)
		h.free = h.free.Add(r.Scalars)
	} else {
		if !ag.free.Contains(r) {
			return fmt.Errorf("agent %s: reserve %s for %s: only %s is free and unreserved: %w", ag.id, r, role, ag.free, ErrNotAllocated)
		}
		if p == nil {
			p = &resvPool{role: role, node: h.roleNode(role)}
			ag.resv = append(ag.resv, p)
			h.reservations++
		}
		ag.free, ag.total = ag.free.Sub(r), ag.total.Sub(r)
		p.free, p.total = p.free.Add(r), p.total.Add(r)
		h.adjustResvFree(p.node, r.Scalars, true)
		h.free = h.free.Sub(r.Scalars)
	}
	if isFree := !(ag.free.IsEmpty() && ag.revFree.IsEmpty()); isFree != wasFree {
		if isFree {
			h.agentsWithFree++
		} else {
			h.agentsWithFree--
		}
	}
	h.dropEmpty(ag)
	ag.version++
	h.version++ // the cluster's free unreserved resources changed: headroom
	return nil
}

func (h *Hierarchical) allocOf(c *client, ag *agent, p *resvPool) *agentAlloc {
	for i := range ag.allocs {
		if ag.allocs[i].c == c && ag.allocs[i].pool == p {
			return &ag.allocs[i]
		}
	}
	return nil
}

func (h *Hierarchical) addAlloc(c *client, ag *agent, p *resvPool, r Resources) {
	if al := h.allocOf(c, ag, p); al != nil {
		al.r = al.r.Add(r)
		return
	}
	ag.allocs = append(ag.allocs, agentAlloc{c: c, r: r, pool: p})
}

// dropEmpty forgets empty allocations and reservations.
func (h *Hierarchical) dropEmpty(ag *agent) {
	out := ag.allocs[:0]
	for _, al := range ag.allocs {
		if !(al.r.IsEmpty() && al.rev.IsEmpty()) {
			out = append(out, al)
		}
	}
	ag.allocs = out
	keep := ag.resv[:0]
	for _, p := range ag.resv {
		if !p.total.IsEmpty() {
			keep = append(keep, p)
		}
	}
	h.reservations -= len(ag.resv) - len(keep)
	ag.resv = keep
}

// adjustResvFree adds (or removes) s to the unallocated reservations of
// role n and its ancestors, keeping the headroom in step.
func (h *Hierarchical) adjustResvFree(n *node, s Scalars, add bool) {
	for ; n != nil; n = n.parent {
		tracked := n.hasQuota && n.active > 0
		var before Scalars
		if tracked {
			before = unmet(n)
		}
		if add {
			n.resvFree = n.resvFree.Add(s)
		} else {
			n.resvFree = n.resvFree.Sub(s)
		}
		if tracked {
			if after := unmet(n); after != before {
				h.required = h.required.Sub(before).Add(after)
				h.version++
			}
		}
	}
}

package allocator

import "fmt"

// Holder is one framework's role: who an allocation is charged to.
type Holder struct {
	FrameworkID string
	Role        string
}

func (h Holder) String() string { return h.FrameworkID + "/" + h.Role }

// Transfer implements Allocator.
//
// A charge that moves is neither freed nor granted: the agent's free
// resources, its reservation pools and the cluster's totals stay as they
// are, so nothing becomes offerable and nothing is offered twice; only the
// two holders' allocations, and so their dominant shares and their roles'
// quota consumption, change. Mesos has no such call: its sorter charges a
// shared resource once to every framework holding a copy of it
// (sorter/drf/sorter.hpp, Allocation::add), so removing one framework
// (Master::removeFramework, recoverResources for each of its tasks) leaves
// the others' copies charged. Agora charges a shared volume once in all,
// to one user, and moves that one charge to another user when its holder
// stops using the volume: the same outcome (in use means charged) without
// counting one disk several times in the shares.
func (h *Hierarchical) Transfer(agentID, reservation string, r Resources, from, to Holder) error {
	if r.IsEmpty() {
		return fmt.Errorf("%w: nothing to transfer", ErrInvalid)
	}
	for k := range r.Scalars {
		if r.Scalars[k] < 0 {
			return fmt.Errorf("%w: negative %s in a transfer", ErrInvalid, Kind(k))
		}
	}
	if from == to {
		return fmt.Errorf("%w: transfer of %s from %s to itself", ErrInvalid, r, from)
	}
	src, ag, err := h.grantee(from.FrameworkID, from.Role, agentID)
	if err != nil {
		return err
	}
	dst, err := h.clientOf(to.FrameworkID, to.Role)
	if err != nil {
		return err
	}
	var p *resvPool
	if reservation != "" {
		if p = ag.pool(reservation); p == nil {
			return fmt.Errorf("agent %s: transfer %s reserved for %s: nothing is reserved for it: %w", ag.id, r, reservation, ErrNotAllocated)
		}
		if !AllocatableTo(reservation, to.Role) {
			// Mesos' isAllocatableTo: the reservation's role or a
			// descendant, as for any grant of it.
			return fmt.Errorf("%w: agent %s: resources reserved for %s cannot be charged to role %s, neither it nor a descendant", ErrInvalid, ag.id, reservation, to.Role)
		}
	}
	al := h.allocOf(src, ag, p)
	if al == nil || !al.r.Contains(r) {
		return fmt.Errorf("framework %s on agent %s: transfer %s (reservation %q) to %s: %w", from.FrameworkID, ag.id, r, reservation, to, ErrNotAllocated)
	}
	al.r = al.r.Sub(r)
	h.unallocate(src, r.Scalars)
	h.addAlloc(dst, ag, p, r)
	h.adjust(dst, r.Scalars, true)
	h.dropEmpty(ag)
	// The source's role may have room under its quota limit now, and the
	// destination's less: who is eligible where may change anywhere.
	ag.version++
	h.version++
	return nil
}

// Charged is what holder is allocated in all, offered or in use, on every
// agent, reserved or not (regular resources only): what its dominant share
// is computed from. Tests of the master's core compare it with the
// master's own books.
func (h *Hierarchical) Charged(holder Holder) (Scalars, error) {
	c, err := h.clientOf(holder.FrameworkID, holder.Role)
	if err != nil {
		return Scalars{}, err
	}
	return c.leaf.alloc, nil
}

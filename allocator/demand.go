package allocator

import (
	"fmt"
	"math"
)

// Demand hints (Allocator.SetDemand). Without them an offer model gives a
// framework every free agent it is first in line for: a framework that
// revives for five small tasks is offered every free agent of a
// 10,000-agent cluster in one cycle, uses one and declines the rest. That
// was 99 % of 34 million offers in the 10k simulation. A framework that
// says what it waits for is offered that much per batch interval, and the
// agents it is not offered go to the frameworks behind it in DRF order.

// SetDemand implements Allocator.
func (h *Hierarchical) SetDemand(frameworkID string, want Scalars, roles ...string) error {
	cs, err := h.clientsOf(frameworkID, roles)
	if err != nil {
		return err
	}
	for k, v := range want {
		if v < 0 {
			return fmt.Errorf("%w: framework %s: negative %s in demand", ErrInvalid, frameworkID, Kind(k))
		}
	}
	for _, c := range cs {
		c.want, c.hasWant = want, !want.IsZero()
		// A new statement starts afresh: what was granted before it was
		// for the demand it replaces.
		c.granted, c.grantedIn = Scalars{}, 0
	}
	h.version++ // a client held back may be eligible again
	return nil
}

// count adds a grant to what c was granted in this batch interval.
func (h *Hierarchical) count(c *client, s Scalars) {
	if !c.hasWant {
		return
	}
	if c.grantedIn != h.batch {
		c.granted, c.grantedIn = Scalars{}, h.batch
	}
	c.granted = c.granted.Add(usable(s, c.fw.minAlloc))
}

// usable is how much of a grant s counts towards a demand: with one
// minimum offer size (a framework's one task shape, typically), whole
// minimums only, as a framework placing tasks first fit uses it: 18 free
// cpus hold four 4-cpu tasks, 16 cpus. Counting the rest would leave
// tasks waiting a whole interval for what the sum promised and the agents
// could not hold. Kinds the minimum does not name count as they are.
func usable(s Scalars, mins []Scalars) Scalars {
	if len(mins) != 1 {
		return s
	}
	m := mins[0]
	n, named := int64(math.MaxInt64), false
	for k, v := range m {
		if v > 0 {
			n, named = min(n, s[k]/v), true
		}
	}
	if !named {
		return s
	}
	for k, v := range m {
		if v > 0 {
			s[k] = n * v
		}
	}
	return s
}

// sated reports whether c was granted what it waits for in this batch
// interval; if so it is parked out of the search until the allocation run
// ends, as binpack parks a client whose budget is spent, so that the rest
// of the agents do not each pop it.
func (h *Hierarchical) sated(c *client) bool {
	if !c.hasWant || c.grantedIn != h.batch || !c.granted.Contains(c.want) {
		return false
	}
	c.leaf.parked = true
	h.satedAny = true
	h.deferredAny = true
	return true
}

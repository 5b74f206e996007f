package allocator

import (
	"errors"
	"fmt"

	"github.com/agora-sched/agora/messages"
)

// The allocator's messages (messages/allocation.proto) carry resources as
// Quantities: the fixed-point Scalars as they are, ports flattened. These
// conversions are the only place the two forms meet.

// Quantities has a field per kind: a kind added here needs one there.
var _ = [1]struct{}{}[NumKinds-4]

// ToQuantities converts r for the wire; nothing is nil (most grants and
// returns carry no revocable resources, and every allocation counts on the
// offer path).
func ToQuantities(r Resources) *messages.Quantities {
	if r.IsEmpty() {
		return nil
	}
	return FillQuantities(&messages.Quantities{}, r)
}

// FillQuantities is ToQuantities into q, a new Quantities, for a caller
// that makes many in one allocation (a re-registering agent's uses); nil
// when r is empty.
func FillQuantities(q *messages.Quantities, r Resources) *messages.Quantities {
	if r.IsEmpty() {
		return nil
	}
	q.CpusMilli, q.MemMilli, q.DiskMilli, q.GpusMilli = r.Scalars[CPUs], r.Scalars[Mem], r.Scalars[Disk], r.Scalars[GPUs]
	if len(r.Ports) > 0 {
		q.Ports = make([]uint32, 0, 2*len(r.Ports))
		for _, p := range r.Ports {
			q.Ports = append(q.Ports, p.Begin, p.End)
		}
	}
	return q
}

// maxMilli is messages.MaxScalar in milli-units: no quantity one agent,
// task or quota holds is larger, and sums of such stay in the int64 range.
const maxMilli = messages.MaxScalar * Milli

// FromQuantities converts wire quantities; it refuses what no Resources
// could have produced (a malformed message from another node).
func FromQuantities(q *messages.Quantities) (Resources, error) {
	var r Resources
	if q == nil {
		return r, nil
	}
	if len(q.Ports)%2 != 0 {
		return r, fmt.Errorf("%w: quantities with %d port bounds", ErrInvalid, len(q.Ports))
	}
	r.Scalars = Scalars{CPUs: q.CpusMilli, Mem: q.MemMilli, Disk: q.DiskMilli, GPUs: q.GpusMilli}
	for k, v := range r.Scalars {
		if v < 0 {
			return r, fmt.Errorf("%w: negative %s", ErrInvalid, Kind(k))
		}
		if v > maxMilli {
			return r, fmt.Errorf("%w: %s of %d milli-units, over the limit of %d (messages.MaxScalar)", ErrInvalid, Kind(k), v, int64(maxMilli))
		}
	}
	ports, err := pairsToRanges(q.Ports)
	r.Ports = ports
	return r, err
}

func pairsToRanges(p []uint32) (Ranges, error) {
	if len(p) == 0 {
		return nil, nil
	}
	out := make(Ranges, 0, len(p)/2)
	for i := 0; i+1 < len(p); i += 2 {
		if p[i] > p[i+1] || (len(out) > 0 && p[i] <= out[len(out)-1].End) {
			return nil, fmt.Errorf("%w: port ranges out of order", ErrInvalid)
		}
		out = append(out, Range{Begin: p[i], End: p[i+1]})
	}
	return out, nil
}

// EncodeGrants puts grants in the columns of an Allocated message.
func EncodeGrants(grants []Grant) *messages.Allocated {
	n := len(grants)
	a := &messages.Allocated{
		FrameworkId: make([]string, n), Role: make([]string, n), AgentId: make([]string, n),
		Incarnation: make([]uint64, n), AsRevocable: make([]bool, n),
		Milli: make([]int64, 0, 2*int(NumKinds)*n), PortRanges: make([]uint32, 0, 2*n),
	}
	for i, g := range grants {
		if g.Reservation != "" && a.Reservation == nil {
			a.Reservation = make([]string, n)
		}
		if a.Reservation != nil {
			a.Reservation[i] = g.Reservation
		}
		a.FrameworkId[i], a.Role[i], a.AgentId[i], a.Incarnation[i], a.AsRevocable[i] = g.FrameworkID, g.Role, g.AgentID, g.Incarnation, g.AsRevocable
		a.Milli = append(a.Milli, g.Resources.Scalars[:]...)
		a.Milli = append(a.Milli, g.Revocable.Scalars[:]...)
		a.PortRanges = append(a.PortRanges, uint32(len(g.Resources.Ports)), uint32(len(g.Revocable.Ports)))
		for _, p := range g.Resources.Ports {
			a.Ports = append(a.Ports, p.Begin, p.End)
		}
		for _, p := range g.Revocable.Ports {
			a.Ports = append(a.Ports, p.Begin, p.End)
		}
	}
	return a
}

// DecodeGrants reads the grants of an Allocated message.
func DecodeGrants(a *messages.Allocated) ([]Grant, error) { return DecodeGrantsInto(a, nil) }

// DecodeGrantsInto is DecodeGrants reusing buf's array when it is large
// enough: the master decodes every Allocated into the same scratch slice,
// which it reads only until the next one (a first offer to a framework on
// 1,000 agents otherwise allocates ~200 KB of grants that die at once).
// The grants' port ranges are fresh each call, so resources copied out of
// a grant stay valid after the next decode.
func DecodeGrantsInto(a *messages.Allocated, buf []Grant) ([]Grant, error) {
	n := len(a.GetFrameworkId())
	k := int(NumKinds)
	if len(a.Role) != n || len(a.AgentId) != n || len(a.Incarnation) != n || len(a.AsRevocable) != n ||
		len(a.Milli) != 2*k*n || len(a.PortRanges) != 2*n {
		return nil, fmt.Errorf("%w: allocated columns of unequal length", ErrInvalid)
	}
	if r := len(a.Reservation); r != 0 && r != n {
		return nil, fmt.Errorf("%w: allocated reservation column of %d for %d grants", ErrInvalid, r, n)
	}
	out := buf[:0]
	if cap(out) < n {
		out = make([]Grant, n)
	}
	out = out[:n]
	clear(out) // nothing of the previous message's grants survives
	// Every grant's ranges are cut from one array: one allocation per
	// batch, not one per grant with ports.
	all := make(Ranges, 0, len(a.Ports)/2)
	ports := a.Ports
	take := func(ranges uint32) (Ranges, error) {
		if ranges == 0 {
			return nil, nil
		}
		if int(ranges)*2 > len(ports) {
			return nil, fmt.Errorf("%w: allocated ports short", ErrInvalid)
		}
		start := len(all)
		for i := 0; i < int(ranges); i++ {
			b, e := ports[2*i], ports[2*i+1]
			if b > e || (i > 0 && b <= all[len(all)-1].End) {
				return nil, fmt.Errorf("%w: port ranges out of order", ErrInvalid)
			}
			all = append(all, Range{Begin: b, End: e})
		}
		ports = ports[2*ranges:]
		return all[start:len(all):len(all)], nil
	}
	for i := range out {
		g := &out[i]
		g.FrameworkID, g.Role, g.AgentID, g.Incarnation, g.AsRevocable = a.FrameworkId[i], a.Role[i], a.AgentId[i], a.Incarnation[i], a.AsRevocable[i]
		if i < len(a.Reservation) {
			g.Reservation = a.Reservation[i]
		}
		copy(g.Resources.Scalars[:], a.Milli[2*k*i:])
		copy(g.Revocable.Scalars[:], a.Milli[2*k*i+k:])
		var err error
		if g.Resources.Ports, err = take(a.PortRanges[2*i]); err != nil {
			return nil, err
		}
		if g.Revocable.Ports, err = take(a.PortRanges[2*i+1]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AgentFromMessage converts an AllocatorAddAgent for the policy.
func AgentFromMessage(m *messages.AllocatorAddAgent) (Agent, error) {
	info := m.GetInfo()
	total, rev, reserved, err := FromMessagesReserved(info.GetResources())
	if err != nil {
		return Agent{}, err
	}
	a := Agent{ID: info.GetId().GetValue(), Total: total, Revocable: rev, Reserved: reserved, Incarnation: m.Incarnation,
		Attributes: make(map[string]string, len(info.GetAttributes()))}
	for _, at := range info.GetAttributes() {
		a.Attributes[at.Name] = messages.AttributeText(at)
	}
	a.Allocated = make([]Grant, 0, len(m.Allocated))
	for _, u := range m.Allocated {
		res, err := FromQuantities(u.Resources)
		if err != nil {
			return Agent{}, err
		}
		rv, err := FromQuantities(u.Revocable)
		if err != nil {
			return Agent{}, err
		}
		a.Allocated = append(a.Allocated, Grant{FrameworkID: u.FrameworkId, Role: u.Role, AgentID: a.ID, Resources: res, Revocable: rv, Reservation: u.Reservation})
	}
	return a, nil
}

// FrameworkFromInfo converts a FrameworkInfo for the policy; the master
// validated it when the framework subscribed.
func FrameworkFromInfo(info *messages.FrameworkInfo) Framework {
	f := Framework{ID: info.GetId().GetValue(), Roles: info.Roles}
	for _, c := range info.Capabilities {
		if c == messages.Capability_REVOCABLE_RESOURCES {
			f.Revocable = true
		}
	}
	f.MinAllocatable, _ = FromMinAllocatable(info.MinAllocatable)
	for _, c := range info.GetPreferences().GetConstraints() {
		f.Constraints = append(f.Constraints, Constraint{Name: c.Name, Values: c.Values})
	}
	mr, _, _ := FromMessages(info.GetPreferences().GetMinResources())
	f.MinResources = mr.Scalars
	return f
}

// FromMinAllocatable converts a framework's wire minimum offer size: nil
// when unset (the master's default applies), an empty non-nil list when set
// with no quantities (any offer), else one set of minimums per quantity.
// Only scalar, non-revocable resources can be minimums.
func FromMinAllocatable(m *messages.MinAllocatable) ([]Scalars, error) {
	if m == nil {
		return nil, nil
	}
	out := make([]Scalars, 0, len(m.Quantities))
	for i, q := range m.Quantities {
		r, rev, err := FromMessages(q.GetResources())
		if err != nil {
			return nil, fmt.Errorf("quantities %d: %w", i, err)
		}
		if len(r.Ports) > 0 || !rev.IsEmpty() {
			return nil, fmt.Errorf("%w: quantities %d: a minimum names scalar resources (cpus, mem, disk, gpus), neither ports nor revocable ones", messages.ErrBadResource, i)
		}
		out = append(out, r.Scalars)
	}
	return out, nil
}

// QuotaFromMessage converts a role's quota: a guarantee and per-kind limits
// (a kind the limit does not name is unlimited).
func QuotaFromMessage(q *messages.RoleQuota) (Quota, error) {
	g, grev, err := FromMessages(q.GetGuarantee())
	if err != nil {
		return Quota{}, err
	}
	l, lrev, err := FromMessages(q.GetLimit())
	if err != nil {
		return Quota{}, err
	}
	if !grev.IsEmpty() || !lrev.IsEmpty() || len(g.Ports) > 0 || len(l.Ports) > 0 {
		return Quota{}, errors.New("quota takes scalar, non-revocable resources (cpus, mem, disk, gpus)")
	}
	out := NoLimit(g.Scalars)
	for _, res := range q.GetLimit() {
		k, _ := KindByName(res.Name)
		out.Limit[k] = l.Scalars[k]
	}
	return out, nil
}

// ToShortfalls and FromShortfalls convert the answer to a shortfall check.
func ToShortfalls(s []Shortfall) *messages.AllocatorShortfalls {
	out := &messages.AllocatorShortfalls{Roles: make([]*messages.AllocatorShortfalls_Shortfall, len(s))}
	for i, x := range s {
		out.Roles[i] = &messages.AllocatorShortfalls_Shortfall{Role: x.Role, Need: ToQuantities(Resources{Scalars: x.Need})}
	}
	return out
}

// FromShortfalls is ToShortfalls' inverse.
func FromShortfalls(m *messages.AllocatorShortfalls) ([]Shortfall, error) {
	out := make([]Shortfall, 0, len(m.GetRoles()))
	for _, x := range m.GetRoles() {
		r, err := FromQuantities(x.Need)
		if err != nil {
			return nil, err
		}
		out = append(out, Shortfall{Role: x.Role, Need: r.Scalars})
	}
	return out, nil
}

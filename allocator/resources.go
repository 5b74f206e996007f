package allocator

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/agora-sched/agora/messages"
)

// Kind indexes a scalar resource in Scalars.
type Kind int

// The scalar resources the allocator knows. Quantities are fixed-point
// milli-units (1 cpu = 1000, 1 MiB = 1000), so sums are exact and compares
// need no epsilon.
const (
	CPUs Kind = iota
	Mem
	Disk
	GPUs
	NumKinds
)

var kindNames = [NumKinds]string{messages.CPUs, messages.Mem, messages.Disk, messages.GPUs}

func (k Kind) String() string { return kindNames[k] }

// KindByName returns the Kind of a scalar resource name.
func KindByName(name string) (Kind, bool) {
	for k, n := range kindNames {
		if n == name {
			return Kind(k), true
		}
	}
	return 0, false
}

// Milli is the fixed-point scale of Scalars.
const Milli = 1000

// Scalars is a vector of scalar quantities in milli-units.
type Scalars [NumKinds]int64

// Add returns s + o.
func (s Scalars) Add(o Scalars) Scalars {
	for k := range s {
		s[k] += o[k]
	}
	return s
}

// Sub returns s - o.
func (s Scalars) Sub(o Scalars) Scalars {
	for k := range s {
		s[k] -= o[k]
	}
	return s
}

// Contains reports s >= o in every kind.
func (s Scalars) Contains(o Scalars) bool {
	for k := range s {
		if s[k] < o[k] {
			return false
		}
	}
	return true
}

// Min returns the per-kind minimum.
func (s Scalars) Min(o Scalars) Scalars {
	for k := range s {
		s[k] = min(s[k], o[k])
	}
	return s
}

// Covers reports whether s holds some of a kind that need asks for: what
// freeing s would contribute to need.
func (s Scalars) Covers(need Scalars) bool {
	for k := range need {
		if need[k] > 0 && s[k] > 0 {
			return true
		}
	}
	return false
}

// IsZero reports whether every quantity is zero.
func (s Scalars) IsZero() bool { return s == Scalars{} }

// Range is an inclusive range of ports.
type Range struct{ Begin, End uint32 }

// Ranges is a sorted list of disjoint, non-adjacent ranges.
type Ranges []Range

// Count is the number of ports in r.
func (r Ranges) Count() int64 {
	var n int64
	for _, x := range r {
		n += int64(x.End) - int64(x.Begin) + 1
	}
	return n
}

// Contains reports whether every port of o is in r.
func (r Ranges) Contains(o Ranges) bool {
	i := 0
	for _, x := range o {
		for i < len(r) && r[i].End < x.Begin {
			i++
		}
		if i == len(r) || r[i].Begin > x.Begin || r[i].End < x.End {
			return false
		}
	}
	return true
}

// Head returns the first n ports of r (all of them when r has fewer).
func (r Ranges) Head(n int64) Ranges {
	var out Ranges
	for _, x := range r {
		if n <= 0 {
			break
		}
		size := int64(x.End) - int64(x.Begin) + 1
		if size > n {
			x.End = x.Begin + uint32(n-1)
			size = n
		}
		out = append(out, x)
		n -= size
	}
	return out
}

// Union returns r ∪ o, normalized.
func (r Ranges) Union(o Ranges) Ranges {
	if len(o) == 0 {
		return r
	}
	if len(r) == 0 {
		return o
	}
	all := make(Ranges, 0, len(r)+len(o))
	all = append(append(all, r...), o...)
	return normalize(all)
}

// Minus returns r \ o.
func (r Ranges) Minus(o Ranges) Ranges {
	if len(o) == 0 || len(r) == 0 {
		return r
	}
	var out Ranges
	j := 0
	for _, x := range r {
		b := uint64(x.Begin)
		for j < len(o) && o[j].End < x.Begin {
			j++
		}
		for k := j; k < len(o) && uint64(o[k].Begin) <= uint64(x.End); k++ {
			if uint64(o[k].Begin) > b {
				out = append(out, Range{uint32(b), o[k].Begin - 1})
			}
			if uint64(o[k].End)+1 > b {
				b = uint64(o[k].End) + 1
			}
		}
		if b <= uint64(x.End) {
			out = append(out, Range{uint32(b), x.End})
		}
	}
	return out
}

func normalize(rs Ranges) Ranges {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Begin < rs[j].Begin })
	out := rs[:0]
	for _, x := range rs {
		if n := len(out); n > 0 && uint64(x.Begin) <= uint64(out[n-1].End)+1 {
			out[n-1].End = max(out[n-1].End, x.End)
			continue
		}
		out = append(out, x)
	}
	return out
}

// Resources is the allocator's compact form of a set of resources.
type Resources struct {
	Scalars Scalars
	Ports   Ranges
}

// Add returns r + o.
func (r Resources) Add(o Resources) Resources {
	return Resources{Scalars: r.Scalars.Add(o.Scalars), Ports: r.Ports.Union(o.Ports)}
}

// Sub returns r - o; o must be contained in r.
func (r Resources) Sub(o Resources) Resources {
	return Resources{Scalars: r.Scalars.Sub(o.Scalars), Ports: r.Ports.Minus(o.Ports)}
}

// Contains reports whether o fits in r.
func (r Resources) Contains(o Resources) bool {
	return r.Scalars.Contains(o.Scalars) && r.Ports.Contains(o.Ports)
}

// IsEmpty reports whether r holds nothing.
func (r Resources) IsEmpty() bool { return r.Scalars.IsZero() && len(r.Ports) == 0 }

// String prints r in Mesos' text syntax.
func (r Resources) String() string {
	var parts []string
	for k, v := range r.Scalars {
		if v != 0 {
			parts = append(parts, fmt.Sprintf("%s:%g", Kind(k), float64(v)/Milli))
		}
	}
	if len(r.Ports) > 0 {
		ps := make([]string, len(r.Ports))
		for i, x := range r.Ports {
			ps[i] = fmt.Sprintf("%d-%d", x.Begin, x.End)
		}
		parts = append(parts, "ports:["+strings.Join(ps, ",")+"]")
	}
	return strings.Join(parts, ";")
}

// ToMilli converts a quantity to fixed point, rounding to the nearest
// milli-unit; beyond int64 it saturates rather than wrap to a negative.
func ToMilli(v float64) int64 {
	m := math.Round(v * Milli)
	switch {
	case m >= math.MaxInt64:
		return math.MaxInt64
	case m <= math.MinInt64:
		return math.MinInt64
	case math.IsNaN(m):
		return 0
	}
	return int64(m)
}

// FromMessages converts wire resources. Revocable resources are returned
// separately. Unknown names and reservations are rejected: use
// FromMessagesReserved where reserved resources belong.
func FromMessages(rs []*messages.Resource) (regular, revocable Resources, err error) {
	regular, revocable, reserved, err := FromMessagesReserved(rs)
	if err == nil && len(reserved) > 0 {
		role := sortedRoles(reserved)[0]
		return regular, revocable, fmt.Errorf("%w: resources reserved for %s are not allowed here", messages.ErrBadResource, role)
	}
	return regular, revocable, err
}

// FromMessagesReserved converts wire resources: unreserved regular ones,
// revocable ones (never reserved), and reserved ones by role (Resource.role,
// static or dynamic alike).
func FromMessagesReserved(rs []*messages.Resource) (regular, revocable Resources, reserved map[string]Resources, err error) {
	if err := messages.ValidateResources(rs); err != nil {
		return regular, revocable, nil, err
	}
	for _, r := range rs {
		dst := &regular
		var resv Resources
		role := ReservationRole(r)
		if role != "" {
			if r.Revocable {
				return regular, revocable, nil, fmt.Errorf("%w: revocable %s reserved for %s: revocable resources cannot be reserved", messages.ErrBadResource, r.Name, role)
			}
			if reserved == nil {
				reserved = map[string]Resources{}
			}
			resv = reserved[role]
			dst = &resv
		} else if r.Revocable {
			dst = &revocable
		}
		if err := addMessage(dst, r); err != nil {
			return regular, revocable, nil, err
		}
		if role != "" {
			reserved[role] = resv
		}
	}
	return regular, revocable, reserved, nil
}

// ReservationRole is the role r is reserved for ("" when unreserved).
func ReservationRole(r *messages.Resource) string {
	if r.Role == "*" {
		return ""
	}
	return r.Role
}

func addMessage(dst *Resources, r *messages.Resource) error {
	if r.Name == messages.Ports {
		var ports Ranges
		for _, x := range r.Ranges {
			if x.End > math.MaxUint32 {
				return fmt.Errorf("%w: port %d out of range", messages.ErrBadResource, x.End)
			}
			ports = append(ports, Range{uint32(x.Begin), uint32(x.End)})
		}
		dst.Ports = dst.Ports.Union(normalize(ports))
		return nil
	}
	k, ok := KindByName(r.Name)
	if !ok {
		return fmt.Errorf("%w: resource %q is not one the allocator knows (cpus, mem, disk, gpus, ports)", messages.ErrBadResource, r.Name)
	}
	m := ToMilli(r.Scalar)
	if m > maxMilli || dst.Scalars[k] > maxMilli-m {
		return fmt.Errorf("%w: %s amounts to more than %g, the most one set of resources may hold", messages.ErrBadResource, r.Name, float64(maxMilli)/Milli)
	}
	dst.Scalars[k] += m
	return nil
}

// ToMessages converts back to wire resources.
// The slice and its resources are two allocations whatever their number:
// every offer is built with it, and the garbage of a thousand offers sets
// how often the collector runs while a framework waits for them.
func (r Resources) ToMessages(revocable bool) []*messages.Resource {
	n := 0
	for _, v := range r.Scalars {
		if v != 0 {
			n++
		}
	}
	if len(r.Ports) > 0 {
		n++
	}
	if n == 0 {
		return nil
	}
	slab := make([]messages.Resource, n)
	out := make([]*messages.Resource, 0, n)
	for k, v := range r.Scalars {
		if v != 0 {
			res := &slab[len(out)]
			res.Name, res.Scalar, res.Revocable = Kind(k).String(), float64(v)/Milli, revocable
			out = append(out, res)
		}
	}
	if len(r.Ports) > 0 {
		res := &slab[len(out)]
		res.Name, res.Revocable = messages.Ports, revocable
		for _, x := range r.Ports {
			res.Ranges = append(res.Ranges, &messages.Range{Begin: uint64(x.Begin), End: uint64(x.End)})
		}
		out = append(out, res)
	}
	return out
}

// MustParse parses Mesos text syntax into Resources; it panics on error and
// is meant for tests and constants.
func MustParse(text string) Resources {
	rs, err := messages.ParseResources(text)
	if err != nil {
		panic(err)
	}
	r, _, err := FromMessages(rs)
	if err != nil {
		panic(err)
	}
	return r
}

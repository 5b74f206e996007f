package messages

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Arithmetic on resource lists as frameworks use it: what is left of an
// offer, whether a task fits. Resources of one name, role and revocability
// add up; scalars are counted in thousandths, as the allocator counts them,
// so that sums are exact and 0.1+0.2 fits in 0.3.

// A name given both as a scalar and as ranges (which no well-known
// resource is, but the wire allows) is two amounts: merged, one would
// swallow the other.
type resourceKey struct {
	name, role string
	revocable  bool
	ranged     bool
}

// resourceAmount is one name, role and revocability's total. Lists are a
// handful of entries, so a slice searched in order beats a map (the
// arithmetic runs for every task a framework fits into an offer).
type resourceAmount struct {
	key    resourceKey
	milli  int64
	ranges [][2]uint64 // sorted, disjoint
	ranged bool
}

// toMilli saturates: an amount beyond int64 thousandths (the wire's float
// can say 1e300) counts as the most there can be, not as a wrapped
// negative. Bounds on what is accepted are the validators'; this keeps the
// arithmetic from lying about what it was given.
func toMilli(v float64) int64 {
	m := math.Round(v * 1000)
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

// addMilli is a + b, saturated as toMilli is.
func addMilli(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

func find(t []resourceAmount, k resourceKey) int {
	for i := range t {
		if t[i].key == k {
			return i
		}
	}
	return -1
}

func tally(lists ...[]*Resource) []resourceAmount {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]resourceAmount, 0, n)
	for _, l := range lists {
		for _, r := range l {
			k := resourceKey{r.GetName(), r.GetRole(), r.GetRevocable(), len(r.GetRanges()) > 0}
			i := find(out, k)
			if i < 0 {
				out = append(out, resourceAmount{key: k})
				i = len(out) - 1
			}
			a := &out[i]
			if len(r.GetRanges()) > 0 {
				a.ranged = true
				for _, x := range r.GetRanges() {
					a.ranges = unionRange(a.ranges, [2]uint64{x.Begin, x.End})
				}
				continue
			}
			a.milli = addMilli(a.milli, toMilli(r.GetScalar()))
		}
	}
	return out
}

func unionRange(rs [][2]uint64, x [2]uint64) [][2]uint64 {
	rs = append(rs, x)
	slices.SortFunc(rs, func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) })
	var out [][2]uint64
	for _, r := range rs {
		// (An end of MaxUint64 has no successor: +1 would wrap to 0.)
		if n := len(out); n > 0 && (out[n-1][1] == math.MaxUint64 || r[0] <= out[n-1][1]+1) {
			out[n-1][1] = max(out[n-1][1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

func rangesContain(have, want [][2]uint64) bool {
	for _, w := range want {
		ok := false
		for _, h := range have {
			if h[0] <= w[0] && w[1] <= h[1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func rangesMinus(have, want [][2]uint64) [][2]uint64 {
	out := append([][2]uint64(nil), have...)
	for _, w := range want {
		var next [][2]uint64
		for _, h := range out {
			if w[1] < h[0] || w[0] > h[1] {
				next = append(next, h)
				continue
			}
			if h[0] < w[0] {
				next = append(next, [2]uint64{h[0], w[0] - 1})
			}
			if w[1] < h[1] {
				next = append(next, [2]uint64{w[1] + 1, h[1]})
			}
		}
		out = next
	}
	return out
}

func fromTally(t []resourceAmount) []*Resource {
	slices.SortFunc(t, func(a, b resourceAmount) int {
		if c := strings.Compare(a.key.name, b.key.name); c != 0 {
			return c
		}
		if c := strings.Compare(a.key.role, b.key.role); c != 0 {
			return c
		}
		if a.key.revocable != b.key.revocable {
			if b.key.revocable {
				return -1
			}
			return 1
		}
		switch {
		case a.key.ranged == b.key.ranged:
			return 0
		case b.key.ranged:
			return -1
		}
		return 1
	})
	out := make([]*Resource, 0, len(t))
	for _, a := range t {
		if a.milli == 0 && len(a.ranges) == 0 {
			continue
		}
		r := &Resource{Name: a.key.name, Role: a.key.role, Revocable: a.key.revocable}
		if a.ranged {
			for _, x := range a.ranges {
				r.Ranges = append(r.Ranges, &Range{Begin: x[0], End: x[1]})
			}
		} else {
			r.Scalar = float64(a.milli) / 1000
		}
		out = append(out, r)
	}
	return out
}

// SumResources adds resource lists up.
func SumResources(lists ...[]*Resource) []*Resource { return fromTally(tally(lists...)) }

// ContainsResources reports whether want fits in have: every scalar of want
// at most have's of the same name, role and revocability, every range of
// want inside have's.
func ContainsResources(have, want []*Resource) bool {
	if scalarsOnly(have) && scalarsOnly(want) {
		return containsScalars(have, want)
	}
	h, w := tally(have), tally(want)
	for _, wa := range w {
		i := find(h, wa.key)
		if i < 0 {
			if wa.milli > 0 || len(wa.ranges) > 0 {
				return false
			}
			continue
		}
		if wa.milli > h[i].milli || !rangesContain(h[i].ranges, wa.ranges) {
			return false
		}
	}
	return true
}

// SubtractResources returns have minus want; what want names beyond have is
// ignored (check with ContainsResources first).
func SubtractResources(have, want []*Resource) []*Resource {
	h, w := tally(have), tally(want)
	for _, wa := range w {
		i := find(h, wa.key)
		if i < 0 {
			continue
		}
		h[i].milli = max(h[i].milli-wa.milli, 0)
		h[i].ranges = rangesMinus(h[i].ranges, wa.ranges)
	}
	return fromTally(h)
}

func scalarsOnly(l []*Resource) bool {
	for _, r := range l {
		if len(r.GetRanges()) > 0 {
			return false
		}
	}
	return true
}

// containsScalars is ContainsResources without allocating, for lists of
// scalars: a framework asks it for every task it fits into an offer.
func containsScalars(have, want []*Resource) bool {
	for i, w := range want {
		k := resourceKey{w.GetName(), w.GetRole(), w.GetRevocable(), false}
		seen := false
		for _, x := range want[:i] {
			seen = seen || resourceKey{x.GetName(), x.GetRole(), x.GetRevocable(), false} == k
		}
		if seen {
			continue // counted with the first of its key
		}
		var need, got int64
		for _, x := range want[i:] {
			if (resourceKey{x.GetName(), x.GetRole(), x.GetRevocable(), false}) == k {
				need = addMilli(need, toMilli(x.GetScalar()))
			}
		}
		for _, x := range have {
			if (resourceKey{x.GetName(), x.GetRole(), x.GetRevocable(), false}) == k {
				got = addMilli(got, toMilli(x.GetScalar()))
			}
		}
		if need > got {
			return false
		}
	}
	return true
}

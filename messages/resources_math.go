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

type resourceKey struct {
	name, role string
	revocable  bool
}

type resourceAmount struct {
	milli  int64
	ranges [][2]uint64 // sorted, disjoint
	ranged bool
}

func toMilli(v float64) int64 { return int64(math.Round(v * 1000)) }

func tally(lists ...[]*Resource) map[resourceKey]*resourceAmount {
	out := map[resourceKey]*resourceAmount{}
	for _, l := range lists {
		for _, r := range l {
			k := resourceKey{r.GetName(), r.GetRole(), r.GetRevocable()}
			a := out[k]
			if a == nil {
				a = &resourceAmount{}
				out[k] = a
			}
			if len(r.GetRanges()) > 0 {
				a.ranged = true
				for _, x := range r.GetRanges() {
					a.ranges = unionRange(a.ranges, [2]uint64{x.Begin, x.End})
				}
				continue
			}
			a.milli += toMilli(r.GetScalar())
		}
	}
	return out
}

func unionRange(rs [][2]uint64, x [2]uint64) [][2]uint64 {
	rs = append(rs, x)
	slices.SortFunc(rs, func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) })
	var out [][2]uint64
	for _, r := range rs {
		if n := len(out); n > 0 && r[0] <= out[n-1][1]+1 {
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

func fromTally(t map[resourceKey]*resourceAmount) []*Resource {
	keys := make([]resourceKey, 0, len(t))
	for k, a := range t {
		if a.milli != 0 || len(a.ranges) > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b resourceKey) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := strings.Compare(a.role, b.role); c != 0 {
			return c
		}
		switch {
		case a.revocable == b.revocable:
			return 0
		case b.revocable:
			return -1
		}
		return 1
	})
	out := make([]*Resource, 0, len(keys))
	for _, k := range keys {
		a := t[k]
		r := &Resource{Name: k.name, Role: k.role, Revocable: k.revocable}
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
	h, w := tally(have), tally(want)
	for k, wa := range w {
		ha := h[k]
		if ha == nil {
			if wa.milli > 0 || len(wa.ranges) > 0 {
				return false
			}
			continue
		}
		if wa.milli > ha.milli || !rangesContain(ha.ranges, wa.ranges) {
			return false
		}
	}
	return true
}

// SubtractResources returns have minus want; what want names beyond have is
// ignored (check with ContainsResources first).
func SubtractResources(have, want []*Resource) []*Resource {
	h, w := tally(have), tally(want)
	for k, wa := range w {
		ha := h[k]
		if ha == nil {
			continue
		}
		ha.milli = max(ha.milli-wa.milli, 0)
		ha.ranges = rangesMinus(ha.ranges, wa.ranges)
	}
	return fromTally(h)
}

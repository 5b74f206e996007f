package allocator

import (
	"testing"

	"github.com/agora-sched/agora/messages"
)

// FuzzResourcesArithmetic: whatever the wire says, FromMessages never
// panics and what it accepts is non-negative, with normalized ports; on
// what it accepts (a+b)-b == a, a sum contains its parts, and Contains
// agrees with Sub. (Seeds run with every go test; make fuzz explores.)
func FuzzResourcesArithmetic(f *testing.F) {
	for _, s := range [][2]string{
		{"cpus:1;mem:128;ports:[31000-31010]", "cpus:0.5;ports:[31005-31020]"},
		{"cpus:1e300", "cpus:1e300"},
		{"mem:9e15", "mem:9e15"},
		{"cpus:9007199254740.991", "cpus:0.001"},
		{"ports:[0-4294967295]", "ports:[4294967295-4294967295,0-0]"},
		{"ports:[4294967296-4294967297]", "cpus:1"},
		{"gpus:0.0005;disk:4.9e-324", "cpus(r):1"},
		{"cpus:0.1;cpus:0.2", "cpus:0.3"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ta, tb string) {
		ma, err1 := messages.ParseResources(ta)
		mb, err2 := messages.ParseResources(tb)
		if err1 != nil || err2 != nil {
			return
		}
		a, ra, err1 := FromMessages(ma)
		b, _, err2 := FromMessages(mb)
		if err1 != nil || err2 != nil {
			return
		}
		for _, r := range []Resources{a, ra, b} {
			for k, v := range r.Scalars {
				if v < 0 || v > maxMilli {
					t.Fatalf("%q, %q: %s = %d milli, outside [0, %d]", ta, tb, Kind(k), v, int64(maxMilli))
				}
			}
			for i, x := range r.Ports {
				if x.Begin > x.End || (i > 0 && uint64(r.Ports[i-1].End)+1 >= uint64(x.Begin)) {
					t.Fatalf("%q, %q: ports not normalized: %v", ta, tb, r.Ports)
				}
			}
		}
		sum := a.Add(b)
		if !sum.Contains(a) || !sum.Contains(b) {
			t.Fatalf("%v + %v = %v, which does not contain both", a, b, sum)
		}
		if back := sum.Sub(b); back.Scalars != a.Scalars || !a.Ports.Contains(back.Ports) {
			t.Fatalf("(%v + %v) - b = %v, want %v", a, b, back, a)
		}
		if a.Contains(b) {
			rest := a.Sub(b)
			if rest.Add(b).Scalars != a.Scalars || !rest.Add(b).Ports.Contains(a.Ports) || rest.Ports.Contains(b.Ports) && len(b.Ports) > 0 {
				t.Fatalf("%v contains %v but (a-b) = %v", a, b, rest)
			}
		}
		if len(a.Ports) > 0 && a.Ports.Head(a.Ports.Count()).Count() != a.Ports.Count() {
			t.Fatalf("Head of all of %v is not all", a.Ports)
		}
	})
}

package messages

import (
	"math"
	"testing"
)

// Fuzz targets for the text syntax and the SDK's arithmetic. Their seeds
// (below and in testdata/fuzz) run with every go test; make fuzz explores.

var resourceSeeds = []string{
	"cpus:4; mem:8192;ports:[31000-32000,33000-33000];gpus(ml):1",
	"cpus:0.1;cpus:0.2;mem:0",
	"cpus(r):1e300;mem:9e15;mem:9e15",
	"ports:[0-18446744073709551615,5-6]",
	"ports:[1-1,3-3,2-2]",
	"ports:[];disk:-1",
	"cpus:NaN;mem:Inf",
	"a(b)c(d):1;x():2;:3;(r):4",
	"cpus:0.0005;cpus:0.0004",
	"mem:1e-300;gpus:4.9e-324",
}

// FuzzParseResources: parsing never panics; what it accepts is valid, and
// printing it gives text that parses to the same resources.
func FuzzParseResources(f *testing.F) {
	for _, s := range resourceSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		rs, err := ParseResources(text)
		if err != nil {
			return
		}
		if err := ValidateResources(rs); err != nil {
			t.Fatalf("ParseResources(%q) accepted invalid resources: %v", text, err)
		}
		printed := FormatResources(rs)
		again, err := ParseResources(printed)
		if err != nil {
			t.Fatalf("ParseResources(%q) = %q, which does not parse: %v", text, printed, err)
		}
		if p2 := FormatResources(again); p2 != printed {
			t.Fatalf("ParseResources(%q): printed %q, reparsed and printed %q", text, printed, p2)
		}
	})
}

// FuzzParseAttributes: never panics; what it accepts prints and reparses
// the same.
func FuzzParseAttributes(f *testing.F) {
	for _, s := range []string{"rack:r1;zone:a", "n:1.5;m:NaN;x:Inf", "a:1;a:2", ":x;y:", "rack:r1;;zone: b "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		as, err := ParseAttributes(text)
		if err != nil {
			return
		}
		printed := FormatAttributes(as)
		again, err := ParseAttributes(printed)
		if err != nil || FormatAttributes(again) != printed {
			t.Fatalf("ParseAttributes(%q) printed %q, which reparses to %v (%v)", text, printed, again, err)
		}
	})
}

// maxExactMilli bounds the sums for which the arithmetic must be exact:
// beyond it a float64 no longer holds every thousandth.
const maxExactMilli = 1 << 53

func withinExact(rs []*Resource) bool {
	var total float64
	for _, r := range rs {
		total += r.Scalar
	}
	return total*1000 < maxExactMilli
}

func scalarsIn(rs []*Resource) []*Resource {
	var out []*Resource
	for _, r := range rs {
		if len(r.Ranges) == 0 {
			out = append(out, r)
		}
	}
	return out
}

// FuzzResourceMath: for any two lists the parser accepts, sums and
// differences never go negative (no wrapped fixed point) and ranges stay
// sorted and disjoint; while amounts are within what fixed point holds
// exactly, a sum contains its parts, (a+b)-b == a and Contains agrees with
// Subtract.
func FuzzResourceMath(f *testing.F) {
	for i, s := range resourceSeeds {
		f.Add(s, resourceSeeds[(i+1)%len(resourceSeeds)])
	}
	f.Add("cpus:1e300", "cpus:1e300")
	f.Add("mem:9e15", "mem:9e15")
	f.Add("ports:[0-18446744073709551615]", "ports:[5-6]")
	f.Fuzz(func(t *testing.T, ta, tb string) {
		a, err1 := ParseResources(ta)
		b, err2 := ParseResources(tb)
		if err1 != nil || err2 != nil {
			return
		}
		sum := SumResources(a, b)
		for _, r := range append(append([]*Resource{}, sum...), SubtractResources(a, b)...) {
			if r.Scalar < 0 || math.IsNaN(r.Scalar) {
				t.Fatalf("%q and %q: negative amount %v", ta, tb, r)
			}
			for i, rg := range r.Ranges {
				if rg.Begin > rg.End || (i > 0 && r.Ranges[i-1].End >= rg.Begin) {
					t.Fatalf("%q and %q: ranges not sorted and disjoint: %v", ta, tb, r.Ranges)
				}
			}
		}
		// Beyond 2^53 thousandths a float64 no longer holds every
		// amount (the master refuses such amounts): no more is asked
		// of the arithmetic there than the above.
		if !withinExact(append(append([]*Resource{}, a...), b...)) {
			return
		}
		if !ContainsResources(sum, a) || !ContainsResources(sum, b) {
			t.Fatalf("%q + %q = %q, which does not contain both", ta, tb, FormatResources(sum))
		}
		// Scalars come back exactly; ranges that b shares with a do not
		// (a set union), but what comes back is within a.
		back := SubtractResources(sum, b)
		if got, want := FormatResources(scalarsIn(back)), FormatResources(scalarsIn(SumResources(a))); got != want {
			t.Fatalf("(%q + %q) - b = %q, want %q", ta, tb, got, want)
		}
		if !ContainsResources(a, back) {
			t.Fatalf("(%q + %q) - b = %q, which is not within a", ta, tb, FormatResources(back))
		}
		if ContainsResources(a, b) {
			rest := SubtractResources(a, b)
			if got, want := FormatResources(SumResources(rest, b)), FormatResources(SumResources(a)); got != want {
				t.Fatalf("%q contains %q but (a-b)+b = %q", ta, tb, got)
			}
		}
	})
}

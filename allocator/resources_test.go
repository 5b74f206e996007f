package allocator

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
)

func TestRangesArithmetic(t *testing.T) {
	r := Ranges{{10, 20}, {30, 40}}
	for _, tc := range []struct {
		minus Ranges
		want  string
	}{
		{Ranges{{15, 35}}, "[{10 14} {36 40}]"},
		{Ranges{{10, 20}}, "[{30 40}]"},
		{Ranges{{0, 100}}, "[]"},
		{Ranges{{12, 12}, {38, 38}}, "[{10 11} {13 20} {30 37} {39 40}]"},
		{nil, "[{10 20} {30 40}]"},
	} {
		got := r.Minus(tc.minus)
		if s := fmtRanges(got); s != tc.want {
			t.Errorf("%v - %v = %s, want %s", r, tc.minus, s, tc.want)
		}
		if back := got.Union(r.Minus(got)); fmtRanges(back) != fmtRanges(r) {
			t.Errorf("(r - x) + (r - (r - x)) = %v, want %v", back, r)
		}
	}
	if !r.Contains(Ranges{{11, 19}, {30, 30}}) || r.Contains(Ranges{{19, 31}}) {
		t.Error("Contains")
	}
	if u := (Ranges{{1, 2}}).Union(Ranges{{3, 5}, {9, 9}}); fmtRanges(u) != "[{1 5} {9 9}]" {
		t.Errorf("adjacent ranges merge: %v", u)
	}
	if r.Count() != 22 {
		t.Errorf("count = %d", r.Count())
	}
}

func fmtRanges(r Ranges) string { return fmt.Sprint([]Range(r)) }

func TestConversionAtTheBoundary(t *testing.T) {
	rs, _ := messages.ParseResources("cpus:1.5;mem:1024;disk:10;gpus:1;ports:[31000-31005,31003-31010]")
	rs = append(rs, &messages.Resource{Name: "cpus", Scalar: 4, Revocable: true})
	reg, rev, err := FromMessages(rs)
	if err != nil {
		t.Fatal(err)
	}
	if reg.String() != "cpus:1.5;mem:1024;disk:10;gpus:1;ports:[31000-31010]" || rev.String() != "cpus:4" {
		t.Fatalf("regular %s, revocable %s", reg, rev)
	}
	back, _, _ := FromMessages(reg.ToMessages(false))
	if back.String() != reg.String() {
		t.Fatalf("round trip: %s", back)
	}
	for _, bad := range [][]*messages.Resource{
		{{Name: "bananas", Scalar: 1}},
		{{Name: "cpus", Scalar: -1}},
		{{Name: "cpus", Scalar: 1, Role: "eng"}},
	} {
		if _, _, err := FromMessages(bad); !errors.Is(err, messages.ErrBadResource) {
			t.Errorf("%v: err = %v", bad, err)
		}
	}
}

// The wire form of a minimum offer size keeps Mesos' three cases apart:
// unset (the default), set with no quantities (anything), and alternatives.
func TestFromMinAllocatable(t *testing.T) {
	quantities := func(texts ...string) *messages.MinAllocatable {
		m := &messages.MinAllocatable{}
		for _, text := range texts {
			rs, err := messages.ParseResources(text)
			if err != nil {
				t.Fatal(err)
			}
			m.Quantities = append(m.Quantities, &messages.ResourceQuantities{Resources: rs})
		}
		return m
	}
	for _, tc := range []struct {
		name string
		in   *messages.MinAllocatable
		want []Scalars
	}{
		{"unset", nil, nil},
		{"set, no quantities", quantities(), []Scalars{}},
		{"alternatives", quantities("cpus:1;mem:512", "gpus:1"), []Scalars{MustParse("cpus:1;mem:512").Scalars, MustParse("gpus:1").Scalars}},
	} {
		got, err := FromMinAllocatable(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (got == nil) != (tc.want == nil) || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, got, tc.want)
		}
	}
	for name, bad := range map[string]*messages.Resource{
		"ports":     {Name: messages.Ports, Ranges: []*messages.Range{{Begin: 1, End: 2}}},
		"revocable": {Name: messages.CPUs, Scalar: 1, Revocable: true},
		"unknown":   {Name: "widgets", Scalar: 3},
	} {
		m := &messages.MinAllocatable{Quantities: []*messages.ResourceQuantities{{Resources: []*messages.Resource{bad}}}}
		if _, err := FromMinAllocatable(m); !errors.Is(err, messages.ErrBadResource) {
			t.Errorf("%s: err = %v, want ErrBadResource", name, err)
		}
	}
}

// Amounts beyond what fixed point holds exactly are refused, the limit in
// the error, rather than wrapped to a negative (1e300 cpus was -9.2e15).
func TestFromMessagesRefusesAmountsBeyondFixedPoint(t *testing.T) {
	for name, rs := range map[string][]*messages.Resource{
		"cpus:1e300":        {{Name: "cpus", Scalar: 1e300}},
		"mem:9e15;mem:9e15": {{Name: "mem", Scalar: 9e15}, {Name: "mem", Scalar: 9e15}},
		"cpus:1e11+1":       {{Name: "cpus", Scalar: messages.MaxScalar + 1}},
	} {
		if _, _, err := FromMessages(rs); !errors.Is(err, messages.ErrBadResource) || !strings.Contains(err.Error(), "1e+11") {
			t.Errorf("%s: err = %v, want a refusal naming the limit", name, err)
		}
	}
	if r, _, err := FromMessages([]*messages.Resource{{Name: "cpus", Scalar: messages.MaxScalar}}); err != nil || r.Scalars[CPUs] != messages.MaxScalar*Milli {
		t.Errorf("the limit itself: %v %v", r, err)
	}
	if ToMilli(1e300) != math.MaxInt64 || ToMilli(math.NaN()) != 0 {
		t.Error("ToMilli wraps")
	}
}

package allocator

import (
	"fmt"
	"testing"
)

func grantsForBench(n int) []Grant {
	out := make([]Grant, n)
	for i := range out {
		out[i] = Grant{FrameworkID: fmt.Sprint("f", i%50), Role: "r", AgentID: fmt.Sprint("a", i), Incarnation: 1,
			Resources: MustParse("cpus:8;mem:16384;ports:[31000-32000]")}
	}
	return out
}

// The grants of a batch cross from the allocator to the master as one
// protobuf message in columns (messages.Allocated): what that costs against
// passing the Go slice, per batch of 10,000 grants.
func BenchmarkGrantsOnTheWire(b *testing.B) {
	grants := grantsForBench(10_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeGrants(EncodeGrants(grants)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeGrants and BenchmarkDecodeGrants split that cost for
// the first offers of a new framework on 1,000 agents (one grant per
// agent): what sending the grants 256 at a time would take off the path
// to the first offer is the encoding and decoding of the other 744.
func BenchmarkEncodeGrants(b *testing.B) {
	grants := firstOfferGrants(1000)
	b.ReportAllocs()
	for b.Loop() {
		_ = EncodeGrants(grants)
	}
}

func BenchmarkDecodeGrants(b *testing.B) {
	msg := EncodeGrants(firstOfferGrants(1000))
	var scratch []Grant // reused, as the master's core does
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if scratch, err = DecodeGrantsInto(msg, scratch); err != nil {
			b.Fatal(err)
		}
	}
}

// firstOfferGrants is one framework granted n agents.
func firstOfferGrants(n int) []Grant {
	out := grantsForBench(n)
	for i := range out {
		out[i].FrameworkID = "f0"
	}
	return out
}

func TestGrantsRoundTrip(t *testing.T) {
	in := grantsForBench(100)
	in[7].Revocable = MustParse("cpus:1;ports:[1-2,5-9]")
	in[9].AsRevocable = true
	out, err := DecodeGrants(EncodeGrants(in))
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if fmt.Sprint(in[i]) != fmt.Sprint(out[i]) {
			t.Fatalf("grant %d: %v, decoded %v", i, in[i], out[i])
		}
	}
}

// DecodeGrantsInto reuses its scratch slice, yet a grant's resources copied
// out before the next decode keep their ports, and nothing of a longer
// earlier batch (a reservation) leaks into a shorter later one.
func TestDecodeGrantsIntoReusesScratch(t *testing.T) {
	first := grantsForBench(10)
	first[3].Reservation = "r"
	scratch, err := DecodeGrantsInto(EncodeGrants(first), nil)
	if err != nil {
		t.Fatal(err)
	}
	kept := scratch[3].Resources // as the master copies it into an offer
	second := grantsForBench(5)
	second[3].Resources = MustParse("cpus:1;ports:[7-8]")
	again, err := DecodeGrantsInto(EncodeGrants(second), scratch)
	if err != nil {
		t.Fatal(err)
	}
	if &again[0] != &scratch[0] {
		t.Fatal("a batch no longer than the scratch got a new array")
	}
	if len(again) != 5 || again[3].Reservation != "" || again[3].Resources.String() != "cpus:1;ports:[7-8]" {
		t.Fatalf("second batch decoded as %v", again)
	}
	if kept.String() != first[3].Resources.String() {
		t.Fatalf("resources kept from the first batch now read %s, want %s", kept, first[3].Resources)
	}
}

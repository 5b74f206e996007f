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

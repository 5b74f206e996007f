package messages_test

import (
	"fmt"
	"testing"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"pgregory.net/rapid"
)

// The SDK's arithmetic on resource lists agrees with the allocator's on
// what both represent (unreserved cpus, mem, disk, gpus and ports): the
// allocator's fixed-point Resources are the reference.
func TestResourceArithmeticMatchesTheAllocator(t *testing.T) {
	gen := rapid.Custom(func(t *rapid.T) []*messages.Resource {
		text := fmt.Sprintf("cpus:%d.%d;mem:%d", rapid.IntRange(0, 8).Draw(t, "cpus"), rapid.IntRange(0, 9).Draw(t, "tenths"), rapid.IntRange(0, 4096).Draw(t, "mem"))
		if rapid.Bool().Draw(t, "ports") {
			b := rapid.IntRange(31000, 31100).Draw(t, "begin")
			text += fmt.Sprintf(";ports:[%d-%d]", b, b+rapid.IntRange(0, 50).Draw(t, "len"))
		}
		rs, err := messages.ParseResources(text)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	})
	rapid.Check(t, func(t *rapid.T) {
		a, b := gen.Draw(t, "a"), gen.Draw(t, "b")
		pa, _, _ := policy.FromMessages(a)
		pb, _, _ := policy.FromMessages(b)
		sum, _, _ := policy.FromMessages(messages.SumResources(a, b))
		if want := pa.Add(pb); sum.String() != want.String() {
			t.Fatalf("sum %s, allocator %s", sum, want)
		}
		if got, want := messages.ContainsResources(a, b), pa.Contains(pb); got != want {
			t.Fatalf("contains(%s, %s) = %v, allocator %v", pa, pb, got, want)
		}
		if pa.Contains(pb) {
			diff, _, _ := policy.FromMessages(messages.SubtractResources(a, b))
			if want := pa.Sub(pb); diff.String() != want.String() {
				t.Fatalf("%s - %s = %s, allocator %s", pa, pb, diff, want)
			}
		}
	})
}

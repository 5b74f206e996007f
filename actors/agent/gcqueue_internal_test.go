package agent

import (
	"slices"
	"testing"
	"time"
)

func TestGCQueueTakesWhatIsDueEarliestFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var q gcQueue
	if _, ok := q.next(); ok {
		t.Fatal("an empty queue has a next")
	}
	q.add("c", t0.Add(3*time.Hour))
	q.add("a", t0.Add(time.Hour))
	q.add("old", t0.Add(-time.Hour)) // left by an earlier run, already due
	q.add("b", t0.Add(2*time.Hour))
	q.add("a2", t0.Add(time.Hour))
	if next, ok := q.next(); !ok || !next.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("next %v %v, want the earliest, an hour ago", next, ok)
	}
	if got := q.popDue(t0); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("due at t0: %v", got)
	}
	got := q.popDue(t0.Add(2 * time.Hour))
	slices.Sort(got[:2]) // a and a2 are due at the same time, in either order
	if !slices.Equal(got, []string{"a", "a2", "b"}) {
		t.Fatalf("due at t0+2h: %v, want a, a2, b", got)
	}
	if next, ok := q.next(); !ok || !next.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("next %v %v, want c's", next, ok)
	}
	if got := q.popDue(t0.Add(3*time.Hour - time.Nanosecond)); len(got) != 0 {
		t.Fatalf("due before c: %v", got)
	}
	if got := q.popDue(t0.Add(3 * time.Hour)); !slices.Equal(got, []string{"c"}) || q.Len() != 0 {
		t.Fatalf("due at c's time: %v, %d left", got, q.Len())
	}
}

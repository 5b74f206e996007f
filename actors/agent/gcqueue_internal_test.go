package agent

import (
	"fmt"
	"runtime"
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

// BenchmarkSandboxesWaitingForGC measures what a finished sandbox costs
// while it waits for the GC delay: an entry of the queue, against the
// runtime timer and closure each had before (time.AfterFunc of a week).
func BenchmarkSandboxesWaitingForGC(b *testing.B) {
	const n = 100_000
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = fmt.Sprintf("/var/lib/agora/frameworks/f-%d/tasks/task-%d", i%50, i)
	}
	held := func(b *testing.B, hold func() func()) {
		for b.Loop() {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			release := hold()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/sandbox")
			release()
		}
	}
	b.Run("queue", func(b *testing.B) {
		held(b, func() func() {
			var q gcQueue
			now := time.Now()
			for i, dir := range dirs {
				q.add(dir, now.Add(7*24*time.Hour+time.Duration(i)))
			}
			return func() { runtime.KeepAlive(q) }
		})
	})
	b.Run("timer-each", func(b *testing.B) {
		held(b, func() func() {
			sent := make(chan any, 1)
			for _, dir := range dirs {
				msg := any(gcEntry{dir: dir}) // the message each closure sent
				time.AfterFunc(7*24*time.Hour, func() { sent <- msg })
			}
			// Left armed, as the agent left them: stopped, they would
			// linger in the runtime's timer heaps until it next tidies
			// them, inside the next op's count. They die with the
			// benchmark's process.
			return func() {}
		})
	})
}

package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

// The writer carries out a batch in order; of several ops on one path
// only the last is done, and its report covers the ones it replaced.
func TestDiskWriterKeepsOrderAndSkipsReplacedWrites(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	d := newDisk().lanes[0]
	d.queue = []diskOp{
		{seq: 1, owner: "A", path: a, data: []byte("1")},
		{seq: 2, owner: "B", path: b, data: []byte("x")},
		{seq: 3, owner: "A", path: a, data: []byte("2")},
		{seq: 4, owner: "B", path: b, remove: true},
	}
	d.wake <- struct{}{}
	ctx, cancel := context.WithCancel(t.Context())
	var done []diskDone
	var touched []string
	d.write(ctx, func(p string) { touched = append(touched, filepath.Base(p)) }, func(m diskDone) {
		done = append(done, m)
		if len(done) == 2 {
			cancel() // the writer returns once the batch is done
		}
	})
	if got := []uint64{done[0].seq, done[1].seq}; !slices.Equal(got, []uint64{3, 4}) || done[0].owner != "A" || done[1].owner != "B" {
		t.Fatalf("reported %+v, want A's op 3 then B's op 4", done)
	}
	if !slices.Equal(touched, []string{"a", "b"}) {
		t.Fatalf("carried out ops on %v, want one on a then one on b", touched)
	}
	if got, _ := os.ReadFile(a); string(got) != "2" {
		t.Fatalf("a holds %q, want the last write", got)
	}
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Fatalf("b was removed last, yet: %v", err)
	}
}

// whenDurable runs at once when the owner has nothing pending, else after
// the ops queued so far (not later ones), in the order it was asked; an
// owner with nothing pending and no waiter is forgotten.
func TestWhenDurableWaitsForTheOpsQueuedSoFar(t *testing.T) {
	a := &agent{log: slog.New(slog.DiscardHandler), disk: newDisk()}
	for _, l := range a.disk.lanes {
		l.running = true // no writer: the test reports ops done itself
	}
	var ran []string
	note := func(s string) func(actor.Context, error) { return func(actor.Context, error) { ran = append(ran, s) } }

	a.whenDurable(nil, "task", note("idle"))
	a.persist("task", "/x", []byte("1")) // op 1
	a.whenDurable(nil, "task", note("after 1"))
	a.persist("task", "/x", []byte("2")) // op 2
	a.whenDurable(nil, "task", note("after 2"))
	a.handleDiskDone(nil, diskDone{owner: "task", seq: 1})
	if !slices.Equal(ran, []string{"idle", "after 1"}) {
		t.Fatalf("ran %v after op 1", ran)
	}
	a.handleDiskDone(nil, diskDone{owner: "task", seq: 2})
	if !slices.Equal(ran, []string{"idle", "after 1", "after 2"}) {
		t.Fatalf("ran %v after op 2", ran)
	}
	if len(a.disk.owners) != 0 {
		t.Fatalf("idle owners kept: %v", a.disk.owners)
	}
}

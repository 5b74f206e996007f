package acl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A rewritten file replaces the list on the next tick; a bad rewrite is
// refused and the list in force stays, until a good one comes.
func TestWatchFileAppliesGoodListsAndRefusesBadOnes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acls.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"view_state": [{"principals": ["alice"]}]}`)
	l, text, err := LoadFile(path)
	if err != nil || !l.Allows("alice", ViewState, "") || l.Allows("bob", ViewState, "") {
		t.Fatalf("LoadFile: %v", err)
	}
	ticks := make(chan time.Time)
	applied := make(chan *List, 4)
	refused := make(chan error, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		WatchFile(ctx, path, text, ticks, func(l *List, _ []byte) { applied <- l }, func(err error) { refused <- err })
	}()
	tick := func() { ticks <- time.Time{}; ticks <- time.Time{} } // the second waits for the first to be handled

	write(`{"view_state": [{"principals": ["bob"]}]}`)
	tick()
	if l := <-applied; !l.Allows("bob", ViewState, "") || l.Allows("alice", ViewState, "") {
		t.Fatal("the rewritten list was not the one applied")
	}
	write(`{"view_state": [{"principals": ["bob"]}], "run_task": []}`)
	tick()
	if err := <-refused; !errors.Is(err, ErrInvalid) {
		t.Fatalf("refused: %v; want ErrInvalid", err)
	}
	if len(applied) != 0 {
		t.Fatal("a bad list was applied")
	}
	write(`{"view_state": [{"principals": ["*"]}]}`)
	tick()
	if l := <-applied; !l.Allows("carol", ViewState, "") {
		t.Fatal("the good list after a bad one was not applied")
	}
	cancel()
	<-done

	if _, _, err := LoadFile(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadFile of a missing file: %v", err)
	}
}

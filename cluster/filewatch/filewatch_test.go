package filewatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The file is read on each tick the test sends, and only a change of
// content is handed on; a missing file is reported once and nothing
// changes.
func TestPollHandsOnChangedContentOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acls.json")
	// Written whole and renamed into place, as an operator's editor or
	// config tool does: Poll's read of the second tick below may run
	// while the test writes again, and a file truncated in place would be
	// read empty in between.
	write := func(s string) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	ticks := make(chan time.Time)
	got := make(chan string, 10)
	failures := make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Poll(ctx, path, []byte("one"), ticks, func(b []byte) { got <- string(b) }, func(err error) { failures <- err })
	}()
	// tick sends a tick and then another: the second is taken only once
	// the first was handled, so what the first caused is in the channels.
	tick := func() { ticks <- time.Time{}; ticks <- time.Time{} }

	tick()
	if len(got) != 0 {
		t.Fatalf("unchanged content handed on: %q", <-got)
	}
	write("two")
	tick()
	if s := <-got; s != "two" {
		t.Fatalf("got %q, want two", s)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	tick()
	tick()
	if len(failures) != 1 {
		t.Fatalf("a missing file was reported %d times; want once", len(failures))
	}
	if err := <-failures; !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("failure: %v", err)
	}
	write("two")
	tick()
	if len(got) != 0 {
		t.Fatalf("the same content again was handed on: %q", <-got)
	}
	write("three")
	tick()
	if s := <-got; s != "three" {
		t.Fatalf("got %q, want three", s)
	}
	cancel()
	<-done
}

func TestReadRefusesHugeFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, make([]byte, MaxSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil {
		t.Fatal("a file over MaxSize was read")
	}
}

package mesosapi

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// A burst of records put while the writer is busy goes out in one write,
// framed and in order, and the writer is woken once for it.
func TestOutboxCoalescesABurstIntoOneWrite(t *testing.T) {
	o := newOutbox(10)
	for _, m := range []string{"a", "bc", "def"} {
		msg := []byte(m)
		if !o.put(msg) {
			t.Fatalf("put %q refused with room left", m)
		}
		msg[0] = 'x' // the outbox kept its own copy
	}
	<-o.ready
	select {
	case <-o.ready:
		t.Fatal("woken twice for one batch")
	default:
	}
	var w countingWriter
	first, err := o.writeTo(&w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.buf.String(), "1\na2\nbc3\ndef"; got != want || w.writes != 1 {
		t.Fatalf("wrote %q in %d writes; want %q in 1", got, w.writes, want)
	}
	// Nothing pending: the next wake-up (a token left by a put that raced
	// with take) writes nothing.
	spare, err := o.writeTo(&w, first)
	if err != nil || len(spare) != 0 || w.writes != 1 {
		t.Fatalf("empty outbox wrote: %q %v, %d writes", spare, err, w.writes)
	}
	// The buffers are swapped, not reallocated, while they stay small:
	// the first batch's buffer holds the next.
	o.put([]byte("g"))
	<-o.ready
	if got, _ := o.writeTo(&w, spare); &got[0] != &first[:1][0] {
		t.Fatal("the written buffer was not reused")
	}
}

// The bound is on records waiting: a writer that far behind is cut off
// (put refuses), and taking the backlog makes room again.
func TestOutboxBoundsTheBacklog(t *testing.T) {
	o := newOutbox(2)
	if !o.put([]byte("1")) || !o.put([]byte("2")) {
		t.Fatal("refused within the bound")
	}
	if o.put([]byte("3")) {
		t.Fatal("a third record was queued past a bound of 2")
	}
	if _, err := o.writeTo(io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	if !o.put([]byte("4")) {
		t.Fatal("refused after the backlog was written")
	}
}

// A large record's buffer is not kept once written.
func TestOutboxDropsLargeBuffers(t *testing.T) {
	o := newOutbox(2)
	o.put([]byte(strings.Repeat("x", 2*keepBytes)))
	big, _ := o.writeTo(io.Discard, nil)
	o.put([]byte("y"))
	if got := o.take(big); cap(got) > keepBytes {
		t.Fatalf("pending kept a %d-byte buffer", cap(got))
	}
	if o.pending != nil {
		t.Fatalf("the %d-byte spare was kept", cap(o.pending))
	}
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) { w.writes++; return w.buf.Write(p) }

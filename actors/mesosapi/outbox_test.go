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
	first, _, err := o.writeTo(&w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.buf.String(), "1\na2\nbc3\ndef"; got != want || w.writes != 1 {
		t.Fatalf("wrote %q in %d writes; want %q in 1", got, w.writes, want)
	}
	// Nothing pending: the next wake-up (a token left by a put that raced
	// with take) writes nothing.
	spare, wrote, err := o.writeTo(&w, first)
	if err != nil || wrote || w.writes != 1 {
		t.Fatalf("empty outbox wrote: %v %v, %d writes", wrote, err, w.writes)
	}
	// The buffers are swapped, not reallocated, while they stay small:
	// the first batch's buffer holds the next.
	o.put([]byte("g"))
	<-o.ready
	if got, _, _ := o.writeTo(&w, spare); &got[:1][0] != &first[:1][0] {
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
	if _, _, err := o.writeTo(io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	if !o.put([]byte("4")) {
		t.Fatal("refused after the backlog was written")
	}
}

// A large record's buffer is not kept by the stream once written (it
// goes back to largeBuffers), nor taken as the pending buffer.
func TestOutboxDropsLargeBuffers(t *testing.T) {
	o := newOutbox(2)
	o.put([]byte(strings.Repeat("x", 2*keepBytes)))
	if spare, _, _ := o.writeTo(io.Discard, nil); cap(spare) > keepBytes {
		t.Fatalf("the writer kept a %d-byte buffer", cap(spare))
	}
	o.put([]byte("y"))
	if got := o.take(make([]byte, 0, 2*keepBytes)); cap(got) > keepBytes {
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

// An event encoded behind recordRoom and framed in place is the record
// AppendRecord makes of it, whatever the length's digits.
func TestFrameInPlaceIsAppendRecord(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 99, 100, 12345, 1 << 20} {
		msg := bytes.Repeat([]byte{'m'}, n)
		got := frame(append(recordBuffer(nil), msg...))
		if want := AppendRecord(nil, msg); !bytes.Equal(got, want) {
			t.Fatalf("a %d-byte event framed in place: %.20q...; want %.20q...", n, got, want)
		}
	}
}

// A large record put on an empty outbox is queued as it is (no copy: its
// buffer becomes the pending one, the emptied one handed back); records
// behind it are appended to it, a large one behind others is copied, and
// the bound holds for both kinds.
func TestOutboxAdoptsALargeRecord(t *testing.T) {
	o := newOutbox(3)
	small := []byte("first")
	o.pending = append(make([]byte, 0, 64), "x"...)[:0] // an emptied spare, as take leaves it
	spare := o.pending
	large := frame(append(recordBuffer(nil), bytes.Repeat([]byte{'L'}, 2*keepBytes)...))
	old, adopted, ok := o.putRecord(large)
	if !ok || !adopted || &o.pending[0] != &large[0] {
		t.Fatalf("a large record on an empty outbox: adopted %v, ok %v, or copied", adopted, ok)
	}
	if cap(old) != cap(spare) {
		t.Fatalf("handed back a %d-byte buffer; want the emptied pending one (%d)", cap(old), cap(spare))
	}
	if _, adopted, ok := o.putRecord(frame(append(recordBuffer(nil), small...))); !ok || adopted {
		t.Fatalf("a small record behind it: adopted %v, ok %v", adopted, ok)
	}
	large2 := frame(append(recordBuffer(nil), bytes.Repeat([]byte{'M'}, 2*keepBytes)...))
	if _, adopted, ok := o.putRecord(large2); !ok || adopted {
		t.Fatalf("a large record behind others: adopted %v, ok %v; want copied", adopted, ok)
	}
	if _, _, ok := o.putRecord(large2); ok {
		t.Fatal("a fourth record was queued past a bound of 3")
	}
	<-o.ready
	var w countingWriter
	if _, _, err := o.writeTo(&w, nil); err != nil {
		t.Fatal(err)
	}
	want := AppendRecord(AppendRecord(AppendRecord(nil, bytes.Repeat([]byte{'L'}, 2*keepBytes)), small), bytes.Repeat([]byte{'M'}, 2*keepBytes))
	if !bytes.Equal(w.buf.Bytes(), want) || w.writes != 1 {
		t.Fatalf("wrote %d bytes in %d writes; want the three records, %d bytes in 1", w.buf.Len(), w.writes, len(want))
	}
}

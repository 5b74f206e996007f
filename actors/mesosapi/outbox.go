package mesosapi

import (
	"io"
	"strconv"
	"sync"
)

// outbox holds a stream's encoded records between the actor that
// produces them and the HTTP handler that writes them. Records pile up in
// one buffer while the handler is busy writing the previous batch, so a
// burst of events (a framework's RUNNING updates, one per task) costs one
// write and one flush of the connection instead of one each; and the two
// buffers are reused, so a record costs no allocation of its own.
type outbox struct {
	mu      sync.Mutex
	pending []byte // whole records not yet taken by the writer
	records int    // in pending
	max     int    // records pending at most; more cut the stream off
	// ready holds a token while pending is not empty: the writer waits on
	// it.
	ready chan struct{}
}

// keepBytes bounds the buffers an outbox and a bridge keep between uses:
// one large event (the first OFFERS of a big cluster is half a
// megabyte) must not pin that much memory for every subscription.
// Larger buffers go back to largeBuffers, shared by every stream.
const keepBytes = 64 << 10

// largeBuffers holds the buffers of large events (a new framework's
// first OFFERS: 256 offers a message, 100-200 kB) between uses, so that
// the next large event is encoded without growing a buffer from 64 kB
// again (two or three copies and as many allocations, half the bridge's
// time for such an event) and the garbage collector is not handed
// hundreds of kilobytes per subscription. The pool is shared, and
// emptied by the collector when large events stop.
var largeBuffers sync.Pool // of *[]byte

// release keeps buf for reuse: returned if small enough to keep, else
// parked in largeBuffers (nil returned).
func release(buf []byte) []byte {
	if cap(buf) <= keepBytes {
		return buf[:0]
	}
	buf = buf[:0]
	largeBuffers.Put(&buf)
	return nil
}

// largeBuffer is an empty buffer for an event of about size bytes: buf
// if it is large already, else one from largeBuffers, else a new one of
// that size.
func largeBuffer(buf []byte, size int) []byte {
	if cap(buf) > keepBytes {
		return buf[:0]
	}
	if p, ok := largeBuffers.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, size)
}

// recordRoom is the room an event is encoded behind (recordBuffer), for
// its RecordIO header, the length in decimal and a newline: 10 digits
// cover any event (a stream's events are far below 10 GB).
const recordRoom = 11

// recordBuffer is buf emptied but for the room of a record's header:
// an event appended to it is framed in place by frame.
func recordBuffer(buf []byte) []byte {
	if cap(buf) < recordRoom {
		buf = make([]byte, 0, 512)
	}
	return buf[:recordRoom]
}

// frame writes the RecordIO header of the event encoded at
// buf[recordRoom:] into the room before it, and returns the record.
func frame(buf []byte) []byte {
	var hdr [recordRoom]byte
	h := strconv.AppendInt(hdr[:0], int64(len(buf)-recordRoom), 10)
	h = append(h, '\n')
	start := recordRoom - len(h)
	copy(buf[start:], h)
	return buf[start:]
}

func newOutbox(max int) *outbox {
	return &outbox{max: max, ready: make(chan struct{}, 1)}
}

// put appends one RecordIO record holding msg (copied: the caller may
// reuse it). false: the writer is max records behind, and the record was
// not queued.
func (o *outbox) put(msg []byte) bool {
	o.mu.Lock()
	if o.records >= o.max {
		o.mu.Unlock()
		return false
	}
	o.pending = AppendRecord(o.pending, msg)
	o.records++
	first := o.records == 1
	o.mu.Unlock()
	o.wake(first)
	return true
}

// putRecord queues a whole record (framed in place: frame). One in a
// large buffer (over keepBytes, from largeBuffers: a new framework's first
// offers) becomes the pending buffer itself when nothing is pending, so
// that it goes out without a copy and the records behind it (its other
// offers) are appended to a buffer that has room for them; the emptied
// buffer it replaces is handed back (old) for the caller to reuse
// (adopted true). Otherwise the record is copied behind the others, as
// put does. ok false: the writer is max records behind, and the record
// was not queued.
func (o *outbox) putRecord(rec []byte) (old []byte, adopted, ok bool) {
	o.mu.Lock()
	if o.records >= o.max {
		o.mu.Unlock()
		return nil, false, false
	}
	if adopted = len(o.pending) == 0 && cap(rec) > keepBytes; adopted {
		old, o.pending = o.pending, rec
	} else {
		o.pending = append(o.pending, rec...)
	}
	o.records++
	first := o.records == 1
	o.mu.Unlock()
	o.wake(first)
	return old, adopted, true
}

// wake tells the writer that records wait, when the one just queued is the
// first since it last took them (it is not waiting otherwise).
func (o *outbox) wake(first bool) {
	if first {
		select {
		case o.ready <- struct{}{}:
		default:
		}
	}
}

// take swaps the pending records for spare (emptied) and returns them;
// empty when nothing is pending.
func (o *outbox) take(spare []byte) []byte {
	spare = release(spare)
	o.mu.Lock()
	out := o.pending
	o.pending, o.records = spare, 0
	o.mu.Unlock()
	return out
}

// writeTo writes what is pending to w (wrote: there was some), then
// hands back the buffer to reuse as take's spare; a large one goes back to
// largeBuffers at once, for the next large event (a new framework's
// offers come four events at a time). Nothing pending writes nothing.
func (o *outbox) writeTo(w io.Writer, spare []byte) (next []byte, wrote bool, err error) {
	batch := o.take(spare)
	if len(batch) == 0 {
		return batch, false, nil
	}
	_, err = w.Write(batch)
	return release(batch), true, err
}

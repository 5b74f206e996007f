package mesosapi

import (
	"io"
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
const keepBytes = 64 << 10

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
	if first {
		select {
		case o.ready <- struct{}{}:
		default:
		}
	}
	return true
}

// take swaps the pending records for spare (emptied) and returns them;
// empty when nothing is pending.
func (o *outbox) take(spare []byte) []byte {
	if cap(spare) > keepBytes {
		spare = nil
	}
	o.mu.Lock()
	out := o.pending
	o.pending, o.records = spare[:0], 0
	o.mu.Unlock()
	return out
}

// writeTo writes what is pending to w, then hands back the buffer to
// reuse as take's spare. Nothing pending writes nothing.
func (o *outbox) writeTo(w io.Writer, spare []byte) ([]byte, error) {
	batch := o.take(spare)
	if len(batch) == 0 {
		return batch, nil
	}
	_, err := w.Write(batch)
	return batch, err
}

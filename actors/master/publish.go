package master

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/messages"
)

// Snapshot is an immutable view of the master's state. Its JSON is rendered
// once, by the first reader that needs it, never by the master actor; its
// gzip encoding likewise, by the first reader that accepts gzip, so that
// snapshots nobody asks for compressed are never compressed, and readers
// that arrive while it is being compressed wait for that one compression.
type Snapshot struct {
	State *messages.MasterState
	// seq tells this snapshot from every other of this process (the
	// ETag's number); 0 for a snapshot not published by a Publisher.
	seq uint64
	// superseded is when a newer snapshot was published (unix
	// nanoseconds; 0 while it is the newest): how stale Serving's
	// answer may be counts from it.
	superseded atomic.Int64
	jsonOnce   sync.Once
	json       []byte
	gzipOnce   sync.Once
	gzip       []byte
	// jsonDone and gzipDone are set once json and gzip are (read
	// without waiting for the Once).
	jsonDone, gzipDone atomic.Bool
	// summary is the snapshot's /state/summary, rendered (and compressed)
	// by its first reader: small (no entry per agent), so readers never wait for an
	// older one as they may for the whole state (Serving).
	summaryOnce, summaryGzipOnce sync.Once
	summary, summaryGzip         []byte
}

// Summary renders the snapshot's summary (summarize) as JSON, on one
// line, as JSON renders the state.
func (s *Snapshot) Summary() []byte {
	s.summaryOnce.Do(func() {
		s.summary, _ = streamJSON.Marshal(summarize(s.State))
	})
	return s.summary
}

// view is one of the snapshot's HTTP representations: the whole state or
// its summary, each as JSON or gzip-compressed, each with its own ETag.
type view struct {
	summary, gzip bool
}

// body is the snapshot's view, rendered now if not yet.
func (s *Snapshot) body(v view) []byte {
	if !v.summary {
		return s.encoded(v.gzip)
	}
	if !v.gzip {
		return s.Summary()
	}
	s.summaryGzipOnce.Do(func() { s.summaryGzip = gzipBytes(s.Summary()) })
	return s.summaryGzip
}

// etag is the view's entity tag (quoted): every view is a representation
// of its own, so each has its own tag.
func (s *Snapshot) etag(v view) string {
	tag := etagPrefix + strconv.FormatUint(s.seq, 10)
	if v.summary {
		tag += "-summary"
	}
	if v.gzip {
		tag += "-gzip"
	}
	return `"` + tag + `"`
}

// encoded is the snapshot's body for a reader (gzip or not), rendered
// now if not yet.
func (s *Snapshot) encoded(gz bool) []byte {
	if gz {
		return s.Gzip()
	}
	return s.JSON()
}

// isEncoded reports whether encoded(gz) would answer at once.
func (s *Snapshot) isEncoded(gz bool) bool {
	if gz {
		return s.gzipDone.Load()
	}
	return s.jsonDone.Load()
}

// JSON renders the snapshot with proto field names, on one line (so the
// state stream's SSE data fields carry the same bytes /state answers): at
// 10,000 agents indentation made the answer 21 MB instead of 11.5 and its
// render 3.7 times slower (protojson's indenting writer), and every poller
// paid for the whitespace again when it inflated it. Pipe it through jq
// to read it.
func (s *Snapshot) JSON() []byte {
	s.jsonOnce.Do(func() {
		s.json, _ = streamJSON.Marshal(s.State)
		s.jsonDone.Store(true)
	})
	return s.json
}

// Gzip is JSON() gzip-compressed (compressed once, at the first call).
func (s *Snapshot) Gzip() []byte {
	s.gzipOnce.Do(func() {
		s.gzip = gzipBytes(s.JSON())
		s.gzipDone.Store(true)
	})
	return s.gzip
}

// ETag is the snapshot's entity tag for its JSON (quoted, as HTTP sends
// it); the gzip encoding's is the same with a -gzip suffix, as an encoding
// is a representation of its own. It names the process (a random number
// drawn at start) and the snapshot's place in it, so that no two snapshots
// of any master share one, even across a failover or a restart.
func (s *Snapshot) ETag() string { return s.etag(view{}) }

// etagPrefix is drawn once per process; snapSeq numbers the snapshots of
// every Publisher of the process.
var (
	etagPrefix = func() string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:]) + "-"
	}()
	snapSeq atomic.Uint64
)

// gzipBytes compresses b at the fastest level: a /state body at 10,000
// agents is 10 MB of indented JSON, which compresses about 10-fold even
// so, and the compression runs on the cores that serve it.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b)/8 + 1024)
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// Publisher hands the master's latest snapshot to readers on other
// goroutines (HTTP, CLI) so that reading state never blocks the master.
type Publisher struct {
	cur     atomic.Pointer[Snapshot]
	changed signal
	// rec is set while Record runs.
	rec atomic.Pointer[recorder]
	// encoded holds, per encoding (0 JSON, 1 gzip), the newest snapshot
	// encoded so far; encoding is set while a snapshot is being encoded
	// for Serving, and encodedSig fires when it is done.
	encoded    [2]atomic.Pointer[Snapshot]
	encoding   atomic.Bool
	encodedSig signal
	// restUntil is when the next encoding of a large snapshot may start
	// (unix nanoseconds): see Serving.
	restUntil atomic.Int64
}

// Large snapshots: see Serving. A large snapshot's encoding rests for
// encodingRest times its duration before the next starts, and a large
// snapshot is served for at most staleFor after a newer one was
// published.
const (
	bigJSON      = 256 << 10
	encodingRest = 4
	staleFor     = 5 * time.Second
)

// Serving returns the snapshot a plain read (no long poll) is answered
// with, encoded as asked (gzip or the JSON): the newest, encoded now if it
// is not yet. Small clusters (and tests) always get the newest.
//
// Where snapshots are large (the newest rendered JSON is over bigJSON,
// 256 KiB: about 300 agents; at 10,000 agents it is 6-11 MB and takes
// 0.1-0.2 s of CPU to render and compress), a reader does not wait for
// the newest snapshot's encoding: it gets the newest one already encoded,
// unless a newer one was published staleFor ago, and the newest is encoded
// in the background. Readers that each waited for the render would all be
// that late every time the state changed, for a snapshot a few hundred
// milliseconds newer. After each such encoding the next one rests for
// encodingRest times as long, so that polled state costs the master's
// machine at most a fifth of a core however many read it (back-to-back
// renders of a busy 10,000-agent cluster took a whole core): the answer is
// about a second behind there, and never more than staleFor. A reader
// whose newest encoded snapshot was superseded longer ago (nobody read
// for a while) waits for the newest. The rule is by size, not by time, so that it does not
// depend on how loaded the machine is.
//
// Encodings run one at a time, on a goroutine of their own, and only for
// snapshots that are read: never more encodings than reads. Nil before
// the first snapshot. Encodings are held for at most three snapshots: the
// newest with its JSON rendered, the newest compressed (the same one
// unless readers of the JSON alone came since) and the one being encoded.
func (p *Publisher) Serving(gz bool) *Snapshot {
	k := 0
	if gz {
		k = 1
	}
	slot := &p.encoded[k]
	for {
		done := p.encodedSig.wait()
		latest := p.Latest()
		if latest == nil || latest.isEncoded(gz) {
			return latest
		}
		// Checked at every turn: a reader that came before any snapshot
		// was encoded waits for the first encoding, and not for the ones
		// of the snapshots published meanwhile.
		served := slot.Load()
		stale := served != nil && len(p.encoded[0].Load().JSON()) >= bigJSON &&
			time.Since(time.Unix(0, served.superseded.Load())) < staleFor
		if p.encoding.CompareAndSwap(false, true) {
			var rest time.Duration
			if stale {
				rest = time.Until(time.Unix(0, p.restUntil.Load()))
			}
			encode := func() {
				s := p.Latest() // the newest when the rest is over
				start := time.Now()
				p.encodedNow(s, gz)
				if took := time.Since(start); len(s.JSON()) >= bigJSON {
					// At most half of staleFor: a reader that must
					// not be served stale waits for the rest too.
					p.restUntil.Store(time.Now().Add(min(encodingRest*took, staleFor/2)).UnixNano())
				}
				p.encoding.Store(false)
				p.encodedSig.fire(func() {})
			}
			if rest > 0 {
				time.AfterFunc(rest, encode)
			} else {
				go encode()
			}
		}
		if stale {
			return served
		}
		<-done
	}
}

// encodedNow encodes s (gzip or the JSON) if not yet, and records it as
// the newest encoded, unless a newer one is. A gzip encoding renders the
// JSON first: s is the newest JSON too.
func (p *Publisher) encodedNow(s *Snapshot, gz bool) {
	s.encoded(gz)
	slots := []*atomic.Pointer[Snapshot]{&p.encoded[0]}
	if gz {
		slots = append(slots, &p.encoded[1])
	}
	for _, slot := range slots {
		for {
			old := slot.Load()
			if (old != nil && old.seq >= s.seq) || slot.CompareAndSwap(old, s) {
				break
			}
		}
	}
}

// Latest returns the newest snapshot, or nil before the first.
func (p *Publisher) Latest() *Snapshot { return p.cur.Load() }

// State is the newest snapshot's state, or nil before the first.
func (p *Publisher) State() *messages.MasterState {
	if s := p.Latest(); s != nil {
		return s.State
	}
	return nil
}

// Changed returns a channel closed when a snapshot newer than Latest() at
// the time of the call is published.
func (p *Publisher) Changed() <-chan struct{} { return p.changed.wait() }

func (p *Publisher) publish(st *messages.MasterState) {
	snap := &Snapshot{State: st, seq: snapSeq.Add(1)}
	if old := p.cur.Load(); old != nil {
		old.superseded.Store(time.Now().UnixNano())
	}
	p.changed.fire(func() { p.cur.Store(snap) })
}

// Record keeps the cluster's recent past (History: the last hour of its
// totals and a timeline of its events) from the snapshots published, until
// ctx ends, so that the state stream can send it to a browser when it
// connects. It runs on the caller's goroutine, never the master's: a
// snapshot costs it a pass over its agents and frameworks. It may lag
// behind the snapshots (a slow pass skips to the newest). One Record runs
// per Publisher; another returns at once.
func (p *Publisher) Record(ctx context.Context) {
	rec := &recorder{}
	if !p.rec.CompareAndSwap(nil, rec) {
		return
	}
	defer p.rec.CompareAndSwap(rec, nil)
	var seen *Snapshot
	for {
		changed := p.Changed()
		if s := p.Latest(); s != nil && s != seen {
			seen = s
			rec.observe(s.State)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// recorder is Record's History, readable by streams on other goroutines
// as immutable views.
type recorder struct {
	h       History
	cur     atomic.Pointer[historyView]
	changed signal
}

// historyView is the history after one snapshot. Nothing in it changes.
type historyView struct {
	points []*messages.ClusterPoint
	events []*messages.ClusterEvent
}

func (r *recorder) observe(st *messages.MasterState) {
	r.h.Observe(st)
	v := &historyView{points: r.h.Points(), events: r.h.Events()}
	r.changed.fire(func() { r.cur.Store(v) })
}

// signal wakes every waiter once per change.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next fire.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// fire makes change (under the lock, so that a waiter that saw the old
// state is woken) and wakes the waiters.
func (s *signal) fire(change func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

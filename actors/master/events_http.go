package master

import (
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/encoding/protojson"
)

// The state as a push stream (Server-Sent Events), for the web UI and for
// tools that follow the cluster: GET /events/state sends the latest
// snapshot at once, then each newer one as it is published. A subscriber
// that falls behind skips to the newest (snapshots replace each other), so
// a slow browser costs nothing but its own socket; the JSON of a snapshot
// is rendered once for every subscriber, never by the master actor.

// MaxStateStreams bounds the streams served at once; more are answered 503.
const MaxStateStreams = 1024

// streamKeepalive is how often an idle stream gets a comment, so proxies
// and the server's write deadline see it alive.
const streamKeepalive = 15 * time.Second

func serveStateEvents(pub *Publisher, access *HTTPAccess, streams *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !access.allows(w, r, acl.ViewState) {
			return
		}
		if streams.Add(1) > MaxStateStreams {
			streams.Add(-1)
			http.Error(w, fmt.Sprintf("too many state streams (%d): retry later, or read GET /state", MaxStateStreams), http.StatusServiceUnavailable)
			return
		}
		defer streams.Add(-1)
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		keepalive := time.NewTicker(streamKeepalive)
		defer keepalive.Stop()
		var sent *Snapshot
		var history historySent
		for {
			changed := pub.Changed()
			rec := pub.rec.Load()
			var recorded <-chan struct{} // nil: no recorder runs, no history
			if rec != nil {
				recorded = rec.changed.wait()
			}
			// The stream outlives the server's write timeout: each write
			// gets its own deadline.
			_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
			if snap := pub.Latest(); snap != nil && snap != sent {
				sent = snap
				if _, err := fmt.Fprintf(w, "event: state\nid: %d\ndata: %s\n\n", snap.State.SnapshotUnixNano, snap.JSON()); err != nil {
					return
				}
			}
			if rec != nil {
				if err := history.send(w, rec.cur.Load()); err != nil {
					return
				}
			}
			if rc.Flush() != nil {
				return
			}
			select {
			case <-changed:
			case <-recorded:
			case <-keepalive.C:
				if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
					return
				}
			case <-r.Context().Done():
				return
			}
		}
	}
}

// historySent is what a stream has sent of the recorder's history: the
// whole of it once (event "history": a StateHistory), then its changes
// (event "history" again, with the newest point, which replaces one of
// the same time, and the events after the last sent). A change is a few
// hundred bytes, rendered for each stream.
type historySent struct {
	view    *historyView
	lastSeq uint64
}

func (h *historySent) send(w io.Writer, v *historyView) error {
	if v == nil || v == h.view {
		return nil
	}
	first := h.view == nil
	var b []byte
	var err error
	if first {
		b, err = streamJSON.Marshal(&messages.StateHistory{Points: v.points, Events: v.events})
	} else {
		delta := &messages.StateHistory{}
		for i := len(v.events); i > 0 && v.events[i-1].Seq > h.lastSeq; i-- {
			delta.Events = v.events[i-1:]
		}
		if n, m := len(v.points), len(h.view.points); n > 0 && (m == 0 || v.points[n-1] != h.view.points[m-1]) {
			delta.Points = v.points[n-1:]
		}
		if len(delta.Events) == 0 && len(delta.Points) == 0 {
			h.view = v
			return nil
		}
		b, err = streamJSON.Marshal(delta)
	}
	if err != nil {
		return err
	}
	h.view = v
	if n := len(v.events); n > 0 {
		h.lastSeq = v.events[n-1].Seq
	}
	_, err = fmt.Fprintf(w, "event: history\ndata: %s\n\n", b)
	return err
}

// streamJSON renders /state and the stream's events on one line, with
// protojson's proto field names and every field.
var streamJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

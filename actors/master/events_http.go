package master

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/cluster/acl"
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

// compactJSON is the snapshot as one line of JSON, for an SSE data field.
func (s *Snapshot) compactJSON() []byte {
	s.compactOnce.Do(func() {
		s.compact, _ = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(s.State)
	})
	return s.compact
}

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
		for {
			changed := pub.Changed()
			// The stream outlives the server's write timeout: each write
			// gets its own deadline.
			_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
			if snap := pub.Latest(); snap != nil && snap != sent {
				sent = snap
				if _, err := fmt.Fprintf(w, "event: state\nid: %d\ndata: %s\n\n", snap.State.SnapshotUnixNano, snap.compactJSON()); err != nil {
					return
				}
				if rc.Flush() != nil {
					return
				}
			}
			select {
			case <-changed:
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

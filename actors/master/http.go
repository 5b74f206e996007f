package master

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxStateWait bounds a /state long poll.
const maxStateWait = 60 * time.Second

// HTTPHandler serves the master's operator API from published snapshots:
//
//	GET /state            the cluster state as JSON (proto field names)
//	GET /state?since=N&wait=D
//	                      long poll: wait up to D for a snapshot newer than
//	                      snapshot_unix_nano N, then answer as /state
//	GET /health           200 once the master serves state
//	GET /metrics          Prometheus metrics
//
// No request touches the master actor, so polling cannot slow it down.
func HTTPHandler(pub *Publisher, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		snap, err := waitSnapshot(r, pub)
		if err != "" {
			http.Error(w, err, http.StatusBadRequest)
			return
		}
		if snap == nil {
			http.Error(w, "master starting: no state yet, retry shortly", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(snap.JSON())
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if pub.Latest() == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return mux
}

func waitSnapshot(r *http.Request, pub *Publisher) (*Snapshot, string) {
	q := r.URL.Query()
	if q.Get("since") == "" {
		return pub.Latest(), ""
	}
	since, err := strconv.ParseInt(q.Get("since"), 10, 64)
	if err != nil {
		return nil, "since must be a snapshot_unix_nano integer"
	}
	wait := 10 * time.Second
	if s := q.Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil || wait < 0 {
			return nil, "wait must be a duration such as 5s"
		}
	}
	wait = min(wait, maxStateWait)
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		changed := pub.Changed()
		if s := pub.Latest(); s != nil && s.State.SnapshotUnixNano > since {
			return s, ""
		}
		select {
		case <-changed:
		case <-timeout.C:
			return pub.Latest(), ""
		case <-r.Context().Done():
			return pub.Latest(), ""
		}
	}
}

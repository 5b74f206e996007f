package scale

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Pollers at an interval poll on their schedule, not back to back: at
// most one poll per poller per interval, and a poll's latency counts from
// its scheduled time, so an answer that came late makes the next poll's
// figure late too (no coordinated omission).
func TestPollersAtAnInterval(t *testing.T) {
	var served atomic.Int64
	slow := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 2 { // the first timed poll: held until the schedule has passed it
			<-slow
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"agents":[]}`))
	}))
	defer srv.Close()
	go func() {
		// The held answer comes 1.1 s late on purpose: past its
		// poller's next scheduled time (at 0.5 s or 0.75 s).
		time.Sleep(1100 * time.Millisecond)
		close(slow)
	}()
	r := &run{cfg: Config{Pollers: 2, PollFor: 1500 * time.Millisecond, PollEvery: 500 * time.Millisecond}}
	out, err := r.poll(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	// 2 pollers x 3 scheduled times in 1.5 s at most (the check's
	// untimed read is not counted).
	if n := len(out.latencies); n == 0 || n > 6 {
		t.Fatalf("%d polls in 1.5 s at one per 0.5 s for 2 pollers; want 1-6", n)
	}
	// The held poll and the next of the same poller, which started
	// 0.35-0.6 s after its scheduled time, are both late; measured from
	// the request, only the held one would be.
	var late int
	for _, l := range out.latencies {
		if l >= 300*time.Millisecond {
			late++
		}
	}
	if late < 2 {
		t.Fatalf("latencies %v: the poll after the held answer is not counted from its schedule", out.latencies)
	}
}

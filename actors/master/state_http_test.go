package master

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// rawGet is a GET that shows the answer as sent: no transparent
// decompression (the client asks for what headers say, nothing more).
func rawGet(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip body cut: %v", err)
	}
	return out
}

// stateOf is a snapshot of n agents with a framework, as /state shows
// them at scale (about 1 KB of indented JSON per agent).
func stateOf(n int, at int64) *messages.MasterState {
	st := &messages.MasterState{Master: &messages.MasterInfo{Id: "m1", Address: "10.0.0.1:5055"}, Leading: true, SnapshotUnixNano: at,
		HeartbeatIntervalNanos: 5e9, MaxMissedHeartbeats: 5}
	for i := range n {
		st.Agents = append(st.Agents, &messages.AgentState{
			Info: &messages.AgentInfo{Id: &messages.AgentID{Value: fmt.Sprintf("a-%08d", i)}, Hostname: fmt.Sprintf("scale-host-%d-%d", i%2, i),
				Resources: []*messages.Resource{{Name: "cpus", Scalar: 32}, {Name: "mem", Scalar: 65536}}, Version: "f01a2b7",
				HttpAddress: fmt.Sprintf("10.0.%d.%d:5051", i/256%256, i%256)},
			Address: fmt.Sprintf("10.0.%d.%d:5055", i/256%256, i%256), Reachable: true,
			Used:               []*messages.Resource{{Name: "cpus", Scalar: 0.5}, {Name: "mem", Scalar: 640}},
			Offered:            []*messages.Resource{{Name: "cpus", Scalar: 31.5}, {Name: "mem", Scalar: 64896}},
			RegisteredUnixNano: at - int64(i)*1e6, LastSeenUnixNano: at - int64(i%5000)*1e6,
			Tasks: map[string]uint32{"TASK_RUNNING": 5},
		})
	}
	st.Frameworks = append(st.Frameworks, &messages.FrameworkState{Info: &messages.FrameworkInfo{Name: "flood"}, Connected: true,
		Tasks: map[string]uint32{"TASK_RUNNING": uint32(5 * n)}})
	return st
}

// /state is one snapshot in two encodings: the JSON as it always was, or
// gzip for a client that asks for it; each with its ETag, and a client
// that names either gets 304. The query (the long poll) still applies.
func TestStateGzipAndETag(t *testing.T) {
	pub := &Publisher{}
	srv := httptest.NewServer(HTTPHandler(pub, prometheus.NewRegistry(), nil, nil, nil, nil))
	defer srv.Close()
	pub.publish(stateOf(50, 1))
	snap := pub.Latest()

	plain, body := rawGet(t, srv.URL+"/state")
	if plain.StatusCode != 200 || plain.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, snap.JSON()) {
		t.Fatalf("GET /state without Accept-Encoding: %s, Content-Encoding %q, body %d B (want the JSON, %d B)",
			plain.Status, plain.Header.Get("Content-Encoding"), len(body), len(snap.JSON()))
	}
	// protojson, proto names, every field, on one line.
	if want, _ := (protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}).Marshal(snap.State); !bytes.Equal(body, want) {
		t.Fatal("/state's JSON is not protojson's rendering of the snapshot")
	}
	zipped, zbody := rawGet(t, srv.URL+"/state", "Accept-Encoding", "gzip, deflate, br")
	if zipped.StatusCode != 200 || zipped.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("GET /state accepting gzip: %s, Content-Encoding %q", zipped.Status, zipped.Header.Get("Content-Encoding"))
	}
	if !bytes.Equal(gunzip(t, zbody), body) || len(zbody) >= len(body)/2 {
		t.Fatalf("gzip body: %d B, not the JSON's %d B compressed", len(zbody), len(body))
	}
	if zipped.Header.Get("Content-Length") != fmt.Sprint(len(zbody)) || plain.Header.Get("Content-Length") != fmt.Sprint(len(body)) {
		t.Errorf("Content-Length %q and %q, want %d and %d", zipped.Header.Get("Content-Length"), plain.Header.Get("Content-Length"), len(zbody), len(body))
	}
	for _, resp := range []*http.Response{plain, zipped} {
		if resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("headers %v: want Vary: Accept-Encoding, Content-Type: application/json, Cache-Control: no-cache", resp.Header)
		}
	}
	tag, ztag := plain.Header.Get("ETag"), zipped.Header.Get("ETag")
	if tag == "" || ztag == "" || tag == ztag || tag != snap.ETag() {
		t.Fatalf("ETags %q (JSON) and %q (gzip): want two, different, quoted", tag, ztag)
	}

	// Accept-Encoding as RFC 9110 reads it.
	for header, gz := range map[string]bool{
		"gzip;q=0": false, "identity": false, "br": false, "*": true, "*;q=0.5": true, "gzip;q=0, *": false,
		"GZIP": true, "x-gzip": true, "deflate, gzip;q=0.1": true, "*;q=0": false, "gzip;q=oops": false,
	} {
		resp, b := rawGet(t, srv.URL+"/state", "Accept-Encoding", header)
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != gz || (gz && !bytes.Equal(gunzip(t, b), body)) || (!gz && !bytes.Equal(b, body)) {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want gzip %v", header, resp.Header.Get("Content-Encoding"), gz)
		}
	}

	// If-None-Match: either encoding's tag, weak or strong, in a list, or
	// *: 304 without a body, naming the tag the client has.
	for _, c := range []struct{ inm, accept, want string }{
		{tag, "", tag}, {ztag, "gzip", ztag}, {tag, "gzip", tag}, {"W/" + ztag, "", ztag},
		{`"other", ` + tag, "gzip", tag}, {"*", "", tag},
	} {
		resp, b := rawGet(t, srv.URL+"/state", "If-None-Match", c.inm, "Accept-Encoding", c.accept)
		if resp.StatusCode != http.StatusNotModified || len(b) != 0 || resp.Header.Get("ETag") != c.want || resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("If-None-Match %s: %s, %d B, ETag %q; want 304, no body, ETag %s", c.inm, resp.Status, len(b), resp.Header.Get("ETag"), c.want)
		}
	}
	if resp, _ := rawGet(t, srv.URL+"/state", "If-None-Match", `"`+etagPrefix+`0"`); resp.StatusCode != 200 {
		t.Errorf("If-None-Match naming no snapshot: %s, want 200", resp.Status)
	}

	// A new snapshot: the old tags no longer match, and a long poll for
	// it answers (gzip here) with the new one.
	done := make(chan *http.Response, 1)
	go func() {
		resp, b := rawGet(t, srv.URL+"/state?since=1&wait=30s", "Accept-Encoding", "gzip", "If-None-Match", ztag)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		done <- resp
	}()
	for pub.Latest() == snap {
		select {
		case resp := <-done:
			t.Fatalf("long poll answered before a newer snapshot: %s", resp.Status)
		default:
		}
		pub.publish(stateOf(50, 2))
	}
	resp := <-done
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != pub.Latest().etag(view{gzip: true}) || !bytes.Equal(gunzip(t, b), pub.Latest().JSON()) {
		t.Fatalf("long poll after a new snapshot: %s, ETag %q", resp.Status, resp.Header.Get("ETag"))
	}
	if pub.encoded[0].Load() != pub.Latest() || pub.encoded[1].Load() != pub.Latest() {
		t.Error("the long poll's snapshot is not recorded as the newest encoded: a plain read could get an older one")
	}
	if resp, _ := rawGet(t, srv.URL+"/state", "If-None-Match", tag); resp.StatusCode != 200 || resp.Header.Get("ETag") == tag {
		t.Errorf("the old snapshot's ETag after a new one: %s, ETag %q", resp.Status, resp.Header.Get("ETag"))
	}

	// Go's client asks for gzip by itself and hands back the JSON.
	got, err := http.Get(srv.URL + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	gb, _ := io.ReadAll(got.Body)
	if !got.Uncompressed || !bytes.Equal(gb, pub.Latest().JSON()) {
		t.Errorf("Go's default client: uncompressed %v, body %d B; want gzip on the wire and the JSON", got.Uncompressed, len(gb))
	}
}

// Every snapshot's gzip body decompresses to exactly its JSON, whatever
// the state (property).
func TestSnapshotGzipIsTheJSON(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		st := stateOf(rapid.IntRange(0, 30).Draw(rt, "agents"), rapid.Int64().Draw(rt, "at"))
		for _, a := range st.Agents {
			a.Info.Hostname = rapid.String().Draw(rt, "hostname")
			a.Reachable = rapid.Bool().Draw(rt, "reachable")
			a.Used[0].Scalar = rapid.Float64().Draw(rt, "cpus")
		}
		pub := &Publisher{}
		pub.publish(st)
		s := pub.Latest()
		if got := gunzip(t, s.Gzip()); !bytes.Equal(got, s.JSON()) {
			rt.Fatalf("gzip decompresses to %d B, not the JSON's %d B", len(got), len(s.JSON()))
		}
		if !strings.HasPrefix(s.ETag(), `"`) || !strings.HasSuffix(s.etag(view{gzip: true}), `-gzip"`) {
			rt.Fatalf("ETags %s %s", s.ETag(), s.etag(view{gzip: true}))
		}
	})
}

// Concurrent first readers of a snapshot share one compression.
func TestSnapshotGzipOnce(t *testing.T) {
	pub := &Publisher{}
	pub.publish(stateOf(200, 1))
	s := pub.Latest()
	first := make(chan []byte, 8)
	for range 8 {
		go func() { first <- s.Gzip() }()
	}
	b := <-first
	for range 7 {
		if other := <-first; &other[0] != &b[0] {
			t.Fatal("two compressions of one snapshot")
		}
	}
}

// Where encodings are slow, a reader does not wait for the newest
// snapshot's: it gets the newest encoded one while the newest is encoded
// once in the background (after a rest), and the newest once that is
// done, unless what it would get is older than staleFor. Where they are
// fast, a reader always gets the newest.
func TestServingWhileTheNewestEncodes(t *testing.T) {
	pub := &Publisher{}
	pub.publish(stateOf(3, 1))
	first := pub.Serving(false)
	if first != pub.Latest() || !first.isEncoded(false) {
		t.Fatal("the first snapshot is not served encoded")
	}
	pub.publish(stateOf(1500, 2)) // about 1.7 MB of JSON
	if got := pub.Serving(false); got != pub.Latest() {
		t.Fatal("after a snapshot of 1,500 agents, the reader did not get the newest")
	}
	pub.publish(stateOf(5000, 3))
	newest := pub.Latest()
	var got []*Snapshot
	for {
		done := pub.encodedSig.wait()
		s := pub.Serving(false)
		got = append(got, s)
		if s == newest {
			break
		}
		<-done
	}
	if len(got) < 2 || got[0].State.SnapshotUnixNano != 2 || !got[0].isEncoded(false) {
		t.Fatalf("while 5,000 agents' JSON rendered, readers got snapshots %v; want the previous one first", times(got))
	}
	if !newest.isEncoded(false) || newest.isEncoded(true) {
		t.Fatal("the newest snapshot: the JSON must be rendered, and nothing compressed that nobody asked for")
	}
	if pub.encoded[0].Load() != newest || pub.encoded[1].Load() != nil {
		t.Fatal("the newest encoded snapshot is not recorded")
	}
	if rest := time.Until(time.Unix(0, pub.restUntil.Load())); pub.restUntil.Load() == 0 || rest > staleFor/2 {
		t.Fatalf("rest after a large snapshot's encoding: none, or %v, more than half of staleFor", rest)
	}
	// An answer superseded more than staleFor ago is not served: the
	// reader waits for the newest.
	pub.publish(stateOf(5000, 4))
	newest.superseded.Store(time.Now().Add(-staleFor).UnixNano())
	if got := pub.Serving(false); got != pub.Latest() {
		t.Fatalf("the newest encoded snapshot was superseded %v ago; got snapshot %d, want the newest", staleFor, got.State.SnapshotUnixNano)
	}
	// The first gzip reader waits for its compression (none was made
	// yet), and that is the newest JSON too.
	pub.publish(stateOf(3, 5))
	if got := pub.Serving(true); got != pub.Latest() || pub.encoded[0].Load() != got || pub.encoded[1].Load() != got {
		t.Fatal("a gzip read of the newest snapshot: not served, or not recorded as the newest JSON and gzip")
	}
}

func times(ss []*Snapshot) []int64 {
	var out []int64
	for _, s := range ss {
		out = append(out, s.State.SnapshotUnixNano)
	}
	return out
}

// BenchmarkStateEncodings: what one /state answer at 10,000 agents costs
// to render, to compress (once per snapshot) and, on a client, to
// decompress (every poll).
func BenchmarkStateEncodings(b *testing.B) {
	st := stateOf(10_000, 1)
	b.Run("json", func(b *testing.B) {
		for range b.N {
			s := &Snapshot{State: st}
			b.SetBytes(int64(len(s.JSON())))
		}
	})
	js := (&Snapshot{State: st}).JSON()
	b.Run("gzip", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		var n int
		for range b.N {
			n = len(gzipBytes(js))
		}
		b.ReportMetric(float64(n), "B-gzip")
	})
	gz := gzipBytes(js)
	b.Run("gunzip", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		for range b.N {
			zr, _ := gzip.NewReader(bytes.NewReader(gz))
			if n, _ := io.Copy(io.Discard, zr); n != int64(len(js)) {
				b.Fatal("short")
			}
		}
	})
}

// BenchmarkStatePollers: 20 clients poll /state of 10,000 agents over
// TLS (httptest's server, HTTP/1.1, one kept-alive connection each), in
// this process: the server's rendering, compression, encryption and
// writes and the clients' decryption, decompression and reads share the
// process's cores, as on one machine. A new snapshot is published every
// 500 ms (a busy cluster's state changes that often). Each poll reads the
// whole answer, decompressed where it came gzip; its latency is from the
// request to the last byte. Reports p50/p99 and the bytes per poll.
func BenchmarkStatePollers(b *testing.B) {
	for _, c := range []struct {
		name string
		gzip bool
	}{{"identity", false}, {"gzip", true}} {
		b.Run(c.name, func(b *testing.B) {
			pub := &Publisher{}
			st := stateOf(10_000, 1)
			pub.publish(st)
			srv := httptest.NewUnstartedServer(HTTPHandler(pub, prometheus.NewRegistry(), nil, nil, nil, nil))
			srv.StartTLS()
			defer srv.Close()
			client := srv.Client()
			t := client.Transport.(*http.Transport)
			t.DisableCompression, t.MaxIdleConnsPerHost = !c.gzip, 20
			stop := make(chan struct{})
			published := make(chan struct{})
			go func() {
				defer close(published)
				tick := time.NewTicker(500 * time.Millisecond)
				defer tick.Stop()
				for at := int64(2); ; at++ {
					select {
					case <-stop:
						return
					case <-tick.C:
						next := proto.Clone(st).(*messages.MasterState)
						next.SnapshotUnixNano = at
						pub.publish(next)
					}
				}
			}()
			var mu sync.Mutex
			var lat []time.Duration
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var buf bytes.Buffer
					for next.Add(1) <= int64(b.N) {
						start := time.Now()
						resp, err := client.Get(srv.URL + "/state")
						if err != nil {
							b.Error(err)
							return
						}
						buf.Reset()
						_, err = buf.ReadFrom(resp.Body)
						resp.Body.Close()
						if err != nil || resp.StatusCode != 200 || resp.Uncompressed != c.gzip {
							b.Errorf("poll: %v %s uncompressed %v", err, resp.Status, resp.Uncompressed)
							return
						}
						d := time.Since(start)
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(stop)
			<-published
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
			}
		})
	}
}

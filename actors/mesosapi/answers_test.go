package mesosapi

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// countingListener counts the writes of its connections (what the
// answers cost in system calls).
type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return countingConn{c, l.writes}, err
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

// SyscallConn is the socket's, so that HoldAnswers reads it as it reads
// a TCP connection.
func (c countingConn) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// answersServer serves h behind HoldAnswers{Max: max}; it returns the
// address and the count of writes on its connections.
func answersServer(t *testing.T, max time.Duration, h http.HandlerFunc) (string, *atomic.Int64) {
	hs := httptest.NewUnstartedServer(h)
	writes := &atomic.Int64{}
	held := HoldAnswers{Listener: countingListener{hs.Listener, writes}, Max: max}
	hs.Listener, hs.Config.ConnContext = held, held.ConnContext
	hs.Start()
	t.Cleanup(hs.Close)
	return hs.Listener.Addr().String(), writes
}

// accepted answers 202, held, with the request's X-N echoed.
func accepted(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-N", r.Header.Get("X-N"))
	holdAnswer(r)
	w.WriteHeader(http.StatusAccepted)
}

func request(n int) string {
	return "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-N: " + strconv.Itoa(n) + "\r\n\r\n{}"
}

// readAnswer reads the next answer on br, within 10 s (a held answer
// nobody sends fails the test instead of hanging it).
func readAnswer(t *testing.T, conn net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading an answer: %v", err)
	}
	res.Body.Close()
	return res
}

// Calls written back to back get their answers in order, in fewer
// writes than answers: the server sends what it holds when it has read
// every call it had. (Max is an hour: no answer goes out by the timer.)
func TestPipelinedAnswersGoOutTogether(t *testing.T) {
	addr, writes := answersServer(t, time.Hour, accepted)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 40
	var batch []byte
	for i := range n {
		batch = append(batch, request(i)...)
	}
	if _, err := conn.Write(batch); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for i := range n {
		if res := readAnswer(t, conn, br); res.StatusCode != http.StatusAccepted || res.Header.Get("X-N") != strconv.Itoa(i) {
			t.Fatalf("answer %d: %s, X-N %q", i, res.Status, res.Header.Get("X-N"))
		}
	}
	if w := writes.Load(); w >= n {
		t.Fatalf("%d answers took %d writes; pipelined answers should share them", n, w)
	} else {
		t.Logf("%d answers in %d writes", n, w)
	}
}

// A client that waits for each answer before its next call gets it: the
// server's read for the next call sends it (not the timer: an hour).
func TestHeldAnswerOfAWaitingClient(t *testing.T) {
	addr, _ := answersServer(t, time.Hour, accepted)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i := range 3 {
		if _, err := conn.Write([]byte(request(i))); err != nil {
			t.Fatal(err)
		}
		if res := readAnswer(t, conn, br); res.StatusCode != http.StatusAccepted || res.Header.Get("X-N") != strconv.Itoa(i) {
			t.Fatalf("answer %d: %s, X-N %q", i, res.Status, res.Header.Get("X-N"))
		}
	}
}

// A held answer does not wait for a slow call pipelined behind it: it
// goes out when the slow call writes (its stream's first bytes), or at
// the latest after Max.
func TestHeldAnswerBeforeASlowCall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    time.Duration
		writes bool // the slow call writes and flushes before it waits
	}{{"slow call writes", time.Hour, true}, {"after max", time.Millisecond, false}} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			addr, _ := answersServer(t, tc.max, func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-N") == "0" {
					accepted(w, r)
					return
				}
				if tc.writes {
					fmt.Fprint(w, "first")
					w.(http.Flusher).Flush()
				}
				<-release
			})
			defer close(release)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte(request(0) + request(1))); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			if res := readAnswer(t, conn, br); res.StatusCode != http.StatusAccepted {
				t.Fatalf("the first call was answered %s", res.Status)
			}
			if tc.writes {
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 5)
				if _, err := res.Body.Read(buf); err != nil || string(buf) != "first" {
					t.Fatalf("the slow call's stream: %q, %v", buf, err)
				}
			}
		})
	}
}

// BenchmarkAnswers: calls on one connection answered 202 by a server
// whose answers are held (HoldAnswers) or not (net/http alone); ns/op is
// per call, client included; writes/call are the server's. pipelined:
// the client writes calls in batches of 32 and reads the answers as they
// come (as the flood's pipelined frameworks send acknowledgements);
// waiting: it sends a call once it has the previous answer.
func BenchmarkAnswers(b *testing.B) {
	for _, client := range []string{"pipelined", "waiting"} {
		for _, held := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/held=%v", client, held), func(b *testing.B) {
				hs := httptest.NewUnstartedServer(http.HandlerFunc(accepted))
				writes := &atomic.Int64{}
				hs.Listener = countingListener{hs.Listener, writes}
				if held {
					l := HoldAnswers{Listener: hs.Listener}
					hs.Listener, hs.Config.ConnContext = l, l.ConnContext
				}
				hs.Start()
				defer hs.Close()
				conn, err := net.Dial("tcp", hs.Listener.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				batch := 32
				if client == "waiting" {
					batch = 1
				}
				var reqs []byte
				for i := range batch {
					reqs = append(reqs, request(i)...)
				}
				calls := (b.N + batch - 1) / batch * batch
				answered := make(chan error, 1)
				next := make(chan struct{}, 1)
				go func() {
					br := bufio.NewReader(conn)
					for range calls {
						res, err := http.ReadResponse(br, nil)
						if err != nil {
							answered <- err
							return
						}
						res.Body.Close()
						if batch == 1 {
							next <- struct{}{}
						}
					}
					answered <- nil
				}()
				b.ResetTimer()
				for sent := 0; sent < calls; sent += batch {
					if _, err := conn.Write(reqs); err != nil {
						b.Fatal(err)
					}
					if batch == 1 {
						<-next
					}
				}
				if err := <-answered; err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(writes.Load())/float64(calls), "writes/call")
			})
		}
	}
}

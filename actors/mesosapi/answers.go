package mesosapi

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A framework that pipelines its calls (libprocess' client, the C++ and
// Java bindings, Marathon) writes many of them back to back on one
// kept-alive connection; net/http reads them from its buffer one after
// the other, but writes and flushes each 202 by itself: a write system
// call per call was the largest single cost of an acknowledgement flood.
// An answer that may wait is held by the connection until the server's
// read would wait for the client: net/http reads the connection once it
// has handled every request it had buffered (and, one byte at a time,
// to check that the client is still there: such a read does not release
// them), and the read finds nothing once every call the client had sent
// is handled. So a batch of pipelined calls gets its answers in one
// write, in order, as soon as the batch is handled; a client that waits
// for each answer gets it as before, when the server turns to read its
// next call.
// Nothing but the write's timing changes: the answers are net/http's own
// bytes, and anything else written on the connection (error answers,
// event streams, other endpoints) sends what is held first. A held
// answer waits at most HoldAnswers.Max (the server might be busy with a
// slow call that followed it). Plain HTTP only (see ConnContext for TLS).

// DefaultAnswerHold is how long an answer waits at most for the ones
// after it.
const DefaultAnswerHold = time.Millisecond

// maxHeldBytes bounds what a connection holds: past it, the answers go
// out.
const maxHeldBytes = 64 << 10

// HoldAnswers wraps a listener of the server that serves the scheduler
// API so that the answers of pipelined calls are written together (plain
// HTTP only; beneath TLS it changes nothing); the server must set
// http.Server.ConnContext to HoldAnswers.ConnContext for the API to find
// its connections.
type HoldAnswers struct {
	net.Listener
	// Max is how long an answer waits at most (DefaultAnswerHold if 0).
	Max time.Duration
}

// Accept wraps each connection.
func (l HoldAnswers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	max := l.Max
	if max <= 0 {
		max = DefaultAnswerHold
	}
	ac := &answerConn{Conn: c, max: max}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			ac.raw = raw
		}
	}
	return ac, nil
}

type answerConnKey struct{}

// ConnContext puts the connection where the scheduler API finds it. Over
// TLS answers are not held: tls.Conn reads the connection for net/http's
// one-byte watch as for anything else once it has handed its buffered
// records over, so the connection cannot tell the watch from the
// server's wait for the next call, and would send each answer by itself
// anyway, one call later.
func (HoldAnswers) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if ac, ok := c.(*answerConn); ok {
		return context.WithValue(ctx, answerConnKey{}, ac)
	}
	return ctx
}

// holdAnswer lets r's answer wait for the answers of the calls pipelined
// behind it: its next write (net/http writes a 202 without a body in one)
// is held. HTTP/1 only: HTTP/2 multiplexes its streams on the connection
// by itself.
func holdAnswer(r *http.Request) {
	if r.ProtoMajor != 1 {
		return
	}
	if c, ok := r.Context().Value(answerConnKey{}).(*answerConn); ok {
		c.hold.Store(true)
	}
}

// answerConn holds the writes it is told may wait until the server reads
// again, writes anything else, or max passes.
type answerConn struct {
	net.Conn
	max  time.Duration
	raw  syscall.RawConn // nil: not a socket
	hold atomic.Bool     // the next Write may wait

	mu    sync.Mutex
	held  []byte
	err   error // of a write made for a held answer; the next write returns it
	timer *time.Timer
	armed bool // the timer will fire
}

func (c *answerConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.hold.Swap(false) && len(c.held)+len(p) <= maxHeldBytes {
		// The timer is not stopped when the answers go out: it fires at
		// most once per max while answers are held, instead of being set
		// and stopped for every answer of a client that waits for each.
		if !c.armed {
			c.armed = true
			if c.timer == nil {
				c.timer = time.AfterFunc(c.max, c.expire)
			} else {
				c.timer.Reset(c.max)
			}
		}
		c.held = append(c.held, p...)
		return len(p), nil
	}
	if len(c.held) == 0 {
		return c.Conn.Write(p)
	}
	c.held = append(c.held, p...)
	if err := c.writeHeldLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Read sends what is held when the server would wait for the client:
// not for net/http's one-byte read that watches for a closed connection
// while a handler runs (it starts before each pipelined call is handled),
// and not while the client's next calls are already there to read (a
// client that keeps pipelining would otherwise get an answer per read).
// Without a raw socket (a connection of some other kind), every other
// read sends them.
func (c *answerConn) Read(p []byte) (int, error) {
	if len(p) <= 1 || !c.holding() {
		return c.Conn.Read(p)
	}
	if c.raw == nil {
		c.flush()
		return c.Conn.Read(p)
	}
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), p)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			c.flush() // nothing to read: the server waits for the client
			return false
		}
		return true
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", rerr)}
	case n <= 0:
		return 0, io.EOF
	}
	return n, nil
}

// holding says whether answers are held.
func (c *answerConn) holding() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held) > 0
}

// expire sends what is held when the timer fires.
func (c *answerConn) expire() {
	c.mu.Lock()
	c.armed = false
	c.mu.Unlock()
	c.flush()
}

func (c *answerConn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.held) > 0 && c.err == nil {
		if c.writeHeldLocked() != nil {
			c.Conn.Close() // the server's next read fails: it closes the connection
		}
	}
}

func (c *answerConn) writeHeldLocked() error {
	_, err := c.Conn.Write(c.held)
	c.held = c.held[:0]
	if cap(c.held) > maxHeldBytes {
		c.held = nil
	}
	c.err = err
	return err
}

// closeFlushTimeout bounds the write of what is held when the connection
// closes (a client that reads nothing must not hold up the server's
// shutdown, which closes idle connections).
const closeFlushTimeout = time.Second

// Close sends what is held, then closes.
func (c *answerConn) Close() error {
	if c.holding() {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		c.flush()
	}
	return c.Conn.Close()
}

// CloseWrite sends what is held, then shuts the writing side (net/http
// does that before closing a connection after an error).
func (c *answerConn) CloseWrite() error {
	c.flush()
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

package netlab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// DialContext connects from the host's network namespace: the test
// process's own way into the lab (to ask a process's HTTP API, say). A
// socket stays in the namespace it was made in, so only making it needs
// the namespace: a goroutine locked to its thread enters the host, dials,
// and returns to the test's namespace (a thread that cannot is discarded).
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		conn, back, err := h.dialInside(ctx, network, addr)
		if back {
			runtime.UnlockOSThread()
		}
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}

// dialInside dials from the host; back says the thread is in its own
// namespace again.
func (h *Host) dialInside(ctx context.Context, network, addr string) (net.Conn, bool, error) {
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, fmt.Errorf("netlab: open this thread's network namespace: %w", err)
	}
	defer unix.Close(self)
	target, err := unix.Open(filepath.Join(netnsDir, h.ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, fmt.Errorf("netlab: open host %s's namespace: %w", h.Name, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("netlab: enter host %s: %w", h.Name, err)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	return conn, unix.Setns(self, unix.CLONE_NEWNET) == nil, err
}

// HTTPClient is an HTTP client whose connections start in the host; it
// does not follow redirects (a test asks one process), and gives up after
// timeout.
func (h *Host) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport:     &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true},
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

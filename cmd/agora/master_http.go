package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/agora-sched/agora/cluster/leader"
)

// defaultClientTimeout is --timeout of the commands that ask the master's
// HTTP API (agora run's means the time to a started task, and is longer).
const defaultClientTimeout = 10 * time.Second

// masterCall asks the master's HTTP API as an operator: with an operator
// certificate, or with --principal and --secret (unless --insecure). It
// gives up after timeout (0: never), the Consul lookup of a consul://
// address included, and says what to do when the address is not a
// master's HTTP API or nothing answers there.
func masterCall(f tlsFlags, a authFlags, hostport string, timeout time.Duration, method, path string, payload []byte) ([]byte, error) {
	body, _, err := masterCallHeader(f, a, hostport, timeout, method, path, payload)
	return body, err
}

// masterCallHeader is masterCall that also returns the answer's header.
func masterCallHeader(f tlsFlags, a authFlags, hostport string, timeout time.Duration, method, path string, payload []byte) ([]byte, http.Header, error) {
	client, scheme, err := a.httpClient(f, timeout)
	if err != nil {
		return nil, nil, err
	}
	// A standby redirects (307) to the leader, often on another host, and
	// Go's client drops the Authorization header on a redirect to another
	// host: sign each request again (the leader is verified against the
	// cluster's CA as the standby was).
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		a.sign(req)
		return nil
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	given := hostport
	hostport, err = leaderHTTP(ctx, hostport)
	if err != nil {
		return nil, nil, fmt.Errorf("no leading master found at %s within %v (--timeout): %w", given, timeout, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, scheme+"://"+hostport+path, bytes.NewReader(payload))
	if err != nil {
		return nil, nil, fmt.Errorf("--master-http %q: %w", hostport, err)
	}
	a.sign(req)
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, unreachable(hostport, timeout, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, unreachable(hostport, timeout, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, notAnswered(resp.Request.URL.Host, path, resp, body) // the leader's, after a redirect
	}
	return body, resp.Header, nil
}

// unreachable says why a request got no answer, and what to check.
func unreachable(hostport string, timeout time.Duration, err error) error {
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("nothing listens at %s: is the master running, and is that its HTTP address (agora node --http; agora dev serves %s)? Set --master-http or AGORA_MASTER_HTTP: %w",
			hostport, defaultHTTP, err)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("the master's HTTP API at %s did not answer within %v: is that the master's --http address? A busy master may need a longer --timeout: %w",
			hostport, timeout, err)
	}
	return fmt.Errorf("cannot reach the master's HTTP API at %s (is it running? set --master-http): %w", hostport, err)
}

// notAnswered says what a server that answered other than 200 said: the
// master's own text when it is the master, else what the address is.
func notAnswered(hostport, path string, resp *http.Response, body []byte) error {
	text := strings.TrimSpace(string(body))
	switch {
	case strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc"):
		// proto.actor's remoting is gRPC: the master's --listen (or an
		// agent's, or a framework's) port, a Mesos habit.
		return fmt.Errorf("%s is a remoting address (agora node --listen), not the master's HTTP API: --master-http takes the master's --http address (agora dev serves %s)",
			hostport, defaultHTTP)
	case resp.StatusCode == http.StatusNotFound && text == "404 page not found":
		// Go's answer for a path no handler serves: the master serves
		// every path agora asks, so this is another server (an agent's
		// HTTP API, say), or a master older than this agora.
		return fmt.Errorf("%s serves no %s: it is not the master's HTTP API (an agent's?), or a master older than this agora; --master-http takes the master's --http address",
			hostport, strings.SplitN(path, "?", 2)[0])
	}
	if text == "" {
		text = resp.Status
	}
	return fmt.Errorf("the master at %s refused: %s", hostport, text)
}

// leaderHTTP resolves --master-http: host:port as given (a standby
// redirects to the leader), or consul://host:port/<cluster> to the
// leader's HTTP address, asking Consul until ctx ends.
func leaderHTTP(ctx context.Context, hostport string) (string, error) {
	if !strings.HasPrefix(hostport, "consul://") {
		return hostport, nil
	}
	spec, err := leader.Parse(hostport)
	if err != nil {
		return "", err
	}
	d, err := spec.Detector(slog.New(slog.DiscardHandler))
	if err != nil {
		return "", err
	}
	info, err := d.Detect(ctx, nil)
	if err != nil {
		return "", err
	}
	return info.HttpAddress, nil
}

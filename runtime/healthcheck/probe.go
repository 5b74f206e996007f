package healthcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
)

// Target is what a probe reaches.
type Target struct {
	// Host is where the task's ports answer (HTTP and TCP checks).
	Host func(ctx context.Context) (string, error)
	// Exec runs a COMMAND check's command beside the task.
	Exec func(ctx context.Context, cmd *messages.CommandInfo) (containerizer.ExecResult, error)
}

// ErrUnhealthy: the probe ran and the task answered wrong (a command's
// exit code, an HTTP status); other errors say why it could not be asked.
var ErrUnhealthy = errors.New("unhealthy")

// maxBody bounds what an HTTP probe reads of an answer: only its status
// counts, and a task must not make the agent read without end.
const maxBody = 4096

// Probe runs check once against target, within timeout (0: none), and
// returns nil if the task passed.
func Probe(ctx context.Context, check *messages.HealthCheck, timeout time.Duration, target Target) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	err := probe(ctx, check, target)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s check did not answer within %s", check.Type, timeout)
	}
	return err
}

func probe(ctx context.Context, check *messages.HealthCheck, target Target) error {
	switch check.Type {
	case messages.HealthCheck_COMMAND:
		res, err := target.Exec(ctx, check.Command)
		if err != nil {
			return err
		}
		if res.Code != 0 {
			return fmt.Errorf("%w: command exited with code %d: %.200s", ErrUnhealthy, res.Code, res.Output)
		}
		return nil
	case messages.HealthCheck_HTTP:
		host, err := target.Host(ctx)
		if err != nil {
			return err
		}
		return probeHTTP(ctx, check.Http, host)
	case messages.HealthCheck_TCP:
		host, err := target.Host(ctx)
		if err != nil {
			return err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(check.Tcp.Port))))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnhealthy, err)
		}
		return conn.Close()
	}
	return fmt.Errorf("%w: type %s", messages.ErrBadHealthCheck, check.Type)
}

// probeHTTP GETs the check's URL; 200-399 passes, as in Mesos.
func probeHTTP(ctx context.Context, h *messages.HealthCheck_HTTPCheckInfo, host string) error {
	code, url, err := httpStatus(ctx, h, host)
	if err != nil {
		return err
	}
	if code < 200 || code >= 400 {
		return fmt.Errorf("%w: GET %s answered %d %s", ErrUnhealthy, url, code, http.StatusText(code))
	}
	return nil
}

// httpStatus GETs the check's URL and returns the answer's status.
// Redirects are not followed (a 3xx passes as it is), and https
// certificates are not verified (Mesos' curl -k): the check asks the task
// whether it is alive, not who it is.
func httpStatus(ctx context.Context, h *messages.HealthCheck_HTTPCheckInfo, host string) (int, string, error) {
	scheme, path := h.Scheme, h.Path
	if scheme == "" {
		scheme = "http"
	}
	if path == "" {
		path = "/"
	}
	url := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(int(h.Port))) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, url, fmt.Errorf("%w: %w", messages.ErrBadHealthCheck, err)
	}
	client := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, url, fmt.Errorf("%w: GET %s: %w", ErrUnhealthy, url, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	return resp.StatusCode, url, nil
}

// Check runs a CheckInfo once against target, within timeout (0: none),
// and returns its result (Mesos' CheckStatusInfo): the command's exit
// code, the HTTP status, whether TCP connected. A check that could not
// complete (timed out, or could not be run) has its type only, and err
// says why.
func Check(ctx context.Context, check *messages.CheckInfo, timeout time.Duration, target Target) (*messages.CheckStatusInfo, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	st := &messages.CheckStatusInfo{Type: check.Type}
	switch check.Type {
	case messages.HealthCheck_COMMAND:
		res, err := target.Exec(ctx, check.Command)
		if err != nil {
			return st, err
		}
		code := int32(res.Code)
		st.CommandExitCode = &code
	case messages.HealthCheck_HTTP:
		host, err := target.Host(ctx)
		if err != nil {
			return st, err
		}
		code, _, err := httpStatus(ctx, check.Http, host)
		if err != nil {
			return st, err
		}
		c := uint32(code)
		st.HttpStatusCode = &c
	case messages.HealthCheck_TCP:
		host, err := target.Host(ctx)
		if err != nil {
			return st, err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(check.Tcp.Port))))
		ok := err == nil
		if ok {
			conn.Close()
		}
		st.TcpSucceeded = &ok
	default:
		return st, fmt.Errorf("%w: type %s", messages.ErrBadHealthCheck, check.Type)
	}
	return st, nil
}

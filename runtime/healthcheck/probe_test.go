package healthcheck_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/runtime/healthcheck"
)

func local(context.Context) (string, error) { return "127.0.0.1", nil }

func port(t *testing.T, addr string) uint32 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return uint32(n)
}

// HTTP: 200-399 passes (a redirect is not followed), other statuses and a
// closed port fail as unhealthy, and a hung server fails at the timeout.
func TestProbeHTTP(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/moved":
			http.Redirect(w, r, "http://192.0.2.1/elsewhere", http.StatusFound)
		case "/hang":
			<-release
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	defer close(release)
	p := port(t, srv.Listener.Addr().String())
	check := func(path string) error {
		h := &messages.HealthCheck{Type: messages.HealthCheck_HTTP, Http: &messages.HealthCheck_HTTPCheckInfo{Port: p, Path: path}}
		return healthcheck.Probe(context.Background(), h, 500*time.Millisecond, healthcheck.Target{Host: local})
	}
	if err := check("/ok"); err != nil {
		t.Fatalf("/ok: %v", err)
	}
	if err := check("/moved"); err != nil {
		t.Fatalf("/moved (302, not followed): %v", err)
	}
	if err := check("/down"); !errors.Is(err, healthcheck.ErrUnhealthy) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("/down: %v, want unhealthy with the status", err)
	}
	if err := check("/hang"); err == nil || !strings.Contains(err.Error(), "did not answer within 500ms") {
		t.Fatalf("/hang: %v, want a timeout", err)
	}
}

func TestProbeTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := port(t, l.Addr().String())
	h := &messages.HealthCheck{Type: messages.HealthCheck_TCP, Tcp: &messages.HealthCheck_TCPCheckInfo{Port: p}}
	if err := healthcheck.Probe(context.Background(), h, time.Second, healthcheck.Target{Host: local}); err != nil {
		t.Fatalf("open port: %v", err)
	}
	l.Close()
	if err := healthcheck.Probe(context.Background(), h, time.Second, healthcheck.Target{Host: local}); !errors.Is(err, healthcheck.ErrUnhealthy) {
		t.Fatalf("closed port: %v, want unhealthy", err)
	}
}

// COMMAND checks run with the command containerizer: in the sandbox, with
// the task's environment; a non-zero exit fails with its output, and one
// that outlives the timeout is killed.
func TestProbeCommand(t *testing.T) {
	sandbox := t.TempDir()
	spec := containerizer.LaunchSpec{ID: "t", Sandbox: sandbox, Env: map[string]string{"AGORA_TASK_ID": "t"}}
	target := healthcheck.Target{Exec: func(ctx context.Context, cmd *messages.CommandInfo) (containerizer.ExecResult, error) {
		return containerizer.Command{}.Exec(ctx, spec, nil, cmd)
	}}
	run := func(script string) error {
		h := &messages.HealthCheck{Type: messages.HealthCheck_COMMAND, Command: &messages.CommandInfo{Value: script, Shell: true}}
		return healthcheck.Probe(context.Background(), h, 2*time.Second, target)
	}
	if err := run(`test "$PWD" = "` + sandbox + `" && test "$AGORA_TASK_ID" = t`); err != nil {
		t.Fatalf("in the sandbox with the task's environment: %v", err)
	}
	if err := run("echo not ready; exit 3"); !errors.Is(err, healthcheck.ErrUnhealthy) || !strings.Contains(err.Error(), "code 3: not ready") {
		t.Fatalf("exit 3: %v, want unhealthy with code and output", err)
	}
	start := time.Now()
	if err := run("sleep 30"); err == nil || !strings.Contains(err.Error(), "did not answer within 2s") {
		t.Fatalf("sleep: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the timed-out check took %s to end: it was not killed", d)
	}
}

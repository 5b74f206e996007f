// Package consultest starts real Consul dev agents for tests: the server
// `make consul` builds (bin/consul, or $AGORA_CONSUL), on free loopback
// ports, stopped when the test ends.
package consultest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Binary finds the Consul server, or fails the test saying how to get it.
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("AGORA_CONSUL"); bin != "" {
		return bin
	}
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(file), "..", "..", "bin", "consul")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the Consul server is missing at %s: run `make consul` (make test does), or set AGORA_CONSUL", bin)
	}
	return bin
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type output struct {
	mu   sync.Mutex
	b    bytes.Buffer
	wake chan struct{}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.wake != nil {
		close(o.wake)
		o.wake = nil
	}
	return o.b.Write(p)
}

// Start runs a Consul dev agent and returns its HTTP address once it is
// its own cluster's leader and has synced its node (sessions work then).
func Start(t testing.TB) string {
	t.Helper()
	httpPort := freePort(t)
	args := []string{"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1", "-http-port", strconv.Itoa(httpPort)}
	for _, flag := range []string{"-server-port", "-serf-lan-port", "-serf-wan-port"} {
		args = append(args, flag, strconv.Itoa(freePort(t)))
	}
	args = append(args, "-grpc-port", "-1", "-grpc-tls-port", "-1", "-dns-port", "-1")
	out := &output{}
	cmd := exec.Command(Binary(t), args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("--- consul output ---\n%s", out.b.String())
		}
	})
	deadline := time.After(60 * time.Second)
	for {
		out.mu.Lock()
		ready := strings.Contains(out.b.String(), "Synced node info")
		if !ready && out.wake == nil {
			out.wake = make(chan struct{})
		}
		wake := out.wake
		out.mu.Unlock()
		if ready {
			return fmt.Sprintf("127.0.0.1:%d", httpPort)
		}
		select {
		case <-wake:
		case <-exited:
			t.Fatalf("consul exited:\n%s", out.b.String())
		case <-deadline:
			t.Fatalf("consul not ready within 60 s:\n%s", out.b.String())
		}
	}
}

// Client is an API client for the agent at addr.
func Client(t testing.TB, addr string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

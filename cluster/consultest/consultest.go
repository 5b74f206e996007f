// Package consultest starts real Consul dev agents for tests: the server
// `make consul` builds (bin/consul, or $AGORA_CONSUL), on free loopback
// ports, stopped when the test ends.
//
// Consul cannot bind port 0: it takes a port <= 0 to mean "disabled"
// (agent/config/builder.go, portVal). So the test picks the ports, and
// another process may take one before Consul binds it. Consul then exits
// at once saying "bind: address already in use" (HTTP, server RPC and serf
// LAN alike), and Start tries again with fresh ports. Reading the ports
// back from Consul (its output, /v1/agent/self) would not help: they are
// the ports it was given. Serf WAN, DNS and gRPC are disabled (-1), so
// three ports are at stake, not six.
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

// freePort returns a loopback port free a moment ago; Start retries if it
// is taken before Consul binds it.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// distinctPorts picks n ports no two of which are the same: the kernel
// may hand a just-closed ephemeral port out again at once, and Consul
// refuses to start when two of its listeners share one (CI saw "Serf
// Advertise LAN address ... already configured for HTTP").
func distinctPorts(t testing.TB, pick func(testing.TB) int, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	seen := map[int]bool{}
	for tries := 0; len(ports) < n; tries++ {
		if tries == 100*n {
			t.Fatalf("picked %d ports and got only %d distinct ones", tries, len(ports))
		}
		p := pick(t)
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports
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

func (o *output) String() string { o.mu.Lock(); defer o.mu.Unlock(); return o.b.String() }

// bindAttempts bounds Start's retries when a picked port is taken first.
const bindAttempts = 5

// Start runs a Consul dev agent and returns its HTTP address once it is
// its own cluster's leader and has synced its node (sessions work then).
func Start(t testing.TB) string {
	t.Helper()
	return StartAgent(t, Options{}).Addr
}

// Options place a dev agent.
type Options struct {
	// Bind is the IP address the agent binds and serves on; default
	// 127.0.0.1 with free ports. With an address of its own (a network
	// namespace of a test's, see testkit/netlab) it takes Consul's
	// default ports (HTTP 8500), which nothing else there can hold.
	Bind string
	// Command wraps the agent's command line (to run it in a network
	// namespace, for example); default exec.Command.
	Command func(name string, args ...string) *exec.Cmd
}

// Agent is a running dev agent.
type Agent struct {
	// Addr is its HTTP API's host:port.
	Addr string
	cmd  *exec.Cmd
}

// Signal sends sig to the agent's process (SIGSTOP makes every call to it
// hang, as a partition would; SIGCONT resumes it).
func (a *Agent) Signal(sig os.Signal) { _ = a.cmd.Process.Signal(sig) }

// StartAgent is Start placed by opts, returning the running agent; it is
// stopped when the test ends.
func StartAgent(t testing.TB, opts Options) *Agent {
	t.Helper()
	return startPicking(t, opts, freePort)
}

// startPicking is StartAgent with the port picker given (a test takes a
// port first to check the retry).
func startPicking(t testing.TB, opts Options, pick func(testing.TB) int) *Agent {
	t.Helper()
	bin := Binary(t)
	for attempt := 1; ; attempt++ {
		a, out, err := start(t, bin, opts, pick)
		if err == nil {
			return a
		}
		if !(strings.Contains(out, "address already in use") || strings.Contains(out, "already configured")) || attempt == bindAttempts {
			t.Fatalf("%v (attempt %d):\n%s", err, attempt, out)
		}
		t.Logf("consul lost a port it was given to another process; retrying with fresh ports: %v", err)
	}
}

// start runs one Consul dev agent (on freshly picked ports unless
// opts.Bind is given) and waits until it is ready (then it is stopped when
// the test ends) or has exited (then err says so and out is its output).
func start(t testing.TB, bin string, opts Options, pick func(testing.TB) int) (a *Agent, out string, err error) {
	var args []string
	var addr string
	if opts.Bind == "" {
		ports := distinctPorts(t, pick, 3)
		args = []string{"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1", "-http-port", strconv.Itoa(ports[0]),
			"-server-port", strconv.Itoa(ports[1]), "-serf-lan-port", strconv.Itoa(ports[2])}
		addr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	} else {
		args = []string{"agent", "-dev", "-bind", opts.Bind, "-client", opts.Bind}
		addr = net.JoinHostPort(opts.Bind, "8500")
	}
	args = append(args, "-serf-wan-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1", "-dns-port", "-1")
	command := opts.Command
	if command == nil {
		command = exec.Command
	}
	o := &output{}
	cmd := command(bin, args...)
	cmd.Stdout, cmd.Stderr = o, o
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	deadline := time.After(60 * time.Second)
	for {
		o.mu.Lock()
		ready := strings.Contains(o.b.String(), "Synced node info")
		if !ready && o.wake == nil {
			o.wake = make(chan struct{})
		}
		wake := o.wake
		o.mu.Unlock()
		if ready {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("--- consul output ---\n%s", o.String())
				}
			})
			return &Agent{Addr: addr, cmd: cmd}, "", nil
		}
		select {
		case <-wake:
		case <-exited:
			return nil, o.String(), fmt.Errorf("consul exited before it was ready (%v)", cmd.ProcessState)
		case <-deadline:
			stop()
			return nil, o.String(), fmt.Errorf("consul not ready within 60 s")
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

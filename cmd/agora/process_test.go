package main

// These tests run the real agora binary as separate OS processes talking
// proto.actor remoting over TCP on 127.0.0.1. The test process itself starts
// no remote, so it runs under -race; the children are built without -race
// (proto.actor's Remote.Shutdown has races of its own).
//
// Children bind port 0 and report what they bound (agora node and dev in
// their --ready-file): a port the test picked and passed on could be taken
// by another process before the child binds it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/checkpoint"
	"github.com/agora-sched/agora/runtime/containerizer"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protojson"
)

var agoraBin, elasticBin, executorBin string

func TestMain(m *testing.M) {
	if addr := os.Getenv(poisonEnv); addr != "" {
		os.Exit(poisonActor(addr, os.Getenv(poisonActorEnv)))
	}
	if orders := os.Getenv(staleMasterEnv); orders != "" {
		os.Exit(staleMaster(orders))
	}
	if gate := os.Getenv(mesosExecutorEnv); gate != "" {
		os.Exit(mesosTestExecutor(gate))
	}
	dir, err := os.MkdirTemp("", "agora-bin")
	if err != nil {
		panic(err)
	}
	// Agents run tasks and executors as nobody (their --task-user): the
	// executor binary must be theirs to run.
	if err := os.Chmod(dir, 0o755); err != nil {
		panic(err)
	}
	agoraBin, elasticBin, executorBin = filepath.Join(dir, "agora"), filepath.Join(dir, "elastic"), filepath.Join(dir, "executor")
	for bin, pkg := range map[string]string{agoraBin: ".", elasticBin: "../examples/elastic", executorBin: "../examples/executor"} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building binaries for process tests:", err)
			os.Exit(1)
		}
	}
	if err := makeTestCerts(filepath.Join(dir, "tls")); err != nil {
		fmt.Fprintln(os.Stderr, "making certificates for process tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// operator is the tests' own certificate, for the HTTP APIs.
var operator *security.Source

// makeTestCerts makes a CA and one certificate per role with agora tls
// (the commands a user runs), and points every child at them: TLS is on,
// as it is by default, in every process test. Each child picks the
// certificate of its role from AGORA_TLS_DIR.
func makeTestCerts(dir string) error {
	run := func(args ...string) error {
		out, err := exec.Command(agoraBin, append([]string{"tls"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("agora tls %v: %w\n%s", args, err, out)
		}
		return nil
	}
	if err := run("ca", "--dir", dir); err != nil {
		return err
	}
	for _, role := range security.Roles {
		if err := run("cert", "--dir", dir, "--role", string(role), "--name", "test-"+string(role), "--out", string(role)); err != nil {
			return err
		}
	}
	os.Setenv(security.EnvDir, dir)
	var err error
	operator, err = security.Options{Dir: dir}.Load(security.RoleOperator, nil)
	return err
}

// agentDir is a --tls-dir for the agent named name: the cluster's CA and a
// certificate of that name, made the first time a test asks for it. The
// master takes an agent only under its certificate's name, and an agent
// given no --hostname reports that name.
func agentDir(t testing.TB, name string) string {
	t.Helper()
	certsMu.Lock()
	defer certsMu.Unlock()
	dir := filepath.Dir(operator.Files().CA)
	out := filepath.Join(dir, "agents", name)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	ca, err := security.ReadPEM(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := security.Issue(ca, security.Request{Identity: security.Identity{Role: security.RoleAgent, Name: name}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := security.DirFiles(out, security.RoleAgent)
	if err := security.WriteFiles(p, f.Cert, f.Key, false); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.CA, ca.Cert, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

var certsMu sync.Mutex

// operatorClient is an HTTP client with the operator's certificate; it
// does not follow redirects (a test asks one master).
func operatorClient(timeout time.Duration) *http.Client {
	c := security.HTTPClient(operator, timeout)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// anyPort is the listen address children get: the kernel picks a free
// loopback port at bind time and the child reports it.
const anyPort = "127.0.0.1:0"

// proc is one agora process whose output is kept for failure reports.
type proc struct {
	name      string
	cmd       *exec.Cmd
	out       *syncBuffer
	done      chan struct{}
	readyFile string // set by startNode
}

// syncBuffer collects a process's output and wakes waiters on each write.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil {
		close(s.written)
		s.written = nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// waitFor blocks until the output contains text.
func (s *syncBuffer) waitFor(t testing.TB, text string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		s.mu.Lock()
		if bytes.Contains(s.b.Bytes(), []byte(text)) {
			s.mu.Unlock()
			return
		}
		if s.written == nil {
			s.written = make(chan struct{})
		}
		ch := s.written
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("process output never contained %q", text)
		}
	}
}

func startProc(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	return startBin(t, agoraBin, name, args...)
}

func startBin(t testing.TB, bin, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "AGORA_LOG_LEVEL=debug")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			p.signal(syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", p.name, p.out.String())
		}
	})
	return p
}

func (p *proc) signal(s syscall.Signal) { _ = p.cmd.Process.Signal(s) }

// startNode starts `agora node` or `agora dev` with args and a fresh
// --ready-file, and returns once the node serves, with the addresses it
// bound. Each start has its own file: a killed node leaves its file behind,
// and a restart on the same path could be read before it replaced it.
func startNode(t testing.TB, name string, args ...string) (*proc, readyInfo) {
	t.Helper()
	dir := t.TempDir()
	changed, stop := watchDir(t, dir)
	defer stop()
	path := filepath.Join(dir, "ready.json")
	p := startProc(t, name, append(args, "--ready-file", path)...)
	p.readyFile = path
	timeout := time.After(60 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil {
			var info readyInfo
			if err := json.Unmarshal(b, &info); err != nil || info.Remoting == "" || info.PID != p.cmd.Process.Pid {
				t.Fatalf("%s: bad ready file (%v):\n%s", name, err, b)
			}
			return p, info
		}
		select {
		case <-changed:
		case <-p.done:
			t.Fatalf("%s exited before it was ready:\n%s", name, p.out.String())
		case <-timeout:
			t.Fatalf("%s wrote no ready file within 60 s", name)
		}
	}
}

// watchDir reports changes to the entries of dir (inotify) on the returned
// channel, coalesced, until stop.
func watchDir(t testing.TB, dir string) (changed <-chan struct{}, stop func()) {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	// A non-blocking descriptor makes the os.File use Go's poller, so
	// Close wakes the Read below.
	f := os.NewFile(uintptr(fd), "inotify")
	ch := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, func() { f.Close() }
}

// waitState long-polls the master's /state until ok holds.
func waitState(t testing.TB, httpAddr string, ok func(*messages.MasterState) bool) *messages.MasterState {
	t.Helper()
	return waitStateOf(t, "https", httpAddr, ok)
}

// waitStateOf is waitState over scheme (http for a master run --insecure).
func waitStateOf(t testing.TB, scheme, httpAddr string, ok func(*messages.MasterState) bool) *messages.MasterState {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var since int64
	var last *messages.MasterState
	// The long poll answers within 5 s. Redirects are not followed: this
	// asks one master, and a standby's 307 may still name a leader that
	// just stopped (the test pauses one).
	client := operatorClient(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(fmt.Sprintf("%s://%s/state?since=%d&wait=5s", scheme, httpAddr, since))
		if err != nil {
			t.Fatalf("master HTTP API: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			time.Sleep(20 * time.Millisecond) // not leading (yet): ask again
			continue
		}
		st := &messages.MasterState{}
		if err := protojson.Unmarshal(body, st); err != nil {
			t.Fatalf("bad /state JSON: %v", err)
		}
		last, since = st, st.SnapshotUnixNano
		if ok(st) {
			return st
		}
	}
	t.Fatalf("state never matched; last: %v", last)
	return nil
}

func reachable(st *messages.MasterState) (n int) {
	for _, a := range st.Agents {
		if a.Reachable {
			n++
		}
	}
	return n
}

func TestProcessesRegisterFailAndReturn(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	const interval, misses = 200 * time.Millisecond, 3
	_, m := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort,
		"--heartbeat-interval", interval.String(), "--max-missed-heartbeats", strconv.Itoa(misses))
	masterAddr, httpAddr := m.Remoting, m.HTTP

	agentArgs := func(i int, dir string) []string {
		return []string{"node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", masterAddr,
			"--work-dir", dir, "--tls-dir", agentDir(t, fmt.Sprintf("host-%d", i)),
			"--resources", "cpus:2;mem:1024;disk:2048", "--attributes", fmt.Sprintf("rack:r%d", i),
			"--registration-backoff", "100ms", "--registration-backoff-max", "1s"}
	}
	dirs := make([]string, 3)
	agents := make([]*proc, 3)
	for i := range agents {
		dirs[i] = workDir(t)
		agents[i], _ = startNode(t, fmt.Sprintf("agent-%d", i), agentArgs(i, dirs[i])...)
	}

	st := waitState(t, httpAddr, func(st *messages.MasterState) bool { return reachable(st) == 3 })
	hosts := map[string]string{}
	for _, a := range st.Agents {
		hosts[a.Info.Hostname] = a.Info.Id.Value
		if messages.ScalarOf(a.Info.Resources, "cpus") != 2 || messages.FormatAttributes(a.Info.Attributes) == "" {
			t.Fatalf("agent state lacks its resources or attributes: %v", a)
		}
		if messages.ScalarOf(a.Info.Resources, "ports") != 0 || len(a.Info.Resources) != 4 {
			t.Fatalf("agent should add detected ports to the given resources: %v", a.Info.Resources)
		}
	}
	victim := hosts["host-1"]
	if len(hosts) != 3 || victim == "" {
		t.Fatalf("agents: %v", hosts)
	}

	// The master counts an agent registered as soon as it assigns the ID;
	// the agent persists the ID only when the answer reaches it (tens of
	// milliseconds later, over a connection back to it). Killed in between,
	// a restarted agent would rightly register as a new one: this test is
	// about one that had its identity.
	waitFile(t, filepath.Join(dirs[1], "agent_id"), victim)
	agents[1].signal(syscall.SIGKILL)
	<-agents[1].done
	st = waitState(t, httpAddr, func(st *messages.MasterState) bool { return reachable(st) == 2 })
	for _, a := range st.Agents {
		if a.Info.Id.Value == victim {
			if a.Reachable {
				t.Fatalf("the killed agent is still reachable: %v", a)
			}
			// Marked unreachable no sooner than the configured timeout
			// after it was last heard from, by the master's own clock.
			if gap := time.Duration(a.UnreachableUnixNano - a.LastSeenUnixNano); gap < interval*misses {
				t.Fatalf("marked unreachable %v after last seen; timeout is %v", gap, interval*misses)
			}
		} else if !a.Reachable {
			t.Fatalf("a live agent is unreachable: %v", a)
		}
	}

	// The agent comes back on new ports: the master learns its addresses
	// when it re-registers.
	_, again := startNode(t, "agent-1-restarted", agentArgs(1, dirs[1])...)
	st = waitState(t, httpAddr, func(st *messages.MasterState) bool { return reachable(st) == 3 })
	if len(st.Agents) != 3 {
		t.Fatalf("restart created a new agent: %d agents", len(st.Agents))
	}
	for _, a := range st.Agents {
		if a.Info.Hostname == "host-1" && (a.Info.Id.Value != victim || a.Reregistrations != 1) {
			t.Fatalf("restarted agent: id %s (want %s), reregistrations %d", a.Info.Id.Value, victim, a.Reregistrations)
		}
		if a.Info.Hostname == "host-1" && (a.Address != again.Remoting || a.Info.HttpAddress != again.AgentHTTP) {
			t.Fatalf("restarted agent: the master has addresses %s and %s, the agent bound %s and %s",
				a.Address, a.Info.HttpAddress, again.Remoting, again.AgentHTTP)
		}
	}

	// agora status reads the same state.
	out, err := exec.Command(agoraBin, "status", "--master-http", httpAddr).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("3 reachable of 3")) || !bytes.Contains(out, []byte(victim)) {
		t.Fatalf("agora status: %v\n%s", err, out)
	}
	// and its summary counts them, without a row per agent.
	out, err = exec.Command(agoraBin, "status", "--summary", "--master-http", httpAddr).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("agents: 3 reachable of 3 (0 unreachable)")) || bytes.Contains(out, []byte(victim)) ||
		!regexp.MustCompile(`(?m)^cpus\s+\d`).Match(out) {
		t.Fatalf("agora status --summary: %v\n%s", err, out)
	}
}

func TestBadFlagsStopStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"node", "--role=agent", "--master=127.0.0.1:1", "--resources", "cpus:4;mem:NaN"}, `"mem:NaN"`},
		{[]string{"node", "--role=agent", "--master=127.0.0.1:1", "--resources", "cpus:4;disk:[1-"}, `"disk:[1-"`},
		{[]string{"node", "--role=agent", "--master=127.0.0.1:1", "--attributes", "rack:r1;zone"}, `"zone"`},
		{[]string{"node", "--role=agent", "--master=127.0.0.1:1", "--docker-config", "/nonexistent/config.json"}, "--docker-config: unusable docker config"},
		{[]string{"node", "--role=agent"}, "--master"},
		{[]string{"node", "--role=scheduler"}, `"scheduler"`},
		{[]string{"node", "--heartbeat-interval=soon"}, "--heartbeat-interval"},
		{[]string{"node", "--allocator=fifo"}, `"fifo"`},
		{[]string{"node", "--listen=127.0.0.1:0", "--advertise=10.0.0.1:5055"}, "cannot advertise 10.0.0.1:5055"},
	} {
		out, err := exec.Command(agoraBin, append(tc.args, "--work-dir", t.TempDir())...).CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte(tc.want)) {
			t.Errorf("%v: err=%v, output %q should name %s", tc.args, err, out, tc.want)
		}
	}
}

// On agora dev: `agora run -- echo hello` prints hello and exits 0;
// `agora run -- sh -c 'exit 3'` exits 3. Real processes over TCP.
func TestAgoraRunOnDev(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, dev := startNode(t, "dev", "dev", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	masterAddr, httpAddr := dev.Remoting, dev.HTTP
	st := waitState(t, httpAddr, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	if a := st.Agents[0]; a.Address != dev.Remoting || a.Info.HttpAddress != dev.AgentHTTP || st.Master.GetAddress() != dev.Remoting {
		t.Fatalf("ready file %+v, but the master knows itself at %s and its agent at %s, %s",
			dev, st.Master.GetAddress(), a.Address, a.Info.HttpAddress)
	}

	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(agoraBin, append([]string{"run", "--master", masterAddr, "--timeout", "60s", "--"}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("agora run: %v", err)
		}
		return stdout.String(), stderr.String(), code
	}
	out, errOut, code := run("echo", "hello")
	if out != "hello\n" || code != 0 {
		t.Fatalf("echo hello: stdout %q, exit %d\nstderr:\n%s", out, code, errOut)
	}
	for _, want := range []string{"waiting for an offer", "TASK_RUNNING", "TASK_FINISHED"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if _, errOut, code := run("sh", "-c", "echo oops >&2; exit 3"); code != 3 || !strings.Contains(errOut, "oops") || !strings.Contains(errOut, "TASK_FAILED") {
		t.Fatalf("exit 3: code %d\nstderr:\n%s", code, errOut)
	}
	if _, errOut, code := run("/no/such/command"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("missing command: code %d\nstderr:\n%s", code, errOut)
	}
	// The agent's own /metrics, on its HTTP API (issue 16): registered,
	// its capacity, the updates of what it ran.
	var cpus float64
	for _, r := range st.Agents[0].Info.Resources {
		if r.Name == "cpus" {
			cpus = r.Scalar
		}
	}
	for sample, want := range map[string]float64{
		"agora_agent_registered":                                  1,
		`agora_agent_status_updates_total{state="TASK_FINISHED"}`: 1,
		`agora_agent_capacity{resource="cpus",unit="core"}`:       cpus,
	} {
		if got := metric(t, dev.AgentHTTP, sample); got != want {
			t.Errorf("the agent's /metrics: %s %v, want %v", sample, got, want)
		}
	}
}

// Kill the scheduler process, start it again with the same FrameworkID
// within the failover timeout: its tasks kept running, and reconciliation
// reports them RUNNING. Real processes over TCP.
func TestSchedulerProcessFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, dev := startNode(t, "dev", "dev", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	masterAddr, httpAddr := dev.Remoting, dev.HTTP
	waitState(t, httpAddr, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	args := []string{"--master", masterAddr, "--command", "sleep 600", "--resources", "cpus:0.1;mem:16", "--failover-timeout", "1h"}

	first := startBin(t, elasticBin, "elastic", append(args, "--tasks", "2")...)
	first.out.waitFor(t, "task_id=task-0001 state=TASK_RUNNING")
	first.out.waitFor(t, "task_id=task-0000 state=TASK_RUNNING")
	id := ""
	for _, line := range strings.Split(first.out.String(), "\n") {
		if _, rest, ok := strings.Cut(line, `msg="framework subscribed" framework_id=`); ok {
			id = rest
		}
	}
	if id == "" {
		t.Fatalf("no framework ID in:\n%s", first.out.String())
	}
	first.signal(syscall.SIGKILL)
	<-first.done
	st := waitState(t, httpAddr, func(st *messages.MasterState) bool {
		return len(st.Frameworks) == 1 && !st.Frameworks[0].Connected
	})
	if n := st.Frameworks[0].Tasks["TASK_RUNNING"]; n != 2 {
		t.Fatalf("after the scheduler died: %d tasks RUNNING, want 2", n)
	}

	second := startBin(t, elasticBin, "elastic-again", append(args, "--tasks", "0", "--framework-id", id)...)
	second.out.waitFor(t, `msg="framework subscribed" framework_id=`+id)
	second.out.waitFor(t, `msg="task reconciled" task_id=task-0000 state=TASK_RUNNING`)
	second.out.waitFor(t, `msg="task reconciled" task_id=task-0001 state=TASK_RUNNING`)
	st = waitState(t, httpAddr, func(st *messages.MasterState) bool {
		return len(st.Frameworks) == 1 && st.Frameworks[0].Connected
	})
	if f := st.Frameworks[0]; f.Info.Id.Value != id || f.Tasks["TASK_RUNNING"] != 2 {
		t.Fatalf("after failover: framework %s with %v, want %s with 2 RUNNING", f.Info.Id.Value, f.Tasks, id)
	}
	// Interrupting the framework tears it down: its tasks are killed, so
	// nothing is left running after the test.
	second.signal(syscall.SIGINT)
	second.out.waitFor(t, "tearing down")
	waitState(t, httpAddr, func(st *messages.MasterState) bool { return len(st.Frameworks) == 0 })
	<-second.done
}

// Operators set weights and quotas with the CLI; they survive a master
// restart (a file under the master's work dir); bad values are refused.
func TestRoleConfigurationCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	workDir := workDir(t)
	start := func(name string) (string, *proc) {
		p, ready := startNode(t, name, "dev", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir)
		return ready.HTTP, p
	}
	cli := func(httpAddr string, args ...string) (string, error) {
		out, err := exec.Command(agoraBin, append(args, "--master-http", httpAddr)...).CombinedOutput()
		return string(out), err
	}
	httpAddr, dev := start("dev")
	if out, err := cli(httpAddr, "weights", "set", "eng/ml", "2"); err != nil {
		t.Fatalf("weights set: %v\n%s", err, out)
	}
	if out, err := cli(httpAddr, "quota", "set", "eng/ml", "cpus:1;mem:64", "--limit", "cpus:2"); err != nil {
		t.Fatalf("quota set: %v\n%s", err, out)
	}
	if out, err := cli(httpAddr, "quota", "set", "eng/ml", "cpus:4", "--limit", "cpus:2"); err == nil || !strings.Contains(out, "exceeds its limit") {
		t.Fatalf("guarantee above limit accepted: %v\n%s", err, out)
	}
	dev.signal(syscall.SIGTERM)
	<-dev.done
	if _, err := os.Stat(dev.readyFile); !os.IsNotExist(err) {
		t.Fatalf("the ready file outlived the dev cluster that stopped cleanly: %v", err)
	}

	httpAddr, _ = start("dev-again")
	out, err := cli(httpAddr, "roles")
	if err != nil || !strings.Contains(out, "eng/ml") || !strings.Contains(out, "cpus:1;mem:64") || !strings.Contains(out, "cpus:2") {
		t.Fatalf("roles after restart: %v\n%s", err, out)
	}
	if !strings.Contains(strings.Fields(strings.Split(out, "\n")[1])[1], "2") {
		t.Fatalf("weight lost:\n%s", out)
	}
}

// The issue's acceptance test for agent recovery, with real processes:
// SIGKILL the agent while a task runs, start it again: the task keeps
// running, and its FINISHED update reaches the framework exactly once.
func TestTaskSurvivesAgentSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	masterAddr, httpAddr := startMaster(t, dir)
	agentArgs := []string{"node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", masterAddr,
		"--work-dir", filepath.Join(dir, "a"), "--tls-dir", agentDir(t, "node1"), "--resources", "cpus:1;mem:256;disk:64",
		"--registration-backoff", "100ms"}
	agent, _ := startNode(t, "agent", agentArgs...)
	gate := filepath.Join(dir, "gate")
	mkfifo(t, gate)
	fw := startBin(t, elasticBin, "elastic", "--master", masterAddr, "--tasks", "1", "--resources", "cpus:0.5;mem:64",
		"--command", "read x < "+gate+"; echo done")
	fw.out.waitFor(t, "task_id=task-0000 state=TASK_RUNNING")

	agent.signal(syscall.SIGKILL)
	<-agent.done
	agent, _ = startNode(t, "agent-again", agentArgs...)
	agent.out.waitFor(t, "re-attached to a task that kept running")
	st := waitState(t, httpAddr, func(st *messages.MasterState) bool {
		return len(st.Frameworks) == 1 && st.Frameworks[0].Tasks["TASK_RUNNING"] == 1 && reachable(st) == 1 && st.Agents[0].Reregistrations > 0
	})
	group := st.Frameworks[0].Info.Id.Value + ".task-0000"
	if err := os.WriteFile(gate, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fw.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the framework did not see its task finish")
	}
	out := fw.out.String()
	if n := strings.Count(out, "task_id=task-0000 state=TASK_FINISHED"); n != 1 {
		t.Fatalf("FINISHED reached the framework %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, "TASK_LOST") || strings.Contains(out, "TASK_FAILED") {
		t.Fatalf("the task did not survive the agent's restart:\n%s", out)
	}
	// The restarted agent removed the group the first one made for it
	// (before it reported the task's end).
	if cg, err := containerizer.DetectCgroups("/sys/fs/cgroup"); err == nil && cg.Exists(group) {
		t.Fatalf("cgroup %s left after the re-attached task ended", group)
	}
	// The finished task's output, found through the master and its agent.
	logs, err := exec.Command(agoraBin, "logs", "task-0000", "--master-http", httpAddr).Output()
	if err != nil || string(logs) != "done\n" {
		t.Fatalf("agora logs: %q %v", logs, err)
	}
}

// startMaster starts a lone master with work dir dir/m and returns its
// remoting and HTTP addresses.
func startMaster(t testing.TB, dir string) (remoting, httpAddr string) {
	t.Helper()
	_, m := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"))
	return m.Remoting, m.HTTP
}

// workDir is a temporary work dir for agents whose tasks outlive them
// (agents leave tasks running when they stop, as Mesos' do): when the test
// ends, after its processes, whatever still runs from a task checkpointed
// under it is killed and the task's cgroups are removed, so the suite
// leaves no processes or cgroups behind. Tasks run as nobody (the agents'
// default --task-user), so it is searchable by every user, as an agent's
// work dir must be.
func workDir(t testing.TB) string {
	t.Helper()
	dir := searchable(t)
	t.Cleanup(func() {
		var paths []string
		for _, pattern := range []string{"meta/frameworks/*/tasks/*.checkpoint", "*/meta/frameworks/*/tasks/*.checkpoint"} {
			p, _ := filepath.Glob(filepath.Join(dir, pattern))
			paths = append(paths, p...)
		}
		for _, path := range paths {
			b, err := os.ReadFile(path)
			cp := &messages.TaskCheckpoint{}
			if err != nil || checkpoint.UnmarshalMessage(b, cp) != nil {
				continue
			}
			if cp.Pid > 0 {
				if st, err := containerizer.ProcessStartTime(int(cp.Pid)); err == nil && st == cp.StartTime {
					_ = syscall.Kill(-int(cp.Pid), syscall.SIGKILL)
					for i := 0; i < 200; i++ { // bounded: the kernel reaps it within milliseconds
						if st, err := containerizer.ProcessStartTime(int(cp.Pid)); err != nil || st != cp.StartTime || zombie(int(cp.Pid)) {
							break
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
			}
		}
		// Every sandbox's group (tasks and executors, finished or not),
		// and what still runs in it: an agent stopped by the test may not
		// have removed them yet.
		if cg, err := containerizer.DetectCgroups("/sys/fs/cgroup"); err == nil {
			for _, pattern := range []string{"frameworks/*/tasks/*", "*/frameworks/*/tasks/*"} {
				dirs, _ := filepath.Glob(filepath.Join(dir, pattern))
				for _, d := range dirs {
					fw := filepath.Base(filepath.Dir(filepath.Dir(d)))
					cg.Remove(fw + "." + filepath.Base(d))
				}
			}
		}
		// Read-only views of volumes are mounts the agent keeps until the
		// volume is destroyed: unmounted before the directory goes.
		views, _ := filepath.Glob(filepath.Join(dir, "volumes", "ro", "*", "*"))
		for _, v := range views {
			if err := containerizer.UnmountReadOnlyView(v); err != nil {
				t.Error(err)
			}
		}
	})
	return dir
}

// searchable is a temporary directory every user can reach (t.TempDir and
// its parent are 0700).
func searchable(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// mkfifo makes a FIFO that tasks of any user can read (a gate they wait
// on).
func mkfifo(t testing.TB, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil { // whatever the umask
		t.Fatal(err)
	}
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// The issue's acceptance test for custom executors, with real processes: a
// framework runs 3 tasks in one executor process (the executor example);
// all FINISHED.
func TestThreeTasksInOneCustomExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	masterAddr, _ := startMaster(t, dir)
	agent, _ := startNode(t, "agent", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", masterAddr,
		"--work-dir", filepath.Join(dir, "a"), "--tls-dir", agentDir(t, "node1"), "--resources", "cpus:2;mem:512;disk:64")
	fw := startBin(t, elasticBin, "elastic", "--master", masterAddr, "--tasks", "3", "--resources", "cpus:0.5;mem:64",
		"--command", "echo hi", "--executor", executorBin)
	select {
	case <-fw.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the framework did not see its tasks finish")
	}
	out := fw.out.String()
	if n := strings.Count(out, "TASK_FINISHED"); n != 3 {
		t.Fatalf("%d tasks FINISHED, want 3:\n%s", n, out)
	}
	if n := strings.Count(agent.out.String(), "launching executor"); n != 1 {
		t.Fatalf("the agent launched %d executors, want one for the 3 tasks", n)
	}
	sandbox := filepath.Join(dir, "a", "frameworks")
	stdout, _ := filepath.Glob(filepath.Join(sandbox, "*", "tasks", "executor.elastic-executor", "stdout"))
	if len(stdout) != 1 {
		t.Fatalf("executor sandboxes: %v", stdout)
	}
	// The tasks' output goes to stdout, the executor's log to stderr.
	b, _ := os.ReadFile(stdout[0])
	logged, _ := os.ReadFile(filepath.Join(filepath.Dir(stdout[0]), "stderr"))
	if strings.Count(string(logged), `msg="task running"`) != 3 || strings.Count(string(b), "hi\n") != 3 {
		t.Fatalf("executor output:\n%s\nexecutor log:\n%s", b, logged)
	}
}

// Executors that fail: one that cannot start, one that exits at once, and
// one that never registers (killed after the timeout) each fail their
// tasks; nothing keeps running.
func TestFailingCustomExecutors(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	silent := filepath.Join(searchable(t), "silent-executor")
	if err := os.WriteFile(silent, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, executor, says string }{
		{"missing", filepath.Join(t.TempDir(), "no-such-executor"), "executor launch failed"},
		{"exits", "/bin/true", "the executor exited with code 0"},
		{"silent", silent, "the executor did not register within 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := workDir(t)
			masterAddr, _ := startMaster(t, dir)
			agent, _ := startNode(t, "agent", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", masterAddr,
				"--work-dir", filepath.Join(dir, "a"), "--tls-dir", agentDir(t, "node1"), "--resources", "cpus:2;mem:512;disk:64",
				"--executor-registration-timeout", "1s")
			fw := startBin(t, elasticBin, "elastic", "--master", masterAddr, "--tasks", "2", "--resources", "cpus:0.5;mem:64",
				"--command", "echo hi", "--executor", tc.executor)
			select {
			case <-fw.done:
			case <-time.After(60 * time.Second):
				t.Fatal("the framework's tasks did not end")
			}
			if n := strings.Count(fw.out.String(), `state=TASK_FAILED message="`+tc.says); n != 2 {
				t.Fatalf("%d tasks FAILED saying %q, want 2:\n%s", n, tc.says, fw.out.String())
			}
			agent.out.waitFor(t, "executor ended; its unfinished tasks fail")
		})
	}
}

// A custom executor outlives its agent, as tasks do: SIGKILL the agent
// while the executor runs two tasks; one of them finishes while the agent
// is down. The restarted agent asks the executor to re-register; the
// executor resends the update the dead agent never acknowledged; both
// tasks FINISH, each reported once, in the same executor process.
func TestExecutorSurvivesAgentRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	masterAddr, _ := startMaster(t, dir)
	agentArgs := []string{"node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", masterAddr,
		"--work-dir", filepath.Join(dir, "a"), "--tls-dir", agentDir(t, "node1"), "--resources", "cpus:2;mem:512;disk:64", "--registration-backoff", "100ms"}
	agent, _ := startNode(t, "agent", agentArgs...)
	gate := filepath.Join(dir, "gate")
	for _, g := range []string{gate + "0", gate + "1"} {
		mkfifo(t, g)
	}
	// Task n waits for a line on gate<n>.
	fw := startBin(t, elasticBin, "elastic", "--master", masterAddr, "--tasks", "2", "--resources", "cpus:0.5;mem:64",
		"--command", "read x < "+gate+"$(echo $AGORA_TASK_ID | tail -c 2)", "--executor", executorBin)
	fw.out.waitFor(t, "task_id=task-0000 state=TASK_RUNNING")
	fw.out.waitFor(t, "task_id=task-0001 state=TASK_RUNNING")
	before, _ := exec.Command("pgrep", "-f", "^"+executorBin).Output()
	if len(strings.Fields(string(before))) != 1 {
		t.Fatalf("want one executor process, have %q", before)
	}

	agent.signal(syscall.SIGKILL)
	<-agent.done
	if err := os.WriteFile(gate+"1", []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The executor saw task-0001 end while no agent listened.
	waitFile(t, filepath.Join(dir, "a", "frameworks", "*", "tasks", "executor.*", "stderr"), `msg="task ended" task_id=task-0001`)

	agent, _ = startNode(t, "agent-again", agentArgs...)
	agent.out.waitFor(t, "executor re-registered")
	if err := os.WriteFile(gate+"0", []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fw.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the framework's tasks did not end")
	}
	out := fw.out.String()
	for _, id := range []string{"task-0000", "task-0001"} {
		if n := strings.Count(out, "task_id="+id+" state=TASK_FINISHED"); n != 1 {
			t.Fatalf("%s: FINISHED reached the framework %d times, want once:\n%s", id, n, out)
		}
	}
	if strings.Contains(out, "TASK_LOST") || strings.Contains(out, "TASK_FAILED") {
		t.Fatalf("a task did not survive the agent's restart:\n%s", out)
	}
	after, _ := exec.Command("pgrep", "-f", "^"+executorBin).Output()
	if len(after) > 0 && string(after) != string(before) {
		t.Fatalf("executor process %q before the restart, %q after: it was replaced", before, after)
	}
	// With no task left it is told to shut down; the restarted agent
	// removes the group the first one made for it.
	agent.out.waitFor(t, "executor ended")
	groups, _ := filepath.Glob(filepath.Join(dir, "a", "frameworks", "*"))
	if cg, err := containerizer.DetectCgroups("/sys/fs/cgroup"); err == nil && len(groups) == 1 {
		if id := filepath.Base(groups[0]) + ".executor.elastic-executor"; cg.Exists(id) {
			t.Fatalf("cgroup %s left after the re-attached executor ended", id)
		}
	}
}

// An executor that does not re-register with the restarted agent (it was
// stopped, SIGSTOP, while the agent was down) is killed after the
// registration timeout, and its tasks fail with the reason.
func TestSilentExecutorKilledAfterAgentRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	masterAddr, _ := startMaster(t, dir)
	agentArgs := []string{"node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", masterAddr,
		"--work-dir", filepath.Join(dir, "a"), "--tls-dir", agentDir(t, "node1"), "--resources", "cpus:2;mem:512;disk:64", "--registration-backoff", "100ms",
		"--executor-registration-timeout", "2s"}
	agent, _ := startNode(t, "agent", agentArgs...)
	fw := startBin(t, elasticBin, "elastic", "--master", masterAddr, "--tasks", "1", "--resources", "cpus:0.5;mem:64",
		"--command", "sleep 600", "--executor", executorBin)
	fw.out.waitFor(t, "task_id=task-0000 state=TASK_RUNNING")
	agent.signal(syscall.SIGKILL)
	<-agent.done
	pids, _ := exec.Command("pgrep", "-f", "^"+executorBin).Output()
	for _, p := range strings.Fields(string(pids)) {
		_ = exec.Command("kill", "-STOP", p).Run()
	}
	agent, _ = startNode(t, "agent-again", agentArgs...)
	agent.out.waitFor(t, "executor did not re-register with the restarted agent in time")
	select {
	case <-fw.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the framework's task did not end")
	}
	if !strings.Contains(fw.out.String(), `task_id=task-0000 state=TASK_FAILED message="the executor did not re-register`) {
		t.Fatalf("want the task failed with the reason:\n%s", fw.out.String())
	}
	if out, _ := exec.Command("pgrep", "-f", "^"+executorBin).Output(); len(out) > 0 {
		t.Fatalf("executor processes left: %s", out)
	}
}

// waitFile waits until a file matching pattern contains want, woken by
// inotify when the files' directories change.
func waitFile(t *testing.T, pattern, want string) {
	t.Helper()
	waitFileCount(t, pattern, want, 1)
}

// waitFileCount waits until a file matching pattern contains want at
// least n times.
func waitFileCount(t *testing.T, pattern, want string, n int) {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	watched := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	buf := make([]byte, 4096)
	for {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			if dir := filepath.Dir(f); !watched[dir] {
				if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
					t.Fatal(err)
				}
				watched[dir] = true
			}
			if b, _ := os.ReadFile(f); strings.Count(string(b), want) >= n {
				return
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("no %s says %q %d times", pattern, want, n)
		}
		if dir := filepath.Dir(pattern); !watched[dir] && !strings.ContainsAny(dir, "*?[") {
			// The file does not exist yet: its directory tells when it does.
			if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO); err == nil {
				watched[dir] = true
				continue
			}
		}
		if len(watched) == 0 {
			left = min(left, 50*time.Millisecond) // nothing to watch yet: look again soon
		}
		_, _ = unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
		for {
			if n, _ := unix.Read(fd, buf); n <= 0 {
				break
			}
		}
	}
}

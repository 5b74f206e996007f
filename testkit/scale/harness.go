package scale

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/agora-sched/agora/cluster/hugepages"
	"github.com/agora-sched/agora/cluster/security"
	"golang.org/x/sys/unix"
)

// Config shapes one run. Zero fields take the defaults in brackets.
type Config struct {
	// Agora is the agora binary the master runs as (`agora node
	// --role=master`). Required.
	Agora string
	// Self is the executable children run as (RunChildIfAsked must be
	// called first in its main or TestMain) [os.Executable()].
	Self string
	// WorkDir holds the certificates, the ready file and the profile
	// [a temporary directory, removed after].
	WorkDir string
	// Insecure runs remoting and HTTP in plaintext (agora node
	// --insecure). By default every connection is mutual TLS, as in
	// production: the master, frameworks and operator hold certificates of
	// their roles, and each agent-host process one agent-host certificate
	// (security.RoleAgentHost) that the master, started with
	// --max-agents-per-agent-host, lets speak for the agents it hosts, each
	// under a hostname of its own (<certificate name>-<n>).
	Insecure bool

	// Consul is a Consul agent's HTTP address (host:port). Given, the
	// harness runs two masters elected through it (--election), agents and
	// frameworks find the leader there, and after the /state phase the
	// rebuild phase SIGKILLs the leader Failovers times and times how the
	// standby takes over (Report.Rebuilds). Empty: one master, no rebuild.
	Consul string
	// Failovers is how many leaders the rebuild phase kills, each
	// restarted as the standby before the next [1].
	Failovers int
	// ReregisterSpread is the agents' random wait before re-registering
	// with a new leader [500 ms, agora node's --reregistration-spread];
	// negative: none.
	ReregisterSpread time.Duration
	// SuppressIdle makes each framework suppress its offers once it has
	// launched its whole queue, as Mesos asks of a framework with nothing
	// to launch, and their subscription to a new leader carries the
	// suppression (scheduler.Config.KeepSuppressed). Off, an idle
	// framework declines every offer (for an hour), and after a failover
	// the new leader's allocator, which knows no filter, offers it every
	// re-registering agent's free resources once.
	SuppressIdle bool

	Agents         int    // simulated agents [1,000]
	AgentHosts     int    // processes hosting them [2]
	AgentResources string // each agent's [cpus:32;mem:65536]
	Frameworks     int    // frameworks [50]
	FrameworkHosts int    // processes running them [2]
	Tasks          int    // tasks each framework launches [1,000]
	TaskResources  string // each task's [cpus:0.1;mem:128]

	Pollers int           // concurrent /state pollers [20]
	PollFor time.Duration // how long they poll [10 s]
	// PollEvery, if set, makes each poller poll once per PollEvery (a
	// dashboard's refresh), the pollers' schedules spread evenly over
	// it, instead of back to back. Back to back, 20 pollers' latency is
	// 20 / the answers per second the machine can make and read (a
	// closed loop measures throughput); at an interval it is one
	// answer's time under that load. Each poll's latency then runs from
	// its scheduled time, so a poll that starts late because the
	// previous one was slow counts its wait (no coordinated omission).
	PollEvery time.Duration
	// PollIdentity makes the pollers refuse compression (no
	// Accept-Encoding: gzip), as a client that cannot decompress; by
	// default they ask for gzip and decompress as Go's client does.
	PollIdentity bool
	// PollETag makes each poller send If-None-Match with the ETag of its
	// last answer, as browsers and caching pollers do (an unchanged
	// snapshot then costs a 304); by default they do not.
	PollETag bool
	// PollSummary makes the pollers read /state/summary (the cluster in
	// numbers, as a dashboard reads it) instead of the whole /state.
	PollSummary bool

	EchoMessages int // round trips of the bare proto.actor echo, all rounds together [200,000]; negative: no echo
	EchoWindow   int // echo messages in flight [1,000]
	// EchoRounds splits the echo into rounds, each a fresh pair of
	// processes and connection that first runs as many round trips
	// untimed as it then times, and the report takes their median: one
	// echo's rate swings by 2x or more between runs, more than any change
	// measured against it [5].
	EchoRounds int

	// FirstOfferSamples is how many frameworks subscribe, one at a time,
	// to the idle cluster before the task phase (issue 18's first offer,
	// as BenchmarkFirstOffer measures it in one process) [200]; negative:
	// none.
	FirstOfferSamples int

	// MasterCPUs, if set, is a CPU list ("0", "0-1") for the masters: the
	// harness and its children (agent hosts, frameworks, the /state
	// pollers) then run on the other CPUs, as if the master had a machine
	// of its own (cpus.go says why that matters on a small VM), until the
	// cluster has stopped; the calibrations and the bare echo, which
	// measure the machine, run on all of them. Empty: every process shares
	// every CPU.
	MasterCPUs string

	// CPUProfile, if set, is where the master writes its CPU profile of
	// the whole run (agora node --cpu-profile).
	CPUProfile string
	// MasterArgs are more flags for the master.
	MasterArgs []string
	// Logf reports progress [discarded].
	Logf func(format string, args ...any)
	// Timeout bounds each phase [5 min].
	Timeout time.Duration
}

func (c *Config) defaults() error {
	if c.Agora == "" {
		return errors.New("scale: Config.Agora must name the agora binary (make build writes bin/agora)")
	}
	if c.Self == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("scale: %w", err)
		}
		c.Self = self
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Agents, 1000)
	def(&c.AgentHosts, 2)
	def(&c.Frameworks, 50)
	def(&c.FrameworkHosts, 2)
	def(&c.Tasks, 1000)
	def(&c.Pollers, 20)
	def(&c.EchoWindow, 1000)
	def(&c.EchoRounds, 5)
	if c.FirstOfferSamples == 0 {
		c.FirstOfferSamples = 200
	}
	if c.EchoMessages == 0 {
		c.EchoMessages = 200_000
	}
	c.AgentHosts = min(c.AgentHosts, c.Agents)
	c.FrameworkHosts = min(c.FrameworkHosts, c.Frameworks)
	if c.AgentResources == "" {
		c.AgentResources = "cpus:32;mem:65536"
	}
	if c.TaskResources == "" {
		c.TaskResources = "cpus:0.1;mem:128"
	}
	def(&c.Failovers, 1)
	if c.ReregisterSpread == 0 {
		c.ReregisterSpread = 500 * time.Millisecond
	}
	c.ReregisterSpread = max(c.ReregisterSpread, 0)
	if c.PollFor <= 0 {
		c.PollFor = 10 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}

// run is one harness run's processes.
type run struct {
	cfg      Config
	dir      string
	env      []string
	children []*child
	// masters[0] leads; masters[1] is the standby (with Consul).
	masters  []*masterProc
	started  int    // masters started, for their file names
	election string // consul://<addr>/<cluster>, with Consul
	// hostEnv is each agent host's own certificate files, by index.
	hostEnv  [][]string
	operator *security.Source
	// masterCPUs, with Config.MasterCPUs, is where the masters run; this
	// process and the children it starts are pinned to the other CPUs.
	masterCPUs *unix.CPUSet
	peerCPUs   unix.CPUSet
	unpin      func() // sets this process's threads back on the CPUs it had
}

// hugePagesAsked reads AGORA_HUGE_PAGES as `agora node --huge-pages`
// does (on unless it says false): the master inherits the harness's
// environment, and the agent hosts follow it too.
func hugePagesAsked() bool {
	v := os.Getenv("AGORA_HUGE_PAGES")
	if v == "" {
		return true
	}
	on, err := strconv.ParseBool(v)
	return on || err != nil
}

// hostTHP is the host's transparent huge page mode, or "unknown" where
// the host does not say.
func hostTHP() string {
	mode, err := hugepages.HostMode()
	if err != nil {
		return "unknown"
	}
	return mode
}

// Run starts the master, the agent hosts and the frameworks, measures,
// stops them all and returns what it measured.
func Run(cfg Config) (rep Report, err error) {
	if err := cfg.defaults(); err != nil {
		return rep, err
	}
	r := &run{cfg: cfg, dir: cfg.WorkDir}
	if r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "agora-scale-"); err != nil {
			return rep, fmt.Errorf("scale: %w", err)
		}
		defer os.RemoveAll(r.dir)
	}
	defer r.stop()
	rep = Report{Agents: cfg.Agents, AgentHosts: cfg.AgentHosts, Frameworks: cfg.Frameworks, FrameworkHosts: cfg.FrameworkHosts,
		Tasks: cfg.Frameworks * cfg.Tasks, TLS: !cfg.Insecure, Pollers: cfg.Pollers}
	rep.HugePages, rep.HostTHP = hugePagesAsked(), hostTHP()
	if w := os.Getenv("AGORA_STANDBY_WARM_HEAP"); w != "" && w != "0" {
		rep.StandbyWarmHeap = w // the masters inherit the variable
	}
	rep.Cores, rep.PeerCores = runtime.NumCPU(), runtime.NumCPU()
	if cfg.MasterCPUs != "" {
		allowed, err := allowedCPUs()
		if err != nil {
			return rep, err
		}
		masters, err := cpuList(cfg.MasterCPUs, allowed)
		if err != nil {
			return rep, err
		}
		peers := without(allowed, masters)
		if peers.Count() == 0 {
			return rep, fmt.Errorf("scale: MasterCPUs %q leaves no CPU for the agent hosts and frameworks", cfg.MasterCPUs)
		}
		r.masterCPUs, r.peerCPUs = &masters, peers
		rep.MasterCPUs, rep.PeerCPUs, rep.PeerCores = formatCPUs(masters), formatCPUs(peers), peers.Count()
	}
	if err := r.certificates(); err != nil {
		return rep, err
	}
	leader, err := r.startMasters()
	if err != nil {
		return rep, err
	}
	m := leader.info
	pid := leader.cmd.Process.Pid
	// Agents and frameworks find the master where agora node's would:
	// its address, or the election's Consul key.
	masterAddr := m.Remoting
	if r.election != "" {
		masterAddr = r.election
	}
	base, err := sample(pid)
	if err != nil {
		return rep, err
	}
	rep.MasterRSSBase = base.rss

	rep.Calibration = calibrate() // on every CPU, as the echo's
	if r.masterCPUs != nil {
		// The children started from here on inherit this process's CPUs.
		if r.unpin, err = pinProcess(r.peerCPUs); err != nil {
			return rep, err
		}
		defer r.unpin()
	}

	// Phase 1: every agent registers.
	cfg.Logf("scale: %d agents in %d processes registering with the master at %s", cfg.Agents, cfg.AgentHosts, m.Remoting)
	var agentHosts []*child
	for i := range cfg.AgentHosts {
		n := cfg.Agents / cfg.AgentHosts
		if i < cfg.Agents%cfg.AgentHosts {
			n++
		}
		args := childArgs{Master: masterAddr, Agents: n, Resources: cfg.AgentResources, Hostname: agentHostName(i),
			Spread: cfg.ReregisterSpread}
		c, err := r.startChild(fmt.Sprintf("agents-%d", i), "agents", args, r.hostEnv[i]...)
		if err != nil {
			return rep, err
		}
		agentHosts = append(agentHosts, c)
	}
	var first, last int64
	for _, c := range agentHosts {
		reg, err := c.expect("registered", cfg.Timeout)
		if err != nil {
			return rep, err
		}
		if first == 0 || reg.First < first {
			first = reg.First
		}
		last = max(last, reg.Last)
	}
	rep.Registration = time.Duration(last - first)
	registered, err := sample(pid)
	if err != nil {
		return rep, err
	}
	rep.MasterRSS = registered.rss
	rep.MasterCPURegistration = registered.cpu - base.cpu
	cfg.Logf("scale: registered in %v", rep.Registration)

	// Phase 1b: first offers on the idle cluster, one framework at a time.
	if cfg.FirstOfferSamples > 0 {
		if err := r.idleFirstOffers(masterAddr, &rep); err != nil {
			return rep, err
		}
	}

	// Phase 2: the frameworks launch their tasks.
	for _, c := range agentHosts {
		if err := c.command("reset", "ok", cfg.Timeout); err != nil {
			return rep, err
		}
	}
	before, err := sample(pid)
	if err != nil {
		return rep, err
	}
	ticks, _ := readHostTicks()
	hostsBefore, err := cpuOf(agentHosts)
	if err != nil {
		return rep, err
	}
	var fwHosts []*child
	for i := range cfg.FrameworkHosts {
		var names []string
		for j := i; j < cfg.Frameworks; j += cfg.FrameworkHosts {
			names = append(names, fmt.Sprintf("fw%d", j))
		}
		c, err := r.startChild(fmt.Sprintf("frameworks-%d", i), "frameworks", childArgs{Master: masterAddr, Frameworks: names, Tasks: cfg.Tasks, Task: cfg.TaskResources, SuppressIdle: cfg.SuppressIdle})
		if err != nil {
			return rep, err
		}
		fwHosts = append(fwHosts, c)
	}
	first, last = 0, 0
	var firstOffers []time.Duration
	var msgs, facts int64
	kinds := map[string]int64{}
	addKinds := func(k map[string]int64) {
		for name, n := range k {
			kinds[name] += n
		}
	}
	for _, c := range fwHosts {
		done, err := c.expect("done", cfg.Timeout)
		if err != nil {
			return rep, err
		}
		if first == 0 || done.First < first {
			first = done.First
		}
		last = max(last, done.Last)
		msgs += done.Sent + done.Received
		facts += done.Facts
		addKinds(done.Kinds)
		for _, ns := range done.FirstOffer {
			firstOffers = append(firstOffers, time.Duration(ns))
		}
	}
	after, err := sample(pid)
	if err != nil {
		return rep, err
	}
	ticksAfter, _ := readHostTicks()
	rep.StealTasks = stealShare(ticks, ticksAfter)
	// The framework hosts started with the phase; their CPU is all of
	// their life until now (subscription included).
	hostsAfter, err := cpuOf(agentHosts)
	if err != nil {
		return rep, err
	}
	if rep.FrameworksCPUTasks, err = cpuOf(fwHosts); err != nil {
		return rep, err
	}
	rep.AgentHostsCPUTasks = hostsAfter - hostsBefore
	for _, c := range agentHosts {
		c.send("stats")
		st, err := c.expect("stats", cfg.Timeout)
		if err != nil {
			return rep, err
		}
		msgs += st.Sent + st.Received
		facts += st.Facts
		addKinds(st.Kinds)
	}
	rep.MessageKinds = kinds
	rep.TaskPhase = time.Duration(last - first)
	rep.TasksPerSecond = float64(rep.Tasks) / rep.TaskPhase.Seconds()
	rep.FirstOffers = len(firstOffers)
	rep.FirstOfferP50, rep.FirstOfferP99, rep.FirstOfferMax = percentiles(firstOffers)
	if len(firstOffers) > 0 {
		rep.FirstOfferMin = firstOffers[0] // sorted by percentiles
	}
	rep.MasterCPUTasks = after.cpu - before.cpu
	rep.MasterIOBytes = (after.rchar + after.wchar) - (before.rchar + before.wchar)
	rep.AgoraMessages = msgs
	rep.AgoraMessageRate = float64(msgs) / rep.TaskPhase.Seconds()
	rep.AgoraFacts = facts
	rep.AgoraFactRate = float64(facts) / rep.TaskPhase.Seconds()
	cfg.Logf("scale: %d tasks RUNNING in %v (%.0f/s)", rep.Tasks, rep.TaskPhase, rep.TasksPerSecond)

	// Phase 3: /state pollers, and heartbeats answered meanwhile.
	for _, c := range agentHosts {
		if err := c.command("reset", "ok", cfg.Timeout); err != nil {
			return rep, err
		}
	}
	before, err = sample(pid)
	if err != nil {
		return rep, err
	}
	ticks, _ = readHostTicks()
	ps, err := r.poll(m.HTTP)
	if err != nil {
		return rep, err
	}
	polls := ps.latencies
	after, err = sample(pid)
	if err != nil {
		return rep, err
	}
	ticksAfter, _ = readHostTicks()
	rep.StealPoll = stealShare(ticks, ticksAfter)
	rep.MasterCPUPoll = after.cpu - before.cpu
	rep.PollFor, rep.PollEvery, rep.PollSummary = cfg.PollFor, cfg.PollEvery, cfg.PollSummary
	rep.StatePolls = len(polls)
	rep.StateBytes, rep.StateGzip, rep.StateNotModified = ps.size, ps.gzip, ps.notModified
	rep.StateWireBytes = ps.wire
	rep.PollerCPU = ps.cpu
	rep.StateP50, rep.StateP99, rep.StateMax = percentiles(polls)
	rep.StateHeadersP50, rep.StateHeadersP99, _ = percentiles(ps.headers)
	var hbs []time.Duration
	for _, c := range agentHosts {
		c.send("stats")
		st, err := c.expect("stats", cfg.Timeout)
		if err != nil {
			return rep, err
		}
		for _, ns := range st.Heartbeats {
			hbs = append(hbs, time.Duration(ns))
		}
	}
	rep.Heartbeats = len(hbs)
	rep.HeartbeatP50, rep.HeartbeatP99, rep.HeartbeatMax = percentiles(hbs)
	cfg.Logf("scale: /state p99 %v over %d polls; heartbeat answers p99 %v over %d", rep.StateP99, rep.StatePolls, rep.HeartbeatP99, rep.Heartbeats)

	// Phase 4: the leader SIGKILLed, the standby rebuilds its books from
	// the agents and frameworks.
	if r.election != "" {
		if rep.Rebuilds, err = r.rebuild(agentHosts, rep.Tasks); err != nil {
			return rep, err
		}
	}

	// Phase 5: the physical limit, on a machine Agora has left: a bare
	// proto.actor echo between two processes on the same loopback.
	if cfg.EchoMessages > 0 {
		// The cluster stops first. Left running, its 10,000 agents'
		// heartbeats and 50 frameworks declining every offer took half
		// of the two cores from the echo (the calibration before it read
		// 2-2.5x the start's), and the ratio was Agora's rate against
		// half the machine's limit.
		r.stop()
		rep.EchoAlone = r.clusterGone()
		if r.unpin != nil {
			r.unpin() // the calibration and the echo measure the machine
		}
		// The echo runs last, on what the machine gives then: the ratio
		// means something only if the machine was as fast as in the
		// task phase.
		rep.CalibrationEcho = calibrate()
		ticks, _ = readHostTicks()
		defer func() {
			ticksAfter, _ := readHostTicks()
			rep.StealEcho = stealShare(ticks, ticksAfter)
		}()
		// Plaintext and TLS rounds alternate, so that a machine whose
		// speed drifts (a VM's busy host) moves both alike: run one after
		// the other, TLS once read faster than plaintext.
		per := max(1, r.cfg.EchoMessages/r.cfg.EchoRounds)
		cfg.Logf("scale: bare proto.actor echo, %d rounds of %d round trips each, plaintext and TLS alternating (TLS: %v)", r.cfg.EchoRounds, per, !cfg.Insecure)
		for range r.cfg.EchoRounds {
			rate, err := r.echoRound(false, per)
			if err != nil {
				return rep, err
			}
			rep.EchoRounds = append(rep.EchoRounds, rate)
			if !cfg.Insecure {
				if rate, err = r.echoRound(true, per); err != nil {
					return rep, err
				}
				rep.EchoTLSRounds = append(rep.EchoTLSRounds, rate)
			}
		}
		rep.EchoMessageRate = median(rep.EchoRounds)
		rep.Ratio = rep.AgoraMessageRate / rep.EchoMessageRate
		rep.FactRatio = rep.AgoraFactRate / rep.EchoMessageRate
		if !cfg.Insecure {
			rep.EchoTLSMessageRate = median(rep.EchoTLSRounds)
			rep.RatioTLS = rep.AgoraMessageRate / rep.EchoTLSMessageRate
			rep.FactRatioTLS = rep.AgoraFactRate / rep.EchoTLSMessageRate
		}
	}
	return rep, nil
}

// certificates makes a CA and a certificate for the masters, the
// frameworks and the operator (the harness's /state pollers), as `agora
// tls` would, and one agent-host certificate per agent host process.
func (r *run) certificates() error {
	r.hostEnv = make([][]string, r.cfg.AgentHosts)
	if r.cfg.Insecure {
		r.env = append(os.Environ(), security.EnvInsecure+"=true")
		return nil
	}
	dir := filepath.Join(r.dir, "tls")
	hosts := []string{"localhost", "127.0.0.1"}
	names := map[security.Role]string{security.RoleMaster: "scale-master",
		security.RoleFramework: "scale-frameworks", security.RoleOperator: "scale-operator"}
	if _, err := security.Bootstrap(dir, names, hosts, time.Now()); err != nil {
		return fmt.Errorf("scale: certificates: %w", err)
	}
	ca, err := security.ReadPEM(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		return fmt.Errorf("scale: certificates: %w", err)
	}
	for i := range r.cfg.AgentHosts {
		p, err := security.Issue(ca, security.Request{Identity: security.Identity{Role: security.RoleAgentHost, Name: agentHostName(i)}, Hosts: hosts}, time.Now())
		if err != nil {
			return fmt.Errorf("scale: agent host certificate: %w", err)
		}
		cert, key := filepath.Join(dir, agentHostName(i)+".pem"), filepath.Join(dir, agentHostName(i)+"-key.pem")
		if err := security.WriteFiles(p, cert, key, true); err != nil {
			return fmt.Errorf("scale: agent host certificate: %w", err)
		}
		r.hostEnv[i] = []string{security.EnvCert + "=" + cert, security.EnvKey + "=" + key}
	}
	op, err := security.Options{Dir: dir}.Load(security.RoleOperator, quiet)
	if err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	r.operator = op
	r.env = append(os.Environ(), security.EnvDir+"="+dir)
	return nil
}

// agentHostName is agent host i's certificate name, and the prefix of its
// agents' hostnames.
func agentHostName(i int) string { return fmt.Sprintf("scale-host-%d", i) }

// polled is what the pollers saw: every answer's latency, the size of the
// last (decoded), how many came gzip-compressed or 304 Not Modified, the
// bytes they read from their sockets (TLS records and HTTP framing
// included) and the CPU this process (the pollers, nearly alone while
// they poll) spent.
type polled struct {
	latencies, headers []time.Duration
	size               int
	gzip, notModified  int
	wire               int64
	cpu                time.Duration
}

// poll runs the pollers against /state for PollFor. Each poller is a
// client as an operator's tool or a dashboard is: Go's HTTP client over
// one kept-alive connection, which asks for gzip and decompresses the
// answer as it is read; each poll reads the whole JSON (decompressed) and
// its latency runs from the request to the last byte (its headers'
// latency, to the status line and headers, is what the master alone
// decides: the rest is the transfer and the poller's decryption and
// inflating, which the pollers' share of the CPU bounds). They do not parse
// the JSON (a client's parsing is the client's cost, not the master's):
// they read it into io.Discard, as a streaming decoder would take it; one
// answer is read whole and checked to be JSON before they start.
func (r *run) poll(addr string) (polled, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	if r.operator != nil {
		client = security.HTTPClient(r.operator, 30*time.Second)
	}
	var wire atomic.Int64
	t, _ := client.Transport.(*http.Transport)
	if t == nil {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	t.DisableCompression = r.cfg.PollIdentity
	t.MaxIdleConnsPerHost = r.cfg.Pollers
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	t.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, n: &wire}, nil
	}
	client.Transport = t
	defer t.CloseIdleConnections()
	url := security.Scheme(r.operator) + "://" + addr + "/state"
	if r.cfg.PollSummary {
		url += "/summary"
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.PollFor)
	defer cancel()
	var mu sync.Mutex
	var out polled
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		firstErr = cmpOr(firstErr, err)
		mu.Unlock()
	}
	// One answer read whole and checked to be JSON, untimed.
	if err := checkJSON(client, url); err != nil {
		return polled{}, err
	}
	cpu0, _ := processCPU()
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range r.cfg.Pollers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine, heads []time.Duration
			var gz, nm int
			var etag string
			next := begin.Add(r.cfg.PollEvery * time.Duration(i) / time.Duration(r.cfg.Pollers))
			for ctx.Err() == nil {
				req, err := http.NewRequest("GET", url, nil)
				if err != nil {
					fail(err)
					return
				}
				if r.cfg.PollETag && etag != "" {
					req.Header.Set("If-None-Match", etag)
				}
				start := time.Now()
				if r.cfg.PollEvery > 0 {
					if wait := time.Until(next); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
						}
						if ctx.Err() != nil {
							// The window closed, maybe as the schedule came
							// (a select takes either when both are ready).
							continue
						}
					}
					start = next
					next = next.Add(r.cfg.PollEvery)
				}
				resp, err := client.Do(req)
				if err != nil {
					fail(err)
					return
				}
				heads = append(heads, time.Since(start))
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					fail(fmt.Errorf("GET %s: reading the answer: %w", url, err))
					return
				}
				switch resp.StatusCode {
				case http.StatusOK:
				case http.StatusNotModified:
					nm++
				default:
					fail(fmt.Errorf("GET %s: %s", url, resp.Status))
					return
				}
				mine = append(mine, time.Since(start))
				if resp.Uncompressed {
					gz++
				}
				etag = resp.Header.Get("ETag")
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					out.size = int(n)
					mu.Unlock()
				}
			}
			mu.Lock()
			out.latencies = append(out.latencies, mine...)
			out.headers = append(out.headers, heads...)
			out.gzip += gz
			out.notModified += nm
			mu.Unlock()
		}()
	}
	wg.Wait()
	cpu1, _ := processCPU()
	out.cpu = cpu1 - cpu0
	out.wire = wire.Load()
	if firstErr != nil {
		return polled{}, fmt.Errorf("scale: polling /state: %w", firstErr)
	}
	return out, nil
}

// checkJSON reads /state once and checks that it is JSON.
func checkJSON(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("scale: GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !json.Valid(b) {
		return fmt.Errorf("scale: GET %s: %s, %d B of JSON %v (%v)", url, resp.Status, len(b), json.Valid(b), err)
	}
	return nil
}

// countingConn counts the bytes read from a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// processCPU is this process's user+system CPU time (getrusage).
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// echoRound measures one round of the bare proto.actor echo: messages
// per second, both directions counted, between a fresh server and client
// (a new connection) carrying per round trips.
func (r *run) echoRound(tls bool, per int) (float64, error) {
	srv, err := r.startChild("echo-server", "echo-server", childArgs{EchoTLS: tls})
	if err != nil {
		return 0, err
	}
	addr, err := srv.expect("address", r.cfg.Timeout)
	if err != nil {
		return 0, err
	}
	cli, err := r.startChild("echo-client", "echo-client", childArgs{Echo: addr.Address, Messages: per, Warmup: per, Window: r.cfg.EchoWindow, EchoTLS: tls})
	if err != nil {
		return 0, err
	}
	res, err := cli.expect("echo", r.cfg.Timeout)
	if err != nil {
		return 0, err
	}
	// The next round gets the machine to itself.
	cli.stop()
	srv.stop()
	return float64(res.Count) / time.Duration(res.Elapsed).Seconds(), nil
}

// child is a started child process.
type child struct {
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	reports chan report
	stderr  *tail
	// stopped makes stop once: the run stops the cluster before the
	// echo, and again (with the echo's children) when it ends.
	stopped sync.Once
}

// startChild starts a child of kind; env adds to the run's environment.
func (r *run) startChild(name, kind string, args childArgs, env ...string) (*child, error) {
	b, _ := json.Marshal(args)
	cmd := exec.Command(r.cfg.Self, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(append(slices.Clone(r.env), env...), childEnv+"="+kind, childArgsEnv+"="+string(b))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, reports: make(chan report, 16), stderr: &tail{}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil { // on this process's CPUs
		return nil, fmt.Errorf("scale: starting %s: %w", name, err)
	}
	r.children = append(r.children, c)
	go func() {
		in := bufio.NewScanner(stdout)
		in.Buffer(make([]byte, 1<<20), 256<<20) // latency lists of 10,000s of agents
		for in.Scan() {
			var rep report
			if json.Unmarshal(in.Bytes(), &rep) == nil && rep.Kind != "" {
				c.reports <- rep
			}
		}
		close(c.reports)
	}()
	return c, nil
}

// cpuOf sums the CPU time the children have used so far.
func cpuOf(children []*child) (time.Duration, error) {
	var sum time.Duration
	for _, c := range children {
		u, err := sample(c.cmd.Process.Pid)
		if err != nil {
			return 0, fmt.Errorf("scale: %s: %w", c.name, err)
		}
		sum += u.cpu
	}
	return sum, nil
}

func (c *child) send(cmd string) { _, _ = fmt.Fprintln(c.stdin, cmd) }

func (c *child) command(cmd, answer string, timeout time.Duration) error {
	c.send(cmd)
	_, err := c.expect(answer, timeout)
	return err
}

// expect waits for the child's next report of kind.
func (c *child) expect(kind string, timeout time.Duration) (report, error) {
	deadline := time.After(timeout)
	for {
		select {
		case rep, ok := <-c.reports:
			switch {
			case !ok:
				return rep, fmt.Errorf("scale: %s ended before it reported %s:\n%s", c.name, kind, c.stderr)
			case rep.Kind == "error":
				return rep, fmt.Errorf("scale: %s: %s", c.name, rep.Error)
			case rep.Kind == kind:
				return rep, nil
			}
		case <-deadline:
			return report{}, fmt.Errorf("scale: %s did not report %s within %v:\n%s", c.name, kind, timeout, c.stderr)
		}
	}
}

// stop ends the child (its stdin closed, killed after 10 s), once.
func (c *child) stop() { c.stopped.Do(c.stopNow) }

func (c *child) stopNow() {
	_ = c.stdin.Close()
	exited := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-exited
	}
}

// tail keeps the last 16 KiB written to it: a process's output for an
// error message.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - 16<<10; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

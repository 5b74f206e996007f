package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/agora-sched/agora/runtime/fetcher"
	"github.com/docker/go-units"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/health"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/actors/mesosapi"
	"github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/hugepages"
	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Default addresses. Remoting and HTTP run mutual TLS unless --insecure.
const (
	defaultMasterListen = "127.0.0.1:5055"
	defaultAgentListen  = "127.0.0.1:5051"
	defaultHTTP         = "127.0.0.1:5050"
	defaultAgentHTTP    = "127.0.0.1:5052"
)

// HTTP server timeouts: a client that stalls (headers, body or reading the
// answer) lets its connection go instead of holding it for minutes. Bodies
// are small (a weight, a quota), so the read timeout (--http-read-timeout,
// 30s) is short; handlers that answer for longer (a /state long poll, a
// large sandbox file) extend their own write deadline
// (http.ResponseController).
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpWriteTimeout      = time.Minute
	httpIdleTimeout       = 2 * time.Minute
	httpMaxHeaderBytes    = 64 << 10
)

type nodeCmd struct {
	Role      string `default:"master" env:"AGORA_ROLE" help:"What this process runs: master, agent, or master,agent."`
	Listen    string `env:"AGORA_LISTEN" help:"host:port for proto.actor remoting (default ${defaultMasterListen} for a master, ${defaultAgentListen} for an agent); port 0 picks a free port (see --ready-file)."`
	Advertise string `env:"AGORA_ADVERTISE" help:"host:port peers use to reach this node, if not the listen address (needs a fixed --listen port)."`
	HTTP      string `name:"http" default:"${defaultHTTP}" env:"AGORA_HTTP" help:"host:port of the master's HTTP API (/state, /health, /metrics); port 0 picks a free port."`
	AgentHTTP string `name:"agent-http" default:"${defaultAgentHTTP}" env:"AGORA_AGENT_HTTP" help:"host:port of the agent's HTTP API (task sandboxes); port 0 picks a free port."`
	ReadyFile string `name:"ready-file" env:"AGORA_READY_FILE" help:"Once the node serves, write the addresses it bound to this file as JSON (pid, remoting, http, agent_http), atomically; removed at start and stop."`
	Master    string `env:"AGORA_MASTER" help:"Where agents find the leading master: its remoting address host:port, or consul://host:port/<cluster> with several masters (default: this process's master, or --election)."`
	WorkDir   string `name:"work-dir" default:"/var/lib/agora" env:"AGORA_WORK_DIR" help:"Directory for the agent's identity and sandboxes."`
	Hostname  string `env:"AGORA_HOSTNAME" help:"Hostname the agent reports (default: os.Hostname)."`

	ExecutorRegistrationTimeout time.Duration `default:"1m" env:"AGORA_EXECUTOR_REGISTRATION_TIMEOUT" help:"How long a custom executor has to register with its agent before it is killed and its tasks fail."`
	FetcherCacheSize            string        `name:"fetcher-cache-size" default:"2GB" env:"AGORA_FETCHER_CACHE_SIZE" help:"Bytes of fetched files (CommandInfo.uris marked cache) the agent keeps under <work-dir>/fetcher-cache, per URI and task user, the least recently used evicted first; emptied when the agent starts (as Mesos' --fetcher_cache_size; 0: no cache)."`
	FetcherMaxSize              string        `name:"fetcher-max-size" default:"4GB" env:"AGORA_FETCHER_MAX_SIZE" help:"Most bytes one task's or executor's fetch may write to its sandbox (archives counted unpacked); past it the task fails with REASON_FETCHER_FAILED."`
	SandboxGC                   time.Duration `name:"sandbox-gc" default:"168h" env:"AGORA_SANDBOX_GC" help:"How long an agent keeps a finished task's sandbox (stdout, stderr)."`
	DiskWatchInterval           time.Duration `name:"disk-watch-interval" default:"15s" env:"AGORA_DISK_WATCH_INTERVAL" help:"How often the agent measures (du) the sandbox of each running task given disk, and each persistent volume a task uses; a task over its disk is killed with TASK_FAILED and REASON_CONTAINER_LIMITATION_DISK (Mesos' --disk_watch_interval; 0: never measured)."`
	EnforceContainerDiskQuota   bool          `name:"enforce-container-disk-quota" default:"true" negatable:"" env:"AGORA_ENFORCE_CONTAINER_DISK_QUOTA" help:"Kill a task over its disk (--no-enforce-container-disk-quota: only log it, as Mesos' default)."`
	Isolation                   string        `default:"cgroups" enum:"cgroups,none" env:"AGORA_ISOLATION" help:"Agent task isolation: cgroups (memory and cpu limits from each task's resources; v1 or v2) or none."`
	TaskUser                    string        `name:"task-user" default:"nobody" env:"AGORA_TASK_USER" help:"User that tasks naming none (in CommandInfo.user or FrameworkInfo.user) run as, when the agent runs as root; an agent that is not root runs every task as itself."`
	Resources                   string        `env:"AGORA_RESOURCES" help:"Agent resources in Mesos syntax, e.g. 'cpus:4;mem:8192;ports:[31000-32000]'; unnamed ones are detected."`
	Attributes                  string        `env:"AGORA_ATTRIBUTES" help:"Agent attributes, e.g. 'rack:r1;zone:a'."`
	DockerConfig                string        `name:"docker-config" env:"AGORA_DOCKER_CONFIG" help:"Docker config file (like ~/.docker/config.json, or an old .dockercfg) whose registry credentials the agent pulls Docker tasks' images with; a task's own .docker/config.json fetched into its sandbox replaces it."`

	HeartbeatInterval         string        `default:"auto" env:"AGORA_HEARTBEAT_INTERVAL" help:"Agent heartbeat interval (master): a duration, or auto to grow it with the cluster so the master receives at most --max-heartbeat-rate heartbeats/s."`
	HeartbeatMinInterval      time.Duration `default:"5s" env:"AGORA_HEARTBEAT_MIN_INTERVAL" help:"Smallest interval auto picks (master)."`
	MaxHeartbeatRate          float64       `default:"500" env:"AGORA_MAX_HEARTBEAT_RATE" help:"Heartbeats per second the master accepts with auto intervals."`
	MaxMissedHeartbeats       int           `default:"3" env:"AGORA_MAX_MISSED_HEARTBEATS" help:"Heartbeats an agent may miss in a row before it is unreachable (master)."`
	Allocator                 string        `default:"drf" env:"AGORA_ALLOCATOR" help:"Allocation policy of the master: ${allocators}."`
	AllocationInterval        time.Duration `default:"1s" env:"AGORA_ALLOCATION_INTERVAL" help:"Time between batch allocation cycles (events allocate at once between them)."`
	OfferTimeout              time.Duration `default:"30s" env:"AGORA_OFFER_TIMEOUT" help:"Offers not used within this are rescinded (0: never)."`
	FrameworkHeartbeat        time.Duration `default:"15s" env:"AGORA_FRAMEWORK_HEARTBEAT" help:"How often the master heartbeats schedulers."`
	ReclaimInterval           time.Duration `default:"15s" env:"AGORA_RECLAIM_INTERVAL" help:"How often the master preempts tasks for roles below their guarantee (0: never)."`
	PreemptionGrace           time.Duration `default:"5s" env:"AGORA_PREEMPTION_GRACE" help:"Time a preempted task is given between TASK_KILLING (reason PREEMPTED) and SIGKILL."`
	Election                  string        `env:"AGORA_ELECTION" help:"Run several masters: consul://host:port/<cluster> elects the leader with Consul sessions (masters; empty: this master leads alone)."`
	ElectionTTL               time.Duration `name:"election-ttl" default:"2s" env:"AGORA_ELECTION_TTL" help:"TTL of the check that binds a master's Consul session: how fast a dead leader is detected."`
	LockDelay                 time.Duration `default:"500ms" env:"AGORA_LOCK_DELAY" help:"Consul lock delay after a leader's session ends (Consul's default is 15s)."`
	StandbyWarmHeap           string        `name:"standby-warm-heap" default:"0" env:"AGORA_STANDBY_WARM_HEAP" help:"With --election, memory a standby master keeps allocated and written while it stands by and frees as it is elected, such as 800MB (0: none): the new leader's heap grows into it instead of faulting in fresh pages while every agent re-registers (at 40,000 agents a seventh of the rebuild's CPU on a virtual machine). Set it near the leader's resident memory; the standby holds that much meanwhile."`
	AgentReregisterTimeout    time.Duration `default:"2m" env:"AGORA_AGENT_REREGISTER_TIMEOUT" help:"After an election, how long the new leader waits for agents to re-register before it answers reconciliation of tasks it has not heard of with TASK_LOST."`
	RevocableAbove            string        `default:"never" enum:"never,guarantee,fair-share" env:"AGORA_REVOCABLE_ABOVE" help:"Offer what a role gets beyond this point as revocable to frameworks with that capability: never, guarantee or fair-share."`
	MaxAgents                 int           `default:"10000" env:"AGORA_MAX_AGENTS" help:"Agents the master holds at most, reachable or not (at most 90000, where resource sums stay exact; 0: 90000)."`
	AgentRegistrationRate     float64       `default:"100" env:"AGORA_AGENT_REGISTRATION_RATE" help:"New agent registrations per second the master takes (0: no limit); re-registrations are not limited."`
	AgentRegistrationBurst    int           `default:"1000" env:"AGORA_AGENT_REGISTRATION_BURST" help:"Registrations the master takes at once before --agent-registration-rate applies."`
	AgentUnreachableTimeout   time.Duration `default:"15m" env:"AGORA_AGENT_UNREACHABLE_TIMEOUT" help:"An agent unreachable this long is removed: its tasks are LOST to their frameworks (0: never)."`
	AgentRemovalInterval      time.Duration `default:"0s" env:"AGORA_AGENT_REMOVAL_INTERVAL" help:"At most one unreachable agent is removed per interval, as Mesos' --agent_removal_rate_limit (0: no spacing)."`
	MaxFrameworksPerPrincipal int           `default:"1000" env:"AGORA_MAX_FRAMEWORKS_PER_PRINCIPAL" help:"Frameworks one principal may hold (0: no limit)."`
	MaxRoles                  int           `default:"1000" env:"AGORA_MAX_ROLES" help:"Distinct roles (configured or subscribed to) the master tracks (at most 90000; 0: 90000)."`
	MaxAgentsPerAgentHost     int           `name:"max-agents-per-agent-host" default:"0" env:"AGORA_MAX_AGENTS_PER_AGENT_HOST" help:"For test harnesses only (testkit/scale): let each agent-host certificate speak for this many simulated agents on its one connection, hostnames <name>-0 .. <name>-(N-1). 0: agent-host certificates are refused; agents register with agent certificates."`
	MaxAgentResources         string        `default:"${defaultMaxAgentResources}" env:"AGORA_MAX_AGENT_RESOURCES" help:"Most one agent may announce, per resource (an agent announcing more is refused): Mesos syntax; empty: no limit beyond 1e11 of each."`
	HTTPReadTimeout           time.Duration `name:"http-read-timeout" default:"30s" env:"AGORA_HTTP_READ_TIMEOUT" help:"Time a client of the HTTP APIs has to send a request whole (headers and body); one cut short applies nothing."`
	RegistrationBackoff       time.Duration `default:"1s" env:"AGORA_REGISTRATION_BACKOFF" help:"Agent registration backoff factor (Mesos' --registration_backoff_factor): each retry waits a random part of a bound that starts at twice this and doubles, up to --registration-backoff-max."`
	RegistrationMax           time.Duration `name:"registration-backoff-max" default:"1m" env:"AGORA_REGISTRATION_BACKOFF_MAX" help:"Cap on the agent registration retry bound (Mesos' REGISTER_RETRY_INTERVAL_MAX, 1 min)."`
	ReregistrationSpread      time.Duration `name:"reregistration-spread" default:"500ms" env:"AGORA_REREGISTRATION_SPREAD" help:"An agent re-registers with a newly elected master after a random wait below this (Mesos: a random part of --registration_backoff_factor), so that a new leader does not meet every agent at once (0: at once)."`

	ACLs           string        `name:"acls" env:"AGORA_ACLS" help:"Access control lists (master): a JSON file (see the README's \"A secured cluster\"), reloaded when it changes; or consul, to read them from the election's Consul KV (agora/<cluster>/acls; set with agora acls set), so that every master enforces the same. With a list, what it does not allow is denied. Empty: none, every authenticated client may do what its certificate's role allows."`
	Credentials    string        `env:"AGORA_CREDENTIALS" help:"Principals and secrets (master) in Mesos' --credentials format, {\"credentials\": [{\"principal\": \"ops\", \"secret\": \"...\"}]}: HTTP clients without a client certificate authenticate with them (HTTP Basic, or Authorization: Bearer <secret>) and act as operators of that principal; on the Mesos scheduler API (/api/v1/scheduler) as frameworks of that principal, and there, without a certificate, they are required. Reloaded when it changes."`
	ReloadInterval time.Duration `name:"reload-interval" default:"2s" env:"AGORA_RELOAD_INTERVAL" help:"How often the --acls and --credentials files are checked for changes."`

	CPUProfile  string `name:"cpu-profile" type:"path" env:"AGORA_CPU_PROFILE" help:"Write a Go CPU profile of the node, from start to a clean stop (SIGTERM or SIGINT), to this file (go tool pprof): what bounds a master under load."`
	HeapProfile string `name:"heap-profile" type:"path" env:"AGORA_HEAP_PROFILE" help:"Write a Go heap profile of the node at a clean stop (SIGTERM or SIGINT) to this file (go tool pprof; -sample_index=alloc_space for everything it allocated since start, inuse_space for what it held at the end): what a master's memory per agent and task is made of."`
	HugePages   bool   `name:"huge-pages" default:"true" negatable:"" env:"AGORA_HUGE_PAGES" help:"Where the host leaves transparent huge pages to each process (THP mode madvise), ask for them for the first GiB of the node's heap. Without them a master growing its heap fast (a burst of tasks, a rebuild after failover) spends a fifth of its CPU on 4 KiB page faults on a virtual machine; with them it rebuilds after a failover with half the CPU. Costs: some resident memory (a 2 MiB page is resident whole: 1-16 % more for a master of 10,000 agents), and a request that meets the heap's growth may wait for a 2 MiB fault. No effect under THP always or never, or with GODEBUG=disablethp=1; --no-huge-pages (AGORA_HUGE_PAGES=false) turns it off."`
	GCPercent   int    `name:"gc-percent" default:"400" env:"AGORA_GC_PERCENT" help:"The Go garbage collector's target: a collection starts when the heap has grown by this percentage of what the last one left live (Go's GOGC, whose default is 100; the GOGC variable, when set, wins). A node's messages are short-lived garbage: at 100 the collector took a fifth of a busy master's CPU. Cap the heap with GOMEMLIMIT if memory is tight."`

	// TLS: the node's certificate (of role master, or agent for an agent
	// only node) and the cluster's CA.
	TLS tlsFlags `embed:""`
}

// Help is the long help of `agora node --help`.
func (c *nodeCmd) Help() string {
	return `Ports: --listen, --http and --agent-http accept port 0, and the node then binds a free port. ` +
		`To learn which, pass --ready-file PATH: once the node serves (remoting started, HTTP APIs listening, ` +
		`actors spawned) it writes a JSON object there with every address it bound, for example ` +
		`{"pid": 4242, "remoting": "127.0.0.1:40121", "http": "127.0.0.1:40122", "agent_http": "127.0.0.1:40123"} ` +
		`(http for a master, agent_http for an agent). The file is written atomically (it appears whole or not at all), ` +
		`removed when the node starts and when it stops cleanly. Tools and tests should start nodes on port 0 and read it, ` +
		`rather than pick a free port that another process can take first. The same addresses are logged ("node ready").`
}

// running is a started node: what Stop must undo.
type running struct {
	cancel    context.CancelFunc // ends election and leader detection
	campaign  <-chan struct{}    // closed when the election campaign has ended
	node      *remoting.Node
	http      *http.Server
	agentHTTP *http.Server
	pub       *master.Publisher
	httpURL   string
	tls       *security.Source // nil when insecure
	ready     readyInfo        // the addresses bound, as the ready file reports them
	readyFile string
	logger    *slog.Logger
}

func (c *nodeCmd) roles() (isMaster, isAgent bool, err error) {
	for _, r := range strings.Split(c.Role, ",") {
		switch strings.TrimSpace(r) {
		case "master":
			isMaster = true
		case "agent":
			isAgent = true
		default:
			return false, false, fmt.Errorf("--role: unknown role %q; use master, agent, or master,agent", r)
		}
	}
	return isMaster, isAgent, nil
}

func (c *nodeCmd) liveness() (master.LivenessPolicy, error) {
	p := master.LivenessPolicy{MinInterval: c.HeartbeatMinInterval, MaxRate: c.MaxHeartbeatRate, MaxMisses: c.MaxMissedHeartbeats}
	if c.HeartbeatInterval != "auto" {
		d, err := time.ParseDuration(c.HeartbeatInterval)
		if err != nil || d <= 0 {
			return p, fmt.Errorf("--heartbeat-interval %q: want a positive duration such as 5s, or auto", c.HeartbeatInterval)
		}
		p.Interval = d
	}
	if p.MaxMisses < 1 {
		return p, fmt.Errorf("--max-missed-heartbeats must be at least 1")
	}
	if p.Interval == 0 && (p.MinInterval <= 0 || p.MaxRate <= 0) {
		return p, fmt.Errorf("auto heartbeat intervals need --heartbeat-min-interval > 0 and --max-heartbeat-rate > 0")
	}
	return p, nil
}

// setLimits sets the limit flags to l, as a node built without flag
// parsing (agora dev) needs.
func (c *nodeCmd) setLimits(l core.Limits) {
	c.MaxAgents, c.AgentRegistrationRate, c.AgentRegistrationBurst = l.MaxAgents, l.AgentRegistrationRate, l.AgentRegistrationBurst
	c.AgentUnreachableTimeout, c.MaxFrameworksPerPrincipal, c.MaxRoles = l.AgentUnreachableTimeout, l.MaxFrameworksPerPrincipal, l.MaxRoles
	c.AgentRemovalInterval, c.MaxAgentsPerAgentHost = l.AgentRemovalInterval, l.MaxAgentsPerAgentHost
	c.MaxAgentResources = messages.FormatResources(l.MaxAgentResources)
}

// limits reads the master's limit flags.
func (c *nodeCmd) limits() (core.Limits, error) {
	l := core.Limits{
		MaxAgents: c.MaxAgents, AgentRegistrationRate: c.AgentRegistrationRate, AgentRegistrationBurst: c.AgentRegistrationBurst,
		AgentUnreachableTimeout: c.AgentUnreachableTimeout, MaxFrameworksPerPrincipal: c.MaxFrameworksPerPrincipal, MaxRoles: c.MaxRoles,
		AgentRemovalInterval: c.AgentRemovalInterval, MaxAgentsPerAgentHost: c.MaxAgentsPerAgentHost,
	}
	var err error
	if l.MaxAgentResources, err = messages.ParseResources(c.MaxAgentResources); err != nil {
		return l, fmt.Errorf("--max-agent-resources: %w", err)
	}
	return l, l.Validate()
}

// agentInfo validates the agent flags before anything starts, so a bad
// --resources or --attributes stops startup with the bad token named.
func (c *nodeCmd) agentInfo() (*messages.AgentInfo, error) {
	override, err := messages.ParseResources(c.Resources)
	if err != nil {
		return nil, fmt.Errorf("--resources: %w", err)
	}
	attrs, err := messages.ParseAttributes(c.Attributes)
	if err != nil {
		return nil, fmt.Errorf("--attributes: %w", err)
	}
	res, err := agent.DetectResources(c.WorkDir, override)
	if err != nil {
		return nil, err
	}
	host := c.Hostname
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("hostname: %w (set --hostname)", err)
		}
	}
	id, err := agent.LoadAgentID(c.WorkDir)
	if err != nil {
		return nil, err
	}
	info := &messages.AgentInfo{Hostname: host, Resources: res, Attributes: attrs, Version: agoraVersion()}
	if id != "" {
		info.Id = &messages.AgentID{Value: id}
	}
	return info, nil
}

// start starts the node and returns once it serves, with its ready file
// (if asked for) written.
func (c *nodeCmd) start(logger *slog.Logger) (*running, error) {
	if err := clearReadyFile(c.ReadyFile); err != nil {
		return nil, err
	}
	isMaster, isAgent, err := c.roles()
	if err != nil {
		return nil, err
	}
	policy, err := c.liveness()
	if err != nil {
		return nil, err
	}
	if c.HTTPReadTimeout <= 0 {
		return nil, fmt.Errorf("--http-read-timeout must be positive, such as 30s")
	}
	if isMaster {
		if _, err := allocator.ParseRevocableAbove(c.RevocableAbove); err != nil {
			return nil, fmt.Errorf("--revocable-above: %w", err)
		}
		if _, err := allocator.New(c.Allocator, allocator.Options{}); err != nil {
			return nil, fmt.Errorf("--allocator: %w", err)
		}
		if _, err := c.limits(); err != nil {
			return nil, err
		}
	}
	if !isMaster && (c.ACLs != "" || c.Credentials != "") {
		return nil, errors.New("--acls and --credentials are for masters (--role=master): agents take commands only from a master's certificate")
	}
	certRole := security.RoleAgent
	if isMaster {
		certRole = security.RoleMaster
	}
	src, err := c.TLS.load(certRole, logger)
	if err != nil {
		return nil, err
	}
	var info *messages.AgentInfo
	var dockerConfig *containerizer.DockerConfig
	if isAgent {
		if !isMaster && src != nil {
			// The master takes an agent only under the name its certificate
			// names (agora tls cert --role agent names it after the host).
			name := src.Identity().Name
			if c.Hostname == "" {
				c.Hostname = name
			} else if c.Hostname != name {
				return nil, fmt.Errorf("--hostname %s: this agent's certificate names %s, and the master accepts an agent only under its certificate's name; drop --hostname, or use a certificate for %s (agora tls cert --role agent --name %s)", c.Hostname, name, c.Hostname, c.Hostname)
			}
		}
		if info, err = c.agentInfo(); err != nil {
			return nil, err
		}
		if c.DockerConfig != "" {
			if dockerConfig, err = containerizer.LoadDockerConfig(c.DockerConfig); err != nil {
				return nil, fmt.Errorf("--docker-config: %w", err)
			}
		}
		if !isMaster && c.Master == "" {
			return nil, errors.New("--master: an agent needs the master's remoting address host:port, or consul://host:port/<cluster>")
		}
		if c.Master != "" {
			if _, err := leader.Parse(c.Master); err != nil {
				return nil, fmt.Errorf("--master: %w", err)
			}
		}
	}
	listen := c.Listen
	if listen == "" {
		listen = defaultAgentListen
		if isMaster {
			listen = defaultMasterListen
		}
	}
	reg := prometheus.NewRegistry()
	secMetrics := security.NewMetrics(reg)
	node, err := remoting.Start(remoting.Config{Bind: listen, Advertised: c.Advertise, Logger: logger, TLS: src, Insecure: src == nil, Metrics: secMetrics})
	if err != nil {
		return nil, err
	}
	r := &running{node: node, logger: logger, ready: readyInfo{PID: os.Getpid(), Remoting: node.Address}, tls: src}
	// serveGated serves h on ln, over TLS unless insecure: a client must
	// show a certificate of the cluster (or credentials, where the gate
	// takes them) for anything but the gate's open paths.
	serveGated := func(ln net.Listener, h http.Handler, gate security.HTTPGate) *http.Server {
		var connContext func(context.Context, net.Conn) context.Context
		if held, ok := ln.(mesosapi.HoldAnswers); ok {
			connContext = held.ConnContext
		}
		if src != nil {
			ln = tls.NewListener(ln, src.ServerConfig(security.ClientOptional))
		}
		srv := &http.Server{Handler: gate.Handler(h), ConnContext: connContext,
			ReadHeaderTimeout: min(httpReadHeaderTimeout, c.HTTPReadTimeout), ReadTimeout: c.HTTPReadTimeout, WriteTimeout: httpWriteTimeout, IdleTimeout: httpIdleTimeout,
			MaxHeaderBytes: httpMaxHeaderBytes, ErrorLog: security.HTTPErrorLog(logger, secMetrics)}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("HTTP server stopped", "address", ln.Addr().String(), "err", err)
			}
		}()
		return srv
	}
	serveHTTP := func(ln net.Listener, h http.Handler, open ...string) *http.Server {
		return serveGated(ln, h, security.HTTPGate{Metrics: secMetrics, Logger: logger, Open: open})
	}
	clock := clockwork.NewRealClock()
	masterPID := actor.NewPID(c.Master, master.Name)

	if isMaster {
		ln, err := net.Listen("tcp", c.HTTP)
		if err != nil {
			node.Stop()
			return nil, fmt.Errorf("--http: cannot listen on %s: %w", c.HTTP, err)
		}
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		r.pub = &master.Publisher{}
		r.httpURL = security.Scheme(src) + "://" + ln.Addr().String()
		r.ready.HTTP = ln.Addr().String()
		minfo := &messages.MasterInfo{
			Id:                newMasterID(),
			Address:           node.Address,
			HttpAddress:       ln.Addr().String(),
			Epoch:             1,
			Version:           agoraVersion(),
			Pid:               actor.NewPID(node.Address, master.Name),
			StartTimeUnixNano: clock.Now().UnixNano(),
		}
		mr, err := newMasterRole(c, node, logger, clock, policy, reg, minfo)
		if err != nil {
			node.Stop()
			return nil, err
		}
		r.pub = mr.pub
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		if r.campaign, err = mr.run(ctx); err != nil {
			cancel()
			node.Stop()
			return nil, err
		}
		api := http.NewServeMux()
		api.Handle("/", master.WithSandboxes(master.WithOperations(master.HTTPHandler(mr.pub, reg, mr.update, mr.lookup, mr.health, mr.access.httpAccess()), mr.ask),
			master.SandboxProxy{Lookup: mr.lookup, Client: security.HTTPClient(src, 15*time.Second), Scheme: security.Scheme(src), Access: mr.access.httpAccess()}))
		// Mesos frameworks subscribe here (Mesos' v1 scheduler API); a
		// standby redirects them to the leader like every API request.
		api.Handle(mesosapi.Path, mesosapi.New(mesosapi.Config{System: node.System, Master: mr.seat.Master, Streams: mesosapi.Streams{Clock: clock, Logger: logger},
			Authenticate: mesosapi.FrameworkCredentials(mr.access.authenticator)}))
		// Mesos' v1 operator API, beside the scheduler API.
		api.Handle(mesosapi.OperatorPath, mesosapi.NewOperator(mesosapi.OperatorConfig{State: mr.pub.State, Changed: mr.pub.Changed, Leading: mr.seat.Leading,
			Events: node.System.EventStream, Access: mr.access.httpAccess(), Update: mr.update, Ask: mr.ask, Health: mr.health,
			Flags: c.flags, Metrics: reg, Streams: mesosapi.Streams{Clock: clock, Logger: logger}}))
		// Operators reach the master's API with a certificate, or with
		// --credentials; /health stays open for probes (and /metrics is
		// not guarded by view_state: monitoring reads it).
		// The answers of pipelined Mesos scheduler calls go out together
		// (mesosapi.HoldAnswers; over plain HTTP, --insecure).
		r.http = serveGated(mesosapi.HoldAnswers{Listener: ln}, mr.httpHandler(api, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})),
			security.HTTPGate{Metrics: secMetrics, Logger: logger, Open: []string{"/health", "/redirect", "/master/redirect"}, Credentials: mr.access.authenticator, CredentialRole: security.RoleOperator})
		logger.Info("master HTTP API serving", "url", r.httpURL, "election", c.Election)
		if c.Master == "" && c.Election != "" {
			c.Master = c.Election
		}
		if c.Master == "" {
			masterPID = actor.NewPID(node.Address, master.Name)
		}
	}
	if isAgent {
		ln, err := net.Listen("tcp", c.AgentHTTP)
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("--agent-http: cannot listen on %s: %w", c.AgentHTTP, err)
		}
		info.HttpAddress = ln.Addr().String()
		r.ready.AgentHTTP = info.HttpAddress
		command := containerizer.Command{}
		if c.Isolation == "cgroups" {
			cg, err := containerizer.DetectCgroups("/sys/fs/cgroup")
			if err != nil {
				logger.Warn("tasks run without resource limits", "err", err)
			}
			command.Cgroups = cg
		}
		self := node.System.NewLocalPID(agent.Name)
		agentMetrics := agent.NewMetrics(reg)
		agentAPI := http.NewServeMux()
		agentAPI.Handle("/", agent.HTTPHandler(agent.HTTPConfig{WorkDir: c.WorkDir, Cgroups: command.Cgroups, Logger: logger,
			Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			Health: func(ctx context.Context) error {
				return health.Check(ctx, node.System.Root, health.Actor{Name: "agent", PID: self})
			},
		}))
		// Executors of Mesos frameworks subscribe here (Mesos' v1 executor API).
		agentAPI.Handle(mesosapi.ExecutorPath, mesosapi.NewExecutorServer(mesosapi.ExecutorConfig{System: node.System, Agent: self,
			Hostname: info.Hostname, Streams: mesosapi.Streams{Clock: clock, Logger: logger}}))
		r.agentHTTP = serveHTTP(ln, agentAPI, "/health")
		logger.Info("agent HTTP API serving", "address", info.HttpAddress, "tls", src != nil)
		spec := leader.Spec{Static: masterPID.Address}
		if c.Master != "" {
			spec, _ = leader.Parse(c.Master)
		}
		var initial *actor.PID
		if spec.Static != "" {
			initial = actor.NewPID(spec.Static, master.Name)
		}
		fetch, err := c.fetcher()
		if err != nil {
			r.stop()
			return nil, err
		}
		var docker containerizer.Containerizer
		if d, err := containerizer.NewDocker(); err != nil {
			logger.Warn("Docker tasks will fail on this agent", "err", err)
		} else {
			d.Config = dockerConfig
			docker = d
		}
		agentPID, err := node.System.Root.SpawnNamed(agent.Props(agent.Config{
			Info: info, Master: initial, WorkDir: c.WorkDir, Clock: clock, Logger: logger, Metrics: agentMetrics, Containerizer: command, Docker: docker, SandboxGC: c.SandboxGC, Fetcher: fetch, ExecutorRegistrationTimeout: c.ExecutorRegistrationTimeout,
			TaskUser:       c.taskUser(),
			BackoffInitial: c.RegistrationBackoff, BackoffMax: c.RegistrationMax, ReregisterSpread: c.ReregistrationSpread,
			DiskWatchInterval: c.DiskWatchInterval, DiskQuotaWarnOnly: !c.EnforceContainerDiskQuota,
		}), agent.Name)
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("spawn agent: %w", err)
		}
		if spec.Consul != "" {
			detector, err := spec.Detector(logger)
			if err != nil {
				r.stop()
				return nil, fmt.Errorf("--master: %w", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			prev := r.cancel
			r.cancel = func() {
				cancel()
				if prev != nil {
					prev()
				}
			}
			sys := node.System
			go leader.Watch(ctx, detector, func(mi *messages.MasterInfo) {
				if mi == nil {
					logger.Warn("no leading master now; waiting for an election")
					return
				}
				logger.Info("leading master detected", "address", mi.Address, "epoch", mi.Epoch)
				sys.Root.Send(agentPID, agent.MasterDetected{Master: actor.NewPID(mi.Address, master.Name), Epoch: mi.Epoch})
			})
		}
	}
	logger.Info("node ready", "remoting", r.ready.Remoting, "http", r.ready.HTTP, "agent_http", r.ready.AgentHTTP, "ready_file", c.ReadyFile)
	if c.ReadyFile != "" {
		if err := writeReadyFile(c.ReadyFile, r.ready); err != nil {
			r.stop()
			return nil, err
		}
		r.readyFile = c.ReadyFile
	}
	return r, nil
}

func (r *running) stop() {
	if r.cancel != nil {
		r.cancel()
	}
	if r.campaign != nil {
		// A leader steps down and gives its lock up, so that a standby
		// leads at once; the calls it makes have deadlines.
		select {
		case <-r.campaign:
		case <-time.After(10 * time.Second):
			r.logger.Warn("the election campaign did not end within 10 s; stopping anyway")
		}
	}
	for _, srv := range []*http.Server{r.http, r.agentHTTP} {
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
		}
	}
	r.node.Stop()
	if r.readyFile != "" {
		_ = os.Remove(r.readyFile)
	}
	r.logger.Info("node stopped")
}

func (c *nodeCmd) Run(logger *slog.Logger) error {
	setGCPercent(c.GCPercent, logger)
	if c.HugePages {
		adviseHugePages(logger)
	}
	if c.CPUProfile != "" {
		stop, err := startCPUProfile(c.CPUProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	var heapProfile *os.File
	if c.HeapProfile != "" {
		var err error
		if heapProfile, err = os.Create(c.HeapProfile); err != nil {
			return fmt.Errorf("--heap-profile: %w", err)
		}
		defer heapProfile.Close()
	}
	r, err := c.start(logger)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	logger.Info("signal received, shutting down")
	if heapProfile != nil {
		// Before the stop, so that its in-use view is what the node held
		// while it served; after a collection, without which the profile
		// stops at the last one the heap's goal happened to start.
		runtime.GC()
		if err := pprof.Lookup("heap").WriteTo(heapProfile, 0); err != nil {
			logger.Warn("writing the heap profile failed", "path", c.HeapProfile, "err", err)
		}
	}
	r.stop()
	return nil
}

// taskUser is the agent's default task user: --task-user when the agent
// runs as root (it can switch users; Mesos' --switch_user), else none, so
// that tasks run as the agent's own user.
func (c *nodeCmd) taskUser() string {
	if os.Geteuid() != 0 {
		return ""
	}
	return c.TaskUser
}

func newMasterID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fetcher is the agent's fetcher configuration: its size limit and its
// cache under the work dir.
// Empty sizes (agora dev fills in no flag defaults) are the defaults.
func (c *nodeCmd) fetcher() (fetcher.Config, error) {
	if c.FetcherMaxSize == "" {
		c.FetcherMaxSize = "4GB"
	}
	if c.FetcherCacheSize == "" {
		c.FetcherCacheSize = "2GB"
	}
	maxSize, err := units.RAMInBytes(c.FetcherMaxSize)
	if err != nil || maxSize <= 0 {
		return fetcher.Config{}, fmt.Errorf("--fetcher-max-size %q: want a size such as 4GB", c.FetcherMaxSize)
	}
	cfg := fetcher.Config{MaxBytes: maxSize}
	cacheSize, err := units.RAMInBytes(c.FetcherCacheSize)
	if err != nil || cacheSize < 0 {
		return fetcher.Config{}, fmt.Errorf("--fetcher-cache-size %q: want a size such as 2GB, or 0 for no cache", c.FetcherCacheSize)
	}
	if cacheSize == 0 || c.WorkDir == "" {
		return cfg, nil
	}
	if cfg.Cache, err = fetcher.NewCache(filepath.Join(c.WorkDir, "fetcher-cache"), cacheSize); err != nil {
		return fetcher.Config{}, fmt.Errorf("--fetcher-cache-size: %w", err)
	}
	return cfg, nil
}

// setGCPercent sets the collector's target unless the operator set GOGC,
// which the runtime has already applied and which stays the last word.
func setGCPercent(percent int, logger *slog.Logger) {
	if v, ok := os.LookupEnv("GOGC"); ok {
		logger.Debug("GOGC is set: --gc-percent not applied", "GOGC", v)
		return
	}
	if percent <= 0 {
		return // keep the runtime's default; GOGC=off turns collection off
	}
	debug.SetGCPercent(percent)
}

// adviseHugePages asks for huge pages for the heap (see package
// hugepages); a host without them is only logged.
func adviseHugePages(logger *slog.Logger) {
	mode, started, err := hugepages.Start(hugepages.Reserve)
	switch {
	case err != nil:
		logger.Info("transparent huge pages not advised for the heap", "err", err)
	case started:
		logger.Debug("transparent huge pages advised for the first part of the heap", "bytes", hugepages.Reserve, "host_mode", mode)
	default:
		logger.Debug("transparent huge pages left to the host", "host_mode", mode)
	}
}

// startCPUProfile starts a CPU profile written to path; stop ends it and
// closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--cpu-profile %s: %w", path, err)
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

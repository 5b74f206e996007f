package testkit

import (
	"fmt"

	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/allocation"
	"github.com/agora-sched/agora/actors/master"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
)

// Options shape a test cluster.
type Options struct {
	// Agents to start with; more can be added with AddAgent.
	Agents int
	// AgentResources in Mesos syntax; default "cpus:4;mem:8192;disk:10240;ports:[31000-32000]".
	AgentResources string
	// Clock drives every timer; default a fake clock the test advances.
	Clock clockwork.Clock
	// Liveness of agents; default 10 s heartbeats, 6 misses (a minute), so
	// tests may step the fake clock by seconds without agents flapping.
	Liveness *master.LivenessPolicy
	// Logger; default discards everything unless AGORA_TEST_LOG is set.
	Logger *slog.Logger
	// Policy is the allocation policy; default DRF with seed 1.
	Policy policy.Allocator
	// AllocationInterval between batch cycles; default 1 s (fake time).
	AllocationInterval time.Duration
	// OfferTimeout; default master.DefaultOfferTimeout, negative: none.
	OfferTimeout time.Duration
	// Containerizer for agents whose spec names none; default real
	// processes (containerizer.Command).
	Containerizer containerizer.Containerizer
	// Record chooses the events Events keeps (nil: all). Large benchmarks
	// keep only what they wait on: millions of retained events would make
	// the garbage collector, not Agora, the thing measured.
	Record func(ev any) bool
	// NewPolicy builds the allocation policy of each master (FailoverMaster
	// starts a new one); default DRF with seed 1. Policy, if set, is the
	// first master's.
	NewPolicy func() policy.Allocator
	// AgentReregisterTimeout is the re-registration window of masters
	// started by FailoverMaster (master.Config.AgentReregisterTimeout).
	AgentReregisterTimeout time.Duration
	// ReregisterSpread is every agent's agent.Config.ReregisterSpread: the
	// bound of its random wait before re-registering with a new leader
	// (0: at once, the default, so that tests of failover stay short).
	ReregisterSpread time.Duration
	// ReclaimInterval turns on reclamation (preemption for roles below
	// their guarantee); 0 leaves it off. PreemptionGrace defaults to
	// master.DefaultPreemptionGrace.
	ReclaimInterval time.Duration
	PreemptionGrace time.Duration
	// PublishInterval is master.Config.PublishInterval: how often state
	// snapshots are built at most (StateWhere waits on them).
	PublishInterval time.Duration
	// Roles is the role configuration every master starts with (with HA
	// it would come from Consul KV).
	Roles *messages.RoleConfig
	// MasterSenderMiddleware wraps what the master and its handlers send
	// (fault injection).
	MasterSenderMiddleware []actor.SenderMiddleware
	// Concurrent runs every actor on proto.actor's default dispatcher, on
	// goroutines of its own, as in a real node. By default a cluster on a
	// FakeClock runs them on one Serial dispatcher instead, and only the
	// cluster's waiting helpers (Events' waits, Advance, AdvanceUntil,
	// StateWhere, WaitState, Request) and Drain run them: a test is then
	// a function of its inputs, whatever the machine's load. Set it where
	// the point is parallelism (benchmarks of throughput across cores), or
	// where code outside testkit waits for the actors without driving
	// them (a program blocking on its own channel). A cluster on a real
	// clock always runs its actors concurrently.
	Concurrent bool
}

// Cluster is a master and agents on one actor system.
type Cluster struct {
	System    *actor.ActorSystem
	Clock     clockwork.Clock
	Master    *actor.PID
	Allocator *actor.PID
	// MasterMetrics are the current term's master's (a new term's master
	// has new ones), e.g. its re-registration retries after a failover.
	MasterMetrics *master.Metrics
	// MasterRegistry is the registry MasterMetrics are in: what the
	// master's /metrics shows.
	MasterRegistry *prometheus.Registry
	// AllocatorMetrics counts, among others, changes the allocator refused.
	AllocatorMetrics *allocation.Metrics
	Publisher        *master.Publisher
	Events           *Events
	Agents           []*actor.PID
	opts             Options
	logger           *slog.Logger
	resources        []*messages.Resource
	tempRoot         string // agents' work dirs, removed by Stop

	*leadership
	mu         sync.Mutex
	schedulers map[string][]*actor.PID
	started    int     // schedulers started, each seeded by its number
	reaper     *reaper // real processes of agents without a containerizer of their own
	serial     *Serial // nil when actors run concurrently
	actorOpts  []actor.PropsOption
}

// DefaultAgentResources is what each testkit agent offers unless told.
const DefaultAgentResources = "cpus:4;mem:8192;disk:10240;ports:[31000-32000]"

// Start starts a master and opts.Agents agents and stops them when the test
// ends. It does not wait for the agents to register: wait on Events.
func Start(t TB, opts Options) *Cluster {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := c.AllocatorMetrics.Refused(); n > 0 {
			t.Errorf("testkit: the allocator refused %d changes from the master: their books disagree", n)
		}
		c.Stop()
	})
	return c
}

// New is Start without a TB, for benchmarks' setup and `agora sim`.
func New(opts Options) (*Cluster, error) {
	if opts.Clock == nil {
		opts.Clock = NewFakeClock()
	}
	if opts.Liveness == nil {
		opts.Liveness = &master.LivenessPolicy{Interval: 10 * time.Second, MaxMisses: 6}
	}
	if opts.AgentResources == "" {
		opts.AgentResources = DefaultAgentResources
	}
	logger := opts.Logger
	if logger == nil {
		// Discarded unless asked for: formatting debug lines nobody reads
		// was an eighth of a 40,000-agent failover.
		logger = slog.New(slog.DiscardHandler)
		if os.Getenv("AGORA_TEST_LOG") != "" {
			logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	res, err := messages.ParseResources(opts.AgentResources)
	if err != nil {
		return nil, err
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		if os.Getenv("AGORA_TEST_LOG") != "" {
			return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
		return slog.New(slog.DiscardHandler)
	}))
	tempRoot, err := os.MkdirTemp("", "agora-testkit-")
	if err != nil {
		return nil, fmt.Errorf("testkit: %w", err)
	}
	var serial *Serial
	if _, fake := opts.Clock.(*FakeClock); fake && !opts.Concurrent {
		serial = &Serial{}
	}
	c := &Cluster{System: sys, Clock: opts.Clock, Publisher: &master.Publisher{}, Events: newEvents(serial), opts: opts, logger: logger, resources: res, tempRoot: tempRoot, schedulers: map[string][]*actor.PID{},
		reaper: newReaper(containerizer.Command{}), serial: serial}
	if serial != nil {
		c.actorOpts = []actor.PropsOption{actor.WithDispatcher(serial)}
	}
	if opts.Record != nil {
		sys.EventStream.Subscribe(func(ev any) {
			if opts.Record(ev) {
				c.Events.record(ev)
			}
		})
	} else {
		sys.EventStream.Subscribe(c.Events.record)
	}
	if opts.PreemptionGrace == 0 {
		opts.PreemptionGrace = master.DefaultPreemptionGrace
	}
	switch {
	case opts.OfferTimeout == 0:
		opts.OfferTimeout = master.DefaultOfferTimeout
	case opts.OfferTimeout < 0:
		opts.OfferTimeout = 0
	}
	c.opts = opts
	c.AllocatorMetrics = allocation.NewMetrics(prometheus.NewRegistry())
	c.leadership = newLeadership(c)
	c.nextPolicy = opts.Policy
	if _, err := c.startLeader(); err != nil {
		return nil, err
	}
	for i := 0; i < opts.Agents; i++ {
		c.AddAgent(AgentSpec{})
	}
	return c, nil
}

// AgentSpec describes one testkit agent; zero fields take defaults.
type AgentSpec struct {
	Hostname   string
	WorkDir    string
	Resources  []*messages.Resource
	Attributes []*messages.Attribute
	// Containerizer runs the agent's tasks; default: real processes
	// (containerizer.Command) in a sandbox under a temporary work dir. Agents
	// with a simulated (containerizer.Instant) containerizer and no WorkDir
	// persist nothing.
	Containerizer containerizer.Containerizer
	// SenderMiddleware wraps what the agent sends (faults, see Drop).
	SenderMiddleware []actor.SenderMiddleware
	// Partition, when cut, separates the agent from the cluster.
	Partition *Partition
	// Docker runs the agent's Docker tasks (containerizer.Docker); nil: they fail.
	Docker containerizer.Containerizer
	// SandboxGC is agent.Config.SandboxGC.
	SandboxGC time.Duration
	// TaskUser is agent.Config.TaskUser: who tasks naming no user run as
	// (default: the test's own user). A work dir for tasks of another user
	// must be searchable by it.
	TaskUser string
	// ID is the AgentID to register as (an agent restarted with no work
	// dir); default: the work dir's, or a new one.
	ID string
	// Rand draws the agent's heartbeat jitter (agent.Config.Rand);
	// default a source seeded with the agent's number, so runs repeat.
	Rand *rand.Rand
}

// AddAgent starts one more agent and returns its actor.
func (c *Cluster) AddAgent(spec AgentSpec) *actor.PID {
	n := len(c.Agents)
	if spec.Hostname == "" {
		spec.Hostname = fmt.Sprintf("agent-%d", n)
	}
	if spec.Resources == nil {
		spec.Resources = c.resources
	}
	if spec.Rand == nil {
		spec.Rand = rand.New(rand.NewPCG(1, uint64(n)))
	}
	if spec.Containerizer == nil {
		spec.Containerizer = c.opts.Containerizer
	}
	if spec.Containerizer == nil {
		spec.Containerizer = c.reaper
	}
	if _, sim := spec.Containerizer.(containerizer.Instant); spec.WorkDir == "" && !sim {
		// Real processes need sandboxes. Simulated agents keep their
		// identity in memory: 10,000 of them persisting (and fsyncing)
		// an AgentID on one disk would measure the disk, not Agora.
		spec.WorkDir = filepath.Join(c.tempRoot, spec.Hostname)
	}
	id, err := agent.LoadAgentID(spec.WorkDir)
	if err != nil {
		panic(fmt.Sprintf("testkit: %v", err)) // a test set up a broken work dir
	}
	info := &messages.AgentInfo{Hostname: spec.Hostname, Resources: spec.Resources, Attributes: spec.Attributes}
	if spec.ID != "" {
		id = spec.ID
	}
	if id != "" {
		info.Id = &messages.AgentID{Value: id}
	}
	var receivers []actor.ReceiverMiddleware
	senders := spec.SenderMiddleware
	if spec.Partition != nil {
		senders = append(senders, spec.Partition.sender())
		receivers = append(receivers, spec.Partition.receiver())
	}
	pid := c.System.Root.Spawn(agent.Props(agent.Config{
		Info:               info,
		Master:             c.Master,
		WorkDir:            spec.WorkDir,
		Clock:              c.Clock,
		Logger:             c.logger,
		Containerizer:      spec.Containerizer,
		SenderMiddleware:   senders,
		ReceiverMiddleware: receivers,
		Docker:             spec.Docker,
		SandboxGC:          spec.SandboxGC,
		TaskUser:           spec.TaskUser,
		Rand:               spec.Rand,
		ReregisterSpread:   c.opts.ReregisterSpread,
		ActorOptions:       c.actorOpts,
		WriteInline:        c.serial != nil, // the disk is fast next to the fake clock
	}))
	c.Agents = append(c.Agents, pid)
	return pid
}

// StopAgent stops an agent's actor as a crash would: the master is not told.
func (c *Cluster) StopAgent(pid *actor.PID) {
	c.System.Root.Stop(pid)
	c.Drain()
}

// Stop stops every actor of the cluster and removes agents' temporary work
// dirs.
func (c *Cluster) Stop() {
	c.System.Shutdown()
	c.reaper.reap()
	_ = os.RemoveAll(c.tempRoot)
}

package scale

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/cluster/hugepages"
	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/jonboulle/clockwork"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
)

// Children are the harness's own executable (a test binary) started with
// childEnv naming what to be and childArgsEnv its arguments as JSON. They
// talk to the harness in JSON lines: reports on stdout, commands on stdin.
// A child ends when its stdin closes (the harness ended or died).
const (
	childEnv     = "AGORA_SCALE_CHILD"
	childArgsEnv = "AGORA_SCALE_ARGS"
	// childProfileEnv, when set, is the prefix of each child's CPU profile
	// file: <prefix>.<kind>.<pid>, written when the child ends.
	childProfileEnv = "AGORA_SCALE_CHILD_PROFILE"
)

// childArgs is what every kind of child is told.
type childArgs struct {
	Master string `json:"master,omitempty"` // the master's remoting address
	// Agents hosts: how many agents, their resources, and the prefix of
	// their hostnames, <Hostname>-<n> (with TLS, the host's agent-host
	// certificate's name: the master takes its agents only under those).
	Agents    int           `json:"agents,omitempty"`
	Resources string        `json:"resources,omitempty"`
	Hostname  string        `json:"hostname,omitempty"`
	Spread    time.Duration `json:"spread,omitempty"` // agent.Config.ReregisterSpread
	// Framework hosts: the frameworks' names (each in a role of its own
	// name) and the tasks each launches.
	Frameworks   []string `json:"frameworks,omitempty"`
	Tasks        int      `json:"tasks,omitempty"`
	Task         string   `json:"task,omitempty"`
	SuppressIdle bool     `json:"suppress_idle,omitempty"` // Config.SuppressIdle
	// Echo client: the echo server's address, messages and window.
	Echo     string `json:"echo,omitempty"`
	Messages int    `json:"messages,omitempty"`
	Window   int    `json:"window,omitempty"`
	Warmup   int    `json:"warmup,omitempty"` // round trips before timing
	// EchoTLS runs the echo over mutual TLS with the run's certificates
	// (still bare proto.actor: no gate, no interceptors).
	EchoTLS bool `json:"echo_tls,omitempty"`
	// First-offer probe: frameworks subscribed one after another, after
	// a first one that makes the connection.
	Probes int `json:"probes,omitempty"`
}

// report is one line a child writes; Kind says which fields are set.
type report struct {
	Kind    string `json:"kind"`
	Error   string `json:"error,omitempty"`
	Address string `json:"address,omitempty"`
	// agents: registered
	First int64 `json:"first,omitempty"` // unix ns
	Last  int64 `json:"last,omitempty"`  // unix ns
	Count int   `json:"count,omitempty"`
	// agents: stats; frameworks: done
	Sent       int64   `json:"sent,omitempty"`
	Received   int64   `json:"received,omitempty"`
	Facts      int64   `json:"facts,omitempty"`      // what Sent and Received carried (wire.facts)
	Heartbeats []int64 `json:"heartbeats,omitempty"` // answer latencies, ns
	// agents: reregistered; each re-registration since the last reset,
	// from the host seeing the new leader to the leader's confirmation, ns
	Reregistrations []int64 `json:"reregistrations,omitempty"`
	// agents: reregistered; the same re-registrations from the agent's
	// first ReregisterAgent sent after the new leader was seen (its random
	// wait excluded: the master's and the wire's share), ns
	ReregistrationsSent []int64 `json:"reregistrations_sent,omitempty"`
	// agents: reregistered; when the host last saw a new leader in
	// Consul, unix ns (the harness times it from the SIGKILL).
	Detected   int64   `json:"detected,omitempty"`
	FirstOffer []int64 `json:"first_offer,omitempty"`
	// probed: per sample, FrameworkSubscribed to the first offer, ns
	// (FirstOffer is then from the scheduler's spawn).
	Subscribed []int64 `json:"subscribed,omitempty"`
	// echo: elapsed ns for Count messages (both directions)
	Elapsed int64 `json:"elapsed,omitempty"`
	// agents: stats; frameworks: done: the messages counted in Sent and
	// Received by type (protobuf full name), to tell per-task traffic
	// from retries and heartbeats.
	Kinds map[string]int64 `json:"kinds,omitempty"`
}

var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func say(r report) {
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(r)
}

func fail(err error) {
	say(report{Kind: "error", Error: err.Error()})
	os.Exit(1)
}

// RunChildIfAsked turns this process into a harness child when the
// harness started it as one, and exits when the child is done; otherwise
// it returns at once. Call it first in TestMain.
func RunChildIfAsked() {
	kind := os.Getenv(childEnv)
	if kind == "" {
		return
	}
	runChild(kind)
	os.Exit(0)
}

// runChild is the child's life; it returns when the child is done.
func runChild(kind string) {
	// The children's own profiles, to tell whether the agent hosts or the
	// frameworks bound a run rather than the master.
	if prefix := os.Getenv(childProfileEnv); prefix != "" {
		if f, err := os.Create(fmt.Sprintf("%s.%s.%d", prefix, kind, os.Getpid())); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
			}
		}
	}
	var args childArgs
	if err := json.Unmarshal([]byte(os.Getenv(childArgsEnv)), &args); err != nil {
		fail(fmt.Errorf("%s: %w", childArgsEnv, err))
	}
	commands := make(chan string)
	go func() {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			commands <- strings.TrimSpace(in.Text())
		}
		close(commands)
	}()
	switch kind {
	case "agents":
		// An agent host stands for agent nodes: it advises its heap for
		// huge pages where they would (AGORA_HUGE_PAGES, which the harness
		// passes to the master too); the framework hosts stand for the SDK
		// in a framework author's process, which does not. A host without
		// the THP setting runs without, as the node does.
		if hugePagesAsked() {
			_, _, _ = hugepages.Start(hugepages.Reserve)
		}
		runAgents(args, commands)
	case "frameworks":
		runFrameworks(args, commands)
	case "first-offer":
		runFirstOfferProbe(args, commands)
	case "echo-server":
		runEchoServer(args, commands)
	case "echo-client":
		runEchoClient(args, commands)
	default:
		fail(fmt.Errorf("unknown child kind %q", kind))
	}
}

var quiet = slog.New(slog.DiscardHandler)

// startNode starts remoting as a node of role, with the certificate the
// environment names (security.EnvDir) or insecure.
func startNode(role security.Role) *remoting.Node {
	src, err := security.FromEnv().Load(role, quiet)
	if err != nil {
		fail(err)
	}
	node, err := remoting.Start(remoting.Config{Bind: "127.0.0.1:0", Logger: quiet, TLS: src, Insecure: src == nil})
	if err != nil {
		fail(err)
	}
	return node
}

// masterOf is where a child's actors find the master: a PID for a master
// at a fixed address (follow then does nothing), or nil and a follow that
// calls its function with every leader Consul names (consul://...),
// from a goroutine of its own, for the child's life.
func masterOf(addr string) (*actor.PID, func(func(*messages.MasterInfo))) {
	spec, err := leader.Parse(addr)
	if err != nil {
		fail(err)
	}
	if spec.Consul == "" {
		return actor.NewPID(addr, master.Name), func(func(*messages.MasterInfo)) {}
	}
	d, err := spec.Detector(quiet)
	if err != nil {
		fail(err)
	}
	return nil, func(changed func(*messages.MasterInfo)) {
		go leader.Watch(context.Background(), d, func(mi *messages.MasterInfo) {
			if mi != nil {
				changed(mi)
			}
		})
	}
}

// wire counts the messages an actor exchanges with other nodes: sends to a
// PID of another address, and receipts of protobuf messages not sent from
// this node (the actors' own timers are Go structs). Both sides of every
// message the master handles are counted at its peers, so the master
// itself runs unchanged.
//
// facts counts what the messages carry: a batch (RunTasks, StatusUpdates,
// StatusUpdateAcknowledgements, Acknowledgements) counts its items, any
// other message one. The echo carries one StatusUpdate per message, so
// facts per second is the figure that compares like with like with it once
// Agora batches.
type wire struct {
	self     string
	sent     atomic.Int64
	received atomic.Int64
	facts    atomic.Int64
	onSend   func(msg any, now time.Time)
	mu       sync.Mutex
	kinds    map[string]int64 // by protobuf full name, both directions
}

func (w *wire) count(msg any) {
	m, ok := msg.(proto.Message)
	if !ok {
		return
	}
	w.facts.Add(int64(factsIn(m)))
	name := string(m.ProtoReflect().Descriptor().FullName())
	w.mu.Lock()
	if w.kinds == nil {
		w.kinds = map[string]int64{}
	}
	w.kinds[name]++
	w.mu.Unlock()
}

// factsIn is how many facts m carries: a batch's items, else one.
func factsIn(m proto.Message) int {
	switch m := m.(type) {
	case *messages.RunTasks:
		return len(m.Tasks)
	case *messages.StatusUpdates:
		return len(m.Updates)
	case *messages.StatusUpdateAcknowledgements:
		return len(m.Acks)
	case *messages.Acknowledgements:
		return len(m.Acks)
	}
	return 1
}

// reset zeroes the counts.
func (w *wire) reset() {
	w.sent.Store(0)
	w.received.Store(0)
	w.facts.Store(0)
	w.mu.Lock()
	w.kinds = nil
	w.mu.Unlock()
}

// byKind returns a copy of the counts by type.
func (w *wire) byKind() map[string]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.kinds)
}

func (w *wire) sender(next actor.SenderFunc) actor.SenderFunc {
	return func(ctx actor.SenderContext, target *actor.PID, env *actor.MessageEnvelope) {
		if target.Address != w.self {
			w.sent.Add(1)
			w.count(env.Message)
			if w.onSend != nil {
				w.onSend(env.Message, time.Now())
			}
		}
		next(ctx, target, env)
	}
}

func (w *wire) receiver(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(ctx actor.ReceiverContext, env *actor.MessageEnvelope) {
		if _, ok := env.Message.(proto.Message); ok && (env.Sender == nil || env.Sender.Address != w.self) {
			w.received.Add(1)
			w.count(env.Message)
		}
		next(ctx, env)
	}
}

// runAgents hosts args.Agents simulated agents: each a real agent actor
// (registration, heartbeats, status updates) whose containerizer runs no
// process (testkit.SimContainerizer: a task runs until killed).
//
// Commands: "reset" zeroes the message counts, heartbeat latencies and
// re-registrations (answers "ok"); "stats" reports the counts and
// latencies; "reregistered" reports the re-registrations once every agent
// has made one since the reset.
func runAgents(args childArgs, commands <-chan string) {
	// One agent-host certificate speaks for all of them (insecure: none).
	node := startNode(security.RoleAgentHost)
	res, err := messages.ParseResources(args.Resources)
	if err != nil {
		fail(err)
	}
	clock := clockwork.NewRealClock()
	masterPID, follow := masterOf(args.Master)

	var mu sync.Mutex
	sentAt := map[string]time.Time{} // agent/seq of heartbeats in flight
	var latencies []int64
	var detected time.Time // when this host last saw a new leader
	// Re-registrations since the last reset: each one's latency, the
	// agents that made one, and a channel closed once all have.
	var rereg, reregSent []int64
	reregAgents := map[string]bool{}
	// Each agent's first ReregisterAgent after the host saw the leader.
	reregFirstSent := map[string]time.Time{}
	allRereg := make(chan struct{})
	registered := map[string]bool{}
	var first, last time.Time
	allRegistered := make(chan struct{})
	w := &wire{self: node.Address, onSend: func(msg any, now time.Time) {
		switch m := msg.(type) {
		case *messages.AgentHeartbeat:
			mu.Lock()
			sentAt[fmt.Sprintf("%s/%d", m.GetAgentId().GetValue(), m.Seq)] = now
			mu.Unlock()
		case *messages.ReregisterAgent:
			id := m.GetInfo().GetId().GetValue()
			mu.Lock()
			if _, ok := reregFirstSent[id]; !ok && !detected.IsZero() && !reregAgents[id] {
				reregFirstSent[id] = now
			}
			mu.Unlock()
		}
	}}
	node.System.EventStream.Subscribe(func(ev any) {
		switch ev := ev.(type) {
		case agent.Registered:
			mu.Lock()
			defer mu.Unlock()
			if ev.Reregistered && !detected.IsZero() {
				rereg = append(rereg, time.Since(detected).Nanoseconds())
				if at, ok := reregFirstSent[ev.AgentID]; ok {
					reregSent = append(reregSent, time.Since(at).Nanoseconds())
					delete(reregFirstSent, ev.AgentID)
				}
				if !reregAgents[ev.AgentID] {
					reregAgents[ev.AgentID] = true
					if len(reregAgents) == args.Agents {
						close(allRereg)
					}
				}
			}
			if !registered[ev.AgentID] {
				registered[ev.AgentID] = true
				last = time.Now()
				if len(registered) == args.Agents {
					close(allRegistered)
				}
			}
		case agent.HeartbeatAcked:
			now := time.Now()
			key := fmt.Sprintf("%s/%d", ev.AgentID, ev.Seq)
			mu.Lock()
			if at, ok := sentAt[key]; ok {
				latencies = append(latencies, now.Sub(at).Nanoseconds())
				delete(sentAt, key)
			}
			mu.Unlock()
		}
	})
	first = time.Now()
	pids := make([]*actor.PID, args.Agents)
	for i := range args.Agents {
		pids[i] = node.System.Root.Spawn(agent.Props(agent.Config{
			Info: &messages.AgentInfo{Hostname: fmt.Sprintf("%s-%d", args.Hostname, i), Resources: res}, Master: masterPID, Clock: clock, Logger: quiet,
			ReregisterSpread:   args.Spread,
			Containerizer:      testkit.SimContainerizer{Clock: clock},
			SenderMiddleware:   []actor.SenderMiddleware{w.sender},
			ReceiverMiddleware: []actor.ReceiverMiddleware{w.receiver},
		}))
	}
	// With an election, one watch of the leader's key for the whole host
	// tells every agent, as each agora node's own watch would.
	follow(func(mi *messages.MasterInfo) {
		mu.Lock()
		detected = time.Now()
		clear(reregFirstSent) // sent to the leader before this one
		mu.Unlock()
		for _, pid := range pids {
			node.System.Root.Send(pid, agent.MasterDetected{Master: actor.NewPID(mi.Address, master.Name), Epoch: mi.Epoch})
		}
	})
	say(report{Kind: "started", First: first.UnixNano(), Address: node.Address})
	go func() {
		<-allRegistered
		mu.Lock()
		say(report{Kind: "registered", First: first.UnixNano(), Last: last.UnixNano(), Count: len(registered)})
		mu.Unlock()
	}()
	for cmd := range commands {
		switch cmd {
		case "reset":
			mu.Lock()
			latencies, rereg, reregSent = nil, nil, nil
			clear(reregAgents)
			clear(reregFirstSent)
			allRereg = make(chan struct{})
			mu.Unlock()
			w.reset()
			say(report{Kind: "ok"})
		case "stats":
			mu.Lock()
			say(report{Kind: "stats", Sent: w.sent.Load(), Received: w.received.Load(), Facts: w.facts.Load(), Heartbeats: latencies, Kinds: w.byKind()})
			latencies = nil
			mu.Unlock()
		case "reregistered":
			// The master counts an agent back when it sends its
			// confirmation: wait here until every agent has it.
			mu.Lock()
			all := allRereg
			mu.Unlock()
			go func() {
				<-all
				mu.Lock()
				defer mu.Unlock()
				say(report{Kind: "reregistered", Count: len(reregAgents), Reregistrations: rereg, ReregistrationsSent: reregSent, Detected: detected.UnixNano()})
			}()
		}
	}
}

// runFrameworks runs one SDK scheduler per name in args.Frameworks, each
// launching args.Tasks tasks as fast as offers allow, and reports once
// all are RUNNING: when the first was launched and the last ran, and each
// framework's first offer after its subscription.
func runFrameworks(args childArgs, commands <-chan string) {
	node := startNode(security.RoleFramework)
	clock := clockwork.NewRealClock()
	masterPID, follow := masterOf(args.Master)
	task, err := messages.ParseResources(args.Task)
	if err != nil {
		fail(err)
	}
	w := &wire{self: node.Address}
	run := &floodRun{target: int64(args.Tasks * len(args.Frameworks)), done: make(chan struct{})}
	var pids []*actor.PID
	for _, name := range args.Frameworks {
		f := &flood{run: run, name: name, queue: args.Tasks, task: task, running: map[string]bool{}, suppressIdle: args.SuppressIdle}
		pids = append(pids, node.System.Root.Spawn(scheduler.Props(scheduler.Config{
			Master: masterPID, Info: &messages.FrameworkInfo{Name: name, Roles: []string{name}}, Clock: clock, Logger: quiet, KeepSuppressed: args.SuppressIdle,
			ActorOptions: []actor.PropsOption{actor.WithSenderMiddleware(w.sender), actor.WithReceiverMiddleware(w.receiver)},
		}, f)))
	}
	follow(func(mi *messages.MasterInfo) {
		for _, pid := range pids {
			node.System.Root.Send(pid, scheduler.MasterDetected{Master: actor.NewPID(mi.Address, scheduler.MasterName), Epoch: mi.Epoch})
		}
	})
	select {
	case <-run.done:
	case <-commands: // stdin closed: the harness gave up
		return
	}
	run.mu.Lock()
	say(report{Kind: "done", Count: int(run.running.Load()), First: run.firstLaunch.UnixNano(), Last: run.lastRunning.UnixNano(),
		Sent: w.sent.Load(), Received: w.received.Load(), Facts: w.facts.Load(), FirstOffer: run.firstOffers, Kinds: w.byKind()})
	run.mu.Unlock()
	for range commands {
	}
}

// floodRun is what the frameworks of one child share.
type floodRun struct {
	mu          sync.Mutex
	firstLaunch time.Time
	lastRunning time.Time
	firstOffers []int64
	running     atomic.Int64
	target      int64
	done        chan struct{}
}

// flood launches its queue as fast as offers allow; tasks run until
// killed (the agents' containerizer runs nothing).
type flood struct {
	run        *floodRun
	name       string
	queue      int
	task       []*messages.Resource
	next       int
	subscribed time.Time
	offered    bool
	running    map[string]bool // tasks seen RUNNING (an update may come twice)
	// suppressIdle: suppress once the queue is launched (Config.SuppressIdle);
	// suppressed: said so (the SDK tells every later master in its
	// subscription).
	suppressIdle, suppressed bool
}

// maybeSuppress suppresses the framework's offers once its queue is
// launched, if it is to and has not told this master yet.
func (f *flood) maybeSuppress(d *scheduler.Driver) {
	if f.suppressIdle && !f.suppressed && f.next >= f.queue {
		d.Suppress()
		f.suppressed = true
	}
}

func (f *flood) Receive(d *scheduler.Driver, ev any) {
	switch ev := ev.(type) {
	case *messages.FrameworkSubscribed:
		f.subscribed = time.Now()
	case *messages.Offers:
		now := time.Now()
		if !f.offered && !f.subscribed.IsZero() {
			f.offered = true
			f.run.mu.Lock()
			f.run.firstOffers = append(f.run.firstOffers, now.Sub(f.subscribed).Nanoseconds())
			f.run.mu.Unlock()
		}
		zero := 0.0
		// What fits nothing more is declined in one call for the event
		// (Decline takes many offers, as Mesos' v1 DECLINE does): at
		// 10,000 agents a framework whose queue is done declines
		// thousands of offers, one message each before.
		var unused []*messages.OfferID
		defer func() {
			if len(unused) > 0 {
				d.Decline(unused, 3600)
			}
		}()
		for _, o := range ev.Offers {
			left := o.Resources
			var tasks []*messages.TaskInfo
			for f.next < f.queue && scheduler.Fits(left, f.task) {
				left = scheduler.Subtract(left, f.task)
				id := fmt.Sprintf("%s-%d", f.name, f.next)
				f.next++
				tasks = append(tasks, &messages.TaskInfo{Name: id, TaskId: &messages.TaskID{Value: id}, Resources: f.task,
					Command: &messages.CommandInfo{Value: "true", Shell: true}})
			}
			if len(tasks) == 0 {
				unused = append(unused, o.Id)
				continue
			}
			f.run.mu.Lock()
			if f.run.firstLaunch.IsZero() {
				f.run.firstLaunch = now
			}
			f.run.mu.Unlock()
			d.LaunchWithFilters([]*messages.Offer{o}, &messages.Filters{RefuseSeconds: &zero}, tasks...)
		}
		f.maybeSuppress(d)
	case *messages.StatusUpdate:
		if ev.Status.State == messages.TaskState_TASK_RUNNING && !f.running[ev.Status.TaskId.GetValue()] {
			f.running[ev.Status.TaskId.GetValue()] = true
			now := time.Now()
			f.run.mu.Lock()
			f.run.lastRunning = now
			f.run.mu.Unlock()
			if f.run.running.Add(1) == f.run.target {
				close(f.run.done)
			}
		}
	}
}

// echoSize is the echo's payload: a status update as an agent sends it,
// the message class the offer loop carries most of.
func echoMessage(i int) *messages.StatusUpdate {
	return &messages.StatusUpdate{
		FrameworkId: &messages.FrameworkID{Value: "5f0c1a2b3c4d-0001"},
		Status: &messages.TaskStatus{
			TaskId:  &messages.TaskID{Value: fmt.Sprintf("fw12-%d", i)},
			AgentId: &messages.AgentID{Value: "5f0c1a2b3c4d-S1234"},
			State:   messages.TaskState_TASK_RUNNING,
			Uuid:    []byte("0123456789abcdef"),
		},
	}
}

// bareNode is proto.actor remoting as its own documentation sets it up: no
// gate, no interceptors, the default remote.Config (endpoint writer batches
// of 1,000 as Agora's nodes; queues of 1,000,000 messages allocated up
// front, where Agora's start at remoting.EndpointWriterQueue and grow,
// which with one peer makes no difference to the rate): the physical
// limit Agora's remoting sits on. Without tls it is plaintext; with it,
// mutual TLS with the framework certificate of the run (the transport
// Agora's own messages cross), so that the ratio compares like with like.
func bareNode(tls bool) (*actor.ActorSystem, *remote.Remote) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	var opts []remote.ConfigOption
	if tls {
		src, err := security.FromEnv().Load(security.RoleFramework, quiet)
		if err != nil || src == nil {
			fail(fmt.Errorf("echo over TLS: no certificate (%v)", err))
		}
		opts = append(opts,
			remote.WithServerOptions(grpc.Creds(credentials.NewTLS(src.ServerConfig(security.ClientRequired)))),
			remote.WithDialOptions(grpc.WithTransportCredentials(credentials.NewTLS(src.ClientConfig()))))
	}
	r := remote.NewRemote(sys, remote.Configure("127.0.0.1", 0, opts...))
	r.Start()
	return sys, r
}

// runEchoServer answers every message with itself.
func runEchoServer(args childArgs, commands <-chan string) {
	sys, r := bareNode(args.EchoTLS)
	if _, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*messages.StatusUpdate); ok && ctx.Sender() != nil {
			ctx.Send(ctx.Sender(), m)
		}
	}), "echo"); err != nil {
		fail(err)
	}
	say(report{Kind: "address", Address: sys.Address()})
	for range commands {
	}
	r.Shutdown(false)
}

// runEchoClient keeps args.Window messages in flight to the echo server:
// args.Warmup round trips untimed (gRPC's flow-control windows and the Go
// runtime settle), then args.Messages timed; it reports the time for
// twice that many messages (each crossed the loopback twice).
func runEchoClient(args childArgs, commands <-chan string) {
	sys, r := bareNode(args.EchoTLS)
	defer r.Shutdown(false)
	echo := actor.NewPID(args.Echo, "echo")
	done := make(chan time.Duration, 1)
	var start time.Time
	connected := false
	total := args.Warmup + args.Messages
	sent, back := 0, 0
	sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			// One message first: the connection is made before timing.
			ctx.Request(echo, echoMessage(0))
		case *messages.StatusUpdate:
			if !connected {
				connected = true
				if args.Warmup == 0 {
					start = time.Now()
				}
				for ; sent < min(args.Window, total); sent++ {
					ctx.Request(echo, echoMessage(sent))
				}
				return
			}
			back++
			if back == args.Warmup {
				start = time.Now() // the window is full: steady state
			}
			if back == total {
				done <- time.Since(start)
				return
			}
			if sent < total {
				ctx.Request(echo, echoMessage(sent))
				sent++
			}
		}
	}))
	select {
	case d := <-done:
		say(report{Kind: "echo", Count: 2 * args.Messages, Elapsed: d.Nanoseconds()})
	case <-time.After(5 * time.Minute):
		fail(fmt.Errorf("echo: %d of %d messages came back in 5 minutes", back, total))
	case <-commands:
	}
}

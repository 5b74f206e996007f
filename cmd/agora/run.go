package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

type runCmd struct {
	Master string  `default:"${defaultMasterListen}" env:"AGORA_MASTER" help:"The master's remoting address host:port, or consul://host:port/<cluster> with several masters."`
	Listen string  `default:"127.0.0.1:0" env:"AGORA_RUN_LISTEN" help:"host:port this client listens on; the master must reach it."`
	CPUs   float64 `name:"cpus" default:"0.1" env:"AGORA_RUN_CPUS" help:"CPUs for the task."`
	Mem    float64 `name:"mem" default:"32" env:"AGORA_RUN_MEM" help:"Memory for the task, MiB."`
	Disk   float64 `name:"disk" env:"AGORA_RUN_DISK" help:"Disk for the task's sandbox, MiB; the agent kills the task when its sandbox holds more (0: none asked, unbounded)."`
	Name   string  `default:"agora-run" env:"AGORA_RUN_NAME" help:"Framework and task name."`
	Role   string  `default:"default" env:"AGORA_RUN_ROLE" help:"Role to run under."`
	// Reserved takes cpus and mem from what is reserved for the role.
	Reserved bool `name:"reserved" help:"Run on resources reserved for --role (agora reserve), not on unreserved ones."`
	// Volume mounts a persistent volume of the role into the task.
	Volume string `name:"volume" help:"With --reserved: a persistent volume ID:PATH:MIB of --role seen by the task at PATH in its sandbox; created on the role's dynamically reserved disk when the agent has none of that ID, kept after the task."`
	// ReadOnly mounts Volume read-only (Mesos' volume mode RO).
	ReadOnly bool `name:"read-only" help:"With --volume: mount the volume read-only; the task reads it, and the kernel refuses its writes."`
	// Shared uses (or creates) Volume as a shared volume.
	Shared  bool          `name:"shared" help:"With --volume: a shared volume, which tasks of --role use at once (created shared when missing; the framework declares SHARED_RESOURCES)."`
	Timeout time.Duration `default:"30s" env:"AGORA_TIMEOUT" help:"Give up when the cluster has not started the task by then: no master answered, or no agent offered enough (0: wait for ever). The task itself runs as long as it runs."`
	Poll    time.Duration `default:"500ms" hidden:"" help:"How often the task's output is read from its agent."`
	Command []string      `arg:"" passthrough:"" help:"The command and its arguments (after --)."`
	// Health checks the task as its agent runs them (Mesos' HealthCheck).
	Health         string        `env:"AGORA_RUN_HEALTH" help:"Health check of the task: http://:PORT/PATH, tcp://:PORT or cmd:COMMAND; the agent kills the task after --health-failures failures in a row."`
	HealthInterval time.Duration `env:"AGORA_RUN_HEALTH_INTERVAL" help:"Time between health checks, and before the first (0: 10s between, 15s before the first)."`
	HealthFailures uint32        `env:"AGORA_RUN_HEALTH_FAILURES" help:"Failed health checks in a row that kill the task (0: 3)."`
	HealthGrace    time.Duration `env:"AGORA_RUN_HEALTH_GRACE" help:"Failed health checks this long after the start are ignored until one passes (0: 10s)."`

	// TLS: a framework certificate (agora dev's, by default).
	TLS tlsFlags `embed:""`
}

// runOptions is what runTask needs.
type runOptions struct {
	name, role string
	cpus, mem  float64
	disk       float64
	// reserved: the task's resources are taken from role's reservation.
	reserved bool
	// volume, when set, is a persistent volume of role the task uses.
	volume *messages.Resource
	argv   []string
	stdout io.Writer
	stderr io.Writer
	// tls is the certificate to read the task's output and the cluster's
	// state with (nil: plain HTTP).
	tls *security.Source
	// startTimeout bounds the time to a launched task (0: none); poll is
	// how often output is read (0: 500 ms).
	startTimeout, poll time.Duration
	// interrupt, when it fires, kills the task and tears the framework
	// down (Ctrl-C); the outcome is then exitInterrupted.
	interrupt <-chan os.Signal
	// health, when set, is the task's health check.
	health *messages.HealthCheck
	// follow, when set (consul://...), finds the leading master there
	// instead of the PID given, and each new one after a failover.
	follow string
	logger *slog.Logger
}

// Events the run's handler receives from the caller's goroutine.
type (
	killRun struct{}
	// capacity is what the cluster's state said of its agents.
	capacity struct {
		agents  int
		largest []*messages.Resource // of the agent with most of what is asked, "" when none
		fits    bool
	}
)

// runOutcome is how the run ended, handed from the scheduler actor to the
// caller's goroutine.
type runOutcome struct {
	status *messages.TaskStatus
	err    error
}

// runTask registers a framework, waits for a fitting offer, launches one
// task, streams its output and states, tears the framework down, and
// returns the task's exit code. It gives up, saying why, when no master
// answers, the master refuses, or no agent can ever fit the task.
func runTask(ctx context.Context, sys *actor.ActorSystem, masterPID *actor.PID, o runOptions) (int, error) {
	if len(o.argv) == 0 {
		return 1, errors.New("no command given: agora run [flags] -- CMD ARGS...")
	}
	if o.poll <= 0 {
		o.poll = 500 * time.Millisecond
	}
	want := []*messages.Resource{{Name: messages.CPUs, Scalar: o.cpus}, {Name: messages.Mem, Scalar: o.mem}}
	if o.disk > 0 {
		want = append(want, &messages.Resource{Name: messages.Disk, Scalar: o.disk})
	}
	if o.reserved {
		for _, r := range want {
			r.Role = o.role
		}
	}
	if o.volume != nil {
		want = append(want, o.volume)
	}
	if err := messages.ValidateResources(want); err != nil {
		return 1, err
	}
	task := &messages.TaskInfo{
		Name: o.name, TaskId: &messages.TaskID{Value: fmt.Sprintf("%s-%d", o.name, time.Now().UnixNano())}, Resources: want,
		Command: &messages.CommandInfo{Value: o.argv[0], Arguments: o.argv[1:]}, HealthCheck: o.health,
	}
	done := make(chan runOutcome, 1)
	finish := func(out runOutcome) {
		select {
		case done <- out:
		default: // the first outcome counts
		}
	}
	// Shared with the caller's goroutine: where to read output from, and
	// the master's HTTP API for the capacity check.
	var (
		mu         sync.Mutex
		agentHTTP  string
		masterHTTP string
		framework  string
	)
	started := make(chan struct{}) // closed at TASK_RUNNING or any end
	var startedOnce sync.Once
	launched, ended, lost := false, false, false
	var last messages.TaskState = -1 // the state last printed
	handler := scheduler.HandlerFunc(func(d *scheduler.Driver, ev any) {
		switch ev := ev.(type) {
		case *messages.FrameworkSubscribed:
			mu.Lock()
			masterHTTP, framework = ev.GetMaster().GetHttpAddress(), ev.FrameworkId.GetValue()
			mu.Unlock()
			if launched {
				if lost { // retries crossing answers subscribe it more than once
					lost = false
					fmt.Fprintf(o.stderr, "agora run: subscribed again as %s\n", ev.FrameworkId.GetValue())
					d.Reconcile(&messages.Reconcile_Task{TaskId: task.TaskId})
				}
				return
			}
			fmt.Fprintf(o.stderr, "agora run: registered as framework %s; waiting for an offer with %s\n", ev.FrameworkId.GetValue(), messages.FormatResources(want))
		case scheduler.Unanswered:
			fmt.Fprintf(o.stderr, "agora run: no answer from the master at %s yet (%d tries in %v)\n", ev.Master, ev.Attempts, ev.Waited.Round(time.Second))
		case scheduler.Disconnected:
			lost = true
			fmt.Fprintf(o.stderr, "agora run: lost the master (%s); subscribing again\n", ev.Reason)
		case *messages.Offers:
			for _, offer := range ev.Offers {
				if !launched && scheduler.Fits(offer.Resources, want) {
					launched = true
					mu.Lock()
					agentHTTP = offer.AgentHttpAddress
					mu.Unlock()
					fmt.Fprintf(o.stderr, "agora run: launching task %s on %s\n", task.TaskId.Value, offer.Hostname)
					launch := &messages.Operation{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: []*messages.TaskInfo{task}}}}
					if o.volume != nil && !offersVolume(offer, o.volume) {
						fmt.Fprintf(o.stderr, "agora run: creating volume %s on %s\n", o.volume.Disk.PersistenceId, offer.Hostname)
						// A volume is created read-write; read-only is how
						// this task mounts it.
						vol := proto.Clone(o.volume).(*messages.Resource)
						vol.Disk.ReadOnly = false
						create := &messages.Operation{Op: &messages.Operation_Create{Create: &messages.CreateVolumes{Volumes: []*messages.Resource{vol}}}}
						d.Accept([]*messages.Offer{offer}, nil, create, launch)
						continue
					}
					d.Accept([]*messages.Offer{offer}, nil, launch)
					continue
				}
				if !launched {
					fmt.Fprintf(o.stderr, "agora run: offer from %s (%s) is too small; still waiting\n", offer.Hostname, messages.FormatResources(offer.Resources))
				}
				d.Decline([]*messages.OfferID{offer.Id}, 60)
			}
		case capacity:
			if !launched && !ev.fits {
				largest := "none registered"
				if ev.agents > 0 {
					largest = "the largest has " + messages.FormatResources(ev.largest)
				}
				finish(runOutcome{err: fmt.Errorf("no agent of the cluster can run this task: it asks for %s, and of %d agents %s; ask for less (--cpus, --mem) or add a larger agent",
					messages.FormatResources(want), ev.agents, largest)})
			}
		case killRun:
			if launched && !ended {
				fmt.Fprintf(o.stderr, "agora run: interrupted: killing task %s\n", task.TaskId.Value)
				d.Kill(task.TaskId.Value, "")
			}
		case *messages.StatusUpdate:
			st := ev.Status
			if st.GetTaskId().GetValue() != task.TaskId.Value || ended {
				return
			}
			if st.State == last {
				if st.Reason == messages.TaskStatusReason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED && st.Healthy != nil {
					health := map[bool]string{true: "healthy", false: "unhealthy"}[*st.Healthy]
					fmt.Fprintf(o.stderr, "agora run: task %s is %s: %s\n", st.TaskId.GetValue(), health, st.Message)
				}
				return // reconciliation repeats what we know
			}
			last = st.State
			line := fmt.Sprintf("agora run: task %s is %s", st.TaskId.GetValue(), st.State)
			if st.State == messages.TaskState_TASK_FAILED && st.Reason != messages.TaskStatusReason_REASON_UNSPECIFIED && st.Reason != messages.TaskStatusReason_REASON_COMMAND_EXITED {
				line += " (" + st.Reason.String() + ")" // the agent's reason, such as a limit reached
			}
			if st.Message != "" {
				line += ": " + st.Message
			}
			fmt.Fprintln(o.stderr, line)
			if st.State == messages.TaskState_TASK_RUNNING || messages.IsTerminal(st.State) {
				startedOnce.Do(func() { close(started) })
			}
			if messages.IsTerminal(st.State) {
				ended = true
				finish(runOutcome{status: st})
			}
		case *messages.AgentDraining:
			fmt.Fprintf(o.stderr, "agora run: agent %s is being drained by an operator: the task is killed at %s unless it ends before\n",
				ev.AgentId.GetValue(), time.Unix(0, ev.DeadlineUnixNano).Format(time.RFC3339))
		case *messages.Error:
			switch {
			case !launched && ev.Request == subscribeRequest && ev.Code != messages.Error_NOT_LEADER && ev.Code != messages.Error_STALE_EPOCH:
				finish(runOutcome{err: fmt.Errorf("the master refused the framework: %s", ev.Message)})
			case ev.Request == acceptRequest && !ended:
				finish(runOutcome{err: fmt.Errorf("the master refused the launch: %s", ev.Message)})
			}
		}
	})
	info := &messages.FrameworkInfo{Name: o.name, User: os.Getenv("USER"), Roles: []string{o.role}, FailoverTimeoutNanos: int64(time.Minute)}
	if o.volume.GetShared() {
		// Offered shared volumes, also while other tasks use them.
		info.Capabilities = []messages.Capability{messages.Capability_SHARED_RESOURCES}
	}
	pid := sys.Root.Spawn(scheduler.Props(scheduler.Config{
		Master: masterPID,
		Info:   info,
		Logger: slog.New(slog.DiscardHandler),
	}, handler))
	where := masterPID.GetAddress()
	if o.follow != "" {
		where = "the leader in " + o.follow
		logger := o.logger
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		if err := scheduler.Follow(ctx, sys, pid, o.follow, logger); err != nil {
			sys.Root.Stop(pid)
			return 1, err
		}
	}
	// teardown removes the framework (and so any task left) before the
	// client exits, so that nothing of the run outlives it.
	teardown := func() {
		tctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := scheduler.TeardownAndWait(tctx, sys.Root, pid); err != nil {
			fmt.Fprintf(o.stderr, "agora run: %v\n", err)
		}
	}

	var startBy <-chan time.Time
	if o.startTimeout > 0 {
		t := time.NewTimer(o.startTimeout)
		defer t.Stop()
		startBy = t.C
	}
	check := time.NewTicker(5 * time.Second)
	defer check.Stop()
	output := newTaskOutput(o, task.TaskId.Value)
	poll := time.NewTicker(o.poll)
	defer poll.Stop()
	interrupted := false
	for {
		select {
		case out := <-done:
			mu.Lock()
			fw, agent := framework, agentHTTP
			mu.Unlock()
			if out.err != nil {
				teardown()
				return 1, out.err
			}
			output.read(fw, agent) // what the task wrote last
			teardown()
			if interrupted {
				return exitInterrupted, nil
			}
			return exitCode(out.status), nil
		case <-poll.C:
			select {
			case <-started:
				mu.Lock()
				fw, agent := framework, agentHTTP
				mu.Unlock()
				output.read(fw, agent)
			default:
			}
		case <-check.C:
			mu.Lock()
			addr := masterHTTP
			mu.Unlock()
			if addr != "" && !launched {
				if c, ok := clusterCapacity(o.tls, addr, want); ok {
					sys.Root.Send(pid, c)
				}
			}
		case <-startBy:
			select {
			case <-started:
				continue // running: the task takes as long as it takes
			default:
			}
			mu.Lock()
			subscribed := framework != ""
			mu.Unlock()
			teardown()
			if !subscribed {
				return 1, fmt.Errorf("no master answered at %s within %v: is it running, and is that its remoting address (agora node --listen)? Its log says whether it refused this client's certificate", where, o.startTimeout)
			}
			return 1, fmt.Errorf("the task did not start within %v: no offer had %s (agora status shows what agents have free; --timeout waits longer)", o.startTimeout, messages.FormatResources(want))
		case <-o.interrupt:
			if interrupted {
				continue
			}
			interrupted = true
			if !launched {
				teardown()
				return exitInterrupted, nil
			}
			sys.Root.Send(pid, killRun{})
		case <-ctx.Done():
			teardown()
			return 1, fmt.Errorf("gave up: %w", ctx.Err())
		}
	}
}

// exitInterrupted is the exit code after Ctrl-C, as a shell gives it.
const exitInterrupted = 128 + int(syscall.SIGINT)

var (
	subscribeRequest = string((&messages.SubscribeFramework{}).ProtoReflect().Descriptor().FullName())
	acceptRequest    = string((&messages.Accept{}).ProtoReflect().Descriptor().FullName())
)

// taskOutput copies a task's sandbox stdout and stderr from its agent as
// they grow: each read starts where the last ended, so each byte is
// printed once.
type taskOutput struct {
	o       runOptions
	task    string
	client  *http.Client
	scheme  string
	offsets map[string]int64
	failed  map[string]bool
}

func newTaskOutput(o runOptions, task string) *taskOutput {
	return &taskOutput{o: o, task: task, client: security.HTTPClient(o.tls, 10*time.Second), scheme: security.Scheme(o.tls),
		offsets: map[string]int64{}, failed: map[string]bool{}}
}

func (t *taskOutput) read(framework, agentHTTP string) {
	if agentHTTP == "" || framework == "" {
		return
	}
	for _, file := range []string{"stdout", "stderr"} {
		w := t.o.stdout
		if file == "stderr" {
			w = t.o.stderr
		}
		u := fmt.Sprintf("%s://%s/sandboxes/%s/%s/%s?offset=%d", t.scheme, agentHTTP, url.PathEscape(framework), url.PathEscape(t.task), file, t.offsets[file])
		resp, err := t.client.Get(u)
		if err != nil {
			if !t.failed[file] { // once: the next read may well work
				fmt.Fprintf(t.o.stderr, "agora run: cannot read the task's %s from its agent: %v\n", file, err)
				t.failed[file] = true
			}
			continue
		}
		if resp.StatusCode == http.StatusOK {
			n, _ := io.Copy(w, resp.Body)
			if next, err := strconv.ParseInt(resp.Header.Get("X-Agora-Offset"), 10, 64); err == nil {
				t.offsets[file] = next
			} else {
				t.offsets[file] += n
			}
		}
		resp.Body.Close()
	}
}

// clusterCapacity reads the master's state and says whether any agent
// could ever hold want. ok is false when the state cannot be read (this
// principal may not view it): then nothing is concluded.
func clusterCapacity(src *security.Source, masterHTTP string, want []*messages.Resource) (capacity, bool) {
	resp, err := security.HTTPClient(src, 5*time.Second).Get(security.Scheme(src) + "://" + masterHTTP + "/state")
	if err != nil {
		return capacity{}, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return capacity{}, false
	}
	st := &messages.MasterState{}
	if (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, st) != nil {
		return capacity{}, false
	}
	c := capacity{agents: len(st.Agents)}
	best := -1.0
	for _, a := range st.Agents {
		total := a.GetInfo().GetResources()
		if scheduler.Fits(total, want) {
			c.fits = true
			return c, true
		}
		// The largest is the one that covers most of what is asked.
		score := 0.0
		for _, w := range want {
			if w.Scalar > 0 {
				score += min(1, messages.ScalarOf(total, w.Name)/w.Scalar)
			}
		}
		if score > best {
			best, c.largest = score, total
		}
	}
	return c, true
}

func exitCode(st *messages.TaskStatus) int {
	switch {
	case st.State == messages.TaskState_TASK_FINISHED:
		return 0
	case st.ExitCode != nil && *st.ExitCode > 0:
		return int(*st.ExitCode)
	}
	return 1
}

func (c *runCmd) Run(logger *slog.Logger) error {
	src, err := c.TLS.client(security.RoleFramework, quietLogger(logger))
	if err != nil {
		return err
	}
	argv := c.Command
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:] // kong's passthrough keeps the separator
	}
	var health *messages.HealthCheck
	if c.Health != "" {
		if health, err = scheduler.HealthCheck(c.Health, c.HealthInterval, c.HealthInterval, 0, c.HealthGrace, c.HealthFailures); err != nil {
			return err
		}
	}
	follow := strings.HasPrefix(c.Master, "consul://")
	if !follow {
		if err := probeMaster(c.Master, src); err != nil {
			return err
		}
	}
	node, err := remoting.Start(remoting.Config{Bind: c.Listen, Logger: quietLogger(logger), TLS: src, Insecure: src == nil})
	if err != nil {
		return err
	}
	defer node.Stop()
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(interrupt)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	o := runOptions{name: c.Name, role: c.Role, cpus: c.CPUs, mem: c.Mem, disk: c.Disk, reserved: c.Reserved, argv: argv, stdout: os.Stdout, stderr: os.Stderr,
		tls: src, startTimeout: c.Timeout, poll: c.Poll, interrupt: interrupt, logger: quietLogger(logger)}
	o.health = health
	if c.Volume != "" {
		if !c.Reserved {
			return errors.New("--volume needs --reserved: volumes are made of disk reserved for --role (agora reserve HOST 'disk(ROLE):MIB')")
		}
		if o.volume, err = parseVolume(c.Volume, c.Role); err != nil {
			return err
		}
		o.volume.Disk.ReadOnly, o.volume.Shared = c.ReadOnly, c.Shared
	} else if c.ReadOnly || c.Shared {
		return errors.New("--read-only and --shared say how the task uses its --volume: give --volume too")
	}
	var masterPID *actor.PID
	if follow {
		// The scheduler starts without a master; leader detection names
		// each one that leads (so the run survives a failover).
		o.follow = c.Master
	} else {
		masterPID = actor.NewPID(c.Master, master.Name)
	}
	code, err := runTask(ctx, node.System, masterPID, o)
	if err != nil {
		return err
	}
	node.Stop()
	os.Exit(code)
	return nil
}

// probeMaster fails fast, saying what to do, when addr is not a master's
// remoting address: nothing listens there, or it is an HTTP API (the
// master's, as a Mesos habit would give).
func probeMaster(addr string, src *security.Source) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("no master is listening at %s (%v): start one (agora dev, or agora node --role=master) or point --master (AGORA_MASTER) at its remoting address", addr, err)
	}
	conn.Close()
	resp, err := security.HTTPClient(src, 5*time.Second).Get(security.Scheme(src) + "://" + addr + "/health")
	if err == nil {
		resp.Body.Close()
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") {
			return nil // remoting (gRPC) answers an HTTP request so
		}
		return fmt.Errorf("%s is an HTTP API (the master's?), not a master's remoting address: give --master the address the master listens on for remoting (agora node --listen; agora status shows it as the master's address)", addr)
	}
	return nil
}

// quietLogger keeps a CLI's remoting logs to warnings unless debugging.
func quietLogger(l *slog.Logger) *slog.Logger {
	if l.Enabled(context.Background(), slog.LevelDebug) {
		return l
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// offersVolume reports whether offer names the volume vol (its role and
// persistence id) already.
func offersVolume(offer *messages.Offer, vol *messages.Resource) bool {
	for _, r := range offer.Resources {
		if messages.IsVolume(r) && r.Role == vol.Role && r.Disk.PersistenceId == vol.Disk.PersistenceId {
			return true
		}
	}
	return false
}

// parseVolume reads --volume ID:PATH:MIB as a volume of role.
func parseVolume(s, role string) (*messages.Resource, error) {
	v, err := messages.ParseVolume(s, role)
	if err != nil {
		return nil, fmt.Errorf("--volume: %w", err)
	}
	return v, nil
}

// Command elastic is an example framework: a queue of N short tasks. It
// takes everything it is offered, launching as many queued tasks as fit,
// so it grows with the cluster, and exits when every task has ended. Tasks
// killed for failing their health check (--health) or for an agent's drain
// are run again under a new ID.
//
//	agora dev &
//	go run ./cmd/examples/elastic --tasks 50 --command 'sleep 1'
//	go run ./cmd/examples/elastic --tasks 2 --command 'my-server --port 8080' --health http://:8080/health
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"syscall"
	"time"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/cmd/internal/envflags"
	"github.com/agora-sched/agora/cmd/internal/logging"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Elastic runs a queue of identical tasks on whatever it is offered.
type Elastic struct {
	Queue []*messages.TaskInfo
	Done  chan struct{} // closed when every task has ended
	// Removed is closed when the master confirms the framework is gone
	// (after Teardown).
	Removed chan struct{}
	// Log receives progress records.
	Log      *slog.Logger
	launched int
	ended    int
	failed   int
	total    int
	agents   map[string]bool // agents that ran our tasks
	live     map[string]bool // tasks seen and not yet ended
	// running are the tasks launched and not ended, to run one again;
	// moved counts those run again (after a drain or a failed health
	// check).
	running map[string]*messages.TaskInfo
	moved   int
}

// NewElastic queues n tasks running command with resources each.
func NewElastic(n int, command string, resources []*messages.Resource) *Elastic {
	e := &Elastic{Done: make(chan struct{}), Removed: make(chan struct{}), total: n, agents: map[string]bool{}, live: map[string]bool{}, running: map[string]*messages.TaskInfo{},
		Log: slog.New(slog.DiscardHandler)}
	for i := 0; i < n; i++ {
		e.Queue = append(e.Queue, scheduler.Command(fmt.Sprintf("task-%04d", i), command, resources))
	}
	return e
}

// teardown is sent to the scheduler actor to end the framework.
type teardown struct{}

// Receive implements scheduler.Handler.
func (e *Elastic) Receive(d *scheduler.Driver, ev any) {
	switch ev := ev.(type) {
	case *messages.FrameworkSubscribed:
		e.Log.Info("framework subscribed", "framework_id", ev.FrameworkId.GetValue())
		// After every (re-)subscription, learn what still runs (Mesos'
		// advice): explicitly for the tasks we know of (a new leading
		// master answers those once their agents re-register), and
		// implicitly when we know none (this scheduler restarted).
		var known []*messages.Reconcile_Task
		for id := range e.live {
			known = append(known, &messages.Reconcile_Task{TaskId: &messages.TaskID{Value: id}})
		}
		d.Reconcile(known...)
	case scheduler.Disconnected:
		// The scheduler subscribes again by itself; its tasks run on.
		e.Log.Warn("disconnected from the master; subscribing again", "reason", ev.Reason)
	case teardown:
		d.Teardown()
	case *messages.Error:
		if ev.Code == messages.Error_UNKNOWN_FRAMEWORK {
			close(e.Removed)
		}
	case *messages.AgentDraining:
		// Tasks still there at the deadline are killed with
		// REASON_AGENT_DRAINING; those are queued again (below) and run
		// elsewhere: the agent is offered to nobody while it drains.
		e.Log.Info("agent draining: tasks left there at the deadline are killed and run again elsewhere",
			"agent_id", ev.AgentId.GetValue(), "deadline", time.Unix(0, ev.DeadlineUnixNano).Format(time.RFC3339))
	case *messages.ExecutorExited:
		// Its unfinished tasks end by their own updates (TASK_FAILED,
		// REASON_EXECUTOR_TERMINATED), counted below.
		e.Log.Warn("executor exited", "agent_id", ev.GetAgentId().GetValue(), "executor_id", ev.GetExecutorId().GetValue(),
			"status", ev.Status, "how", ev.Message)
	case *messages.AgentLost:
		e.Log.Warn("agent lost; its tasks' updates say what became of them", "agent_id", ev.GetAgentId().GetValue())
	case *messages.Offers:
		zero := 0.0
		for _, o := range ev.Offers {
			left := o.Resources
			var batch []*messages.TaskInfo
			for len(e.Queue) > 0 && scheduler.Fits(left, e.Queue[0].Resources) {
				left = scheduler.Subtract(left, e.Queue[0].Resources)
				batch, e.Queue = append(batch, e.Queue[0]), e.Queue[1:]
			}
			if len(batch) == 0 {
				// The reason is counted per framework: agora frameworks
				// describe shows what its declines were for.
				reason := "too small for a task"
				if len(e.Queue) == 0 {
					reason = "nothing queued"
				}
				d.DeclineWithReason([]*messages.OfferID{o.Id}, 5, reason)
				continue
			}
			e.launched += len(batch)
			for _, t := range batch {
				e.running[t.TaskId.GetValue()] = t
			}
			// Unused resources return unfiltered: we may want them soon.
			d.LaunchWithFilters([]*messages.Offer{o}, &messages.Filters{RefuseSeconds: &zero}, batch...)
		}
		if len(e.Queue) == 0 {
			d.Suppress() // nothing left to launch: stop offers
		}
	case *messages.StatusUpdate:
		e.agents[ev.Status.AgentId.GetValue()] = true
		if messages.IsTerminal(ev.Status.State) {
			delete(e.live, ev.Status.TaskId.GetValue())
		} else {
			e.live[ev.Status.TaskId.GetValue()] = true
		}
		if ev.Status.Reason == messages.TaskStatusReason_REASON_RECONCILIATION {
			e.Log.Info("task reconciled", "task_id", ev.Status.TaskId.GetValue(), "state", ev.Status.State.String(),
				"agent_id", ev.Status.AgentId.GetValue())
			return
		}
		attrs := []any{"task_id", ev.Status.TaskId.GetValue(), "state", ev.Status.State.String()}
		if ev.Status.Healthy != nil {
			attrs = append(attrs, "healthy", *ev.Status.Healthy)
		}
		if ev.Status.Message != "" && (messages.IsTerminal(ev.Status.State) || ev.Status.Healthy != nil) {
			attrs = append(attrs, "message", ev.Status.Message)
		}
		// The agent too (last, so the lines start as before): a chaos run's
		// checker reads these lines, and a task RUNNING on two agents is a
		// bug it looks for.
		attrs = append(attrs, "agent_id", ev.Status.AgentId.GetValue())
		e.Log.Info("task status", attrs...)
		if !messages.IsTerminal(ev.Status.State) {
			return
		}
		switch ev.Status.Reason {
		case messages.TaskStatusReason_REASON_AGENT_DRAINING:
			e.requeue(d, ev.Status.TaskId.GetValue(), "moved", "its agent is drained")
			delete(e.running, ev.Status.TaskId.GetValue())
			return
		case messages.TaskStatusReason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED:
			// Killed by its agent for failing its health check: a service
			// that hangs is replaced, as Marathon does.
			e.requeue(d, ev.Status.TaskId.GetValue(), "restarted", "it failed its health check")
			delete(e.running, ev.Status.TaskId.GetValue())
			return
		}
		delete(e.running, ev.Status.TaskId.GetValue())
		e.ended++
		if ev.Status.State != messages.TaskState_TASK_FINISHED {
			e.failed++
		}
		if e.ended == e.total {
			close(e.Done)
			d.Teardown()
		}
	}
}

// requeue queues a task again, under a new ID (a task ID is used once:
// ID-how-N), to run it where it is offered next.
func (e *Elastic) requeue(d *scheduler.Driver, id, how, why string) {
	if t, ok := e.running[id]; ok {
		e.moved++
		again := proto.Clone(t).(*messages.TaskInfo)
		again.TaskId = &messages.TaskID{Value: fmt.Sprintf("%s-%s-%d", id, how, e.moved)}
		again.Name, again.AgentId = again.TaskId.Value, nil // Launch names the offer's agent
		e.Queue = append(e.Queue, again)
		e.Log.Info("task queued again", "task_id", id, "as", again.TaskId.Value, "why", why)
		d.Revive()
	}
}

// Summary reports what happened.
func (e *Elastic) Summary() string {
	return fmt.Sprintf("%d tasks ended, %d did not finish cleanly", e.ended, e.failed)
}

// envPrefix names elastic's variables: ELASTIC_MASTER for --master.
const envPrefix = "ELASTIC"

// options are elastic's flags.
type options struct {
	masterAddr     *string
	listen         *string
	n              *int
	command        *string
	res            *string
	id             *string
	failover       *time.Duration
	executorPath   *string
	health         *string
	healthDelay    *time.Duration
	healthInterval *time.Duration
	healthTimeout  *time.Duration
	healthGrace    *time.Duration
	healthFailures *uint
	checkpoint     *bool
	tls            security.Options
	log            logging.Options
}

// newFlags defines elastic's flags on fs, each with its environment
// variable (envflags), set from the environment.
func newFlags(fs *flag.FlagSet) (*options, error) {
	o := &options{}
	o.masterAddr = fs.String("master", "127.0.0.1:5055", "the master's remoting address host:port, or consul://host:port/<cluster> with several masters")
	o.listen = fs.String("listen", "127.0.0.1:0", "address this framework listens on (the master must reach it)")
	o.n = fs.Int("tasks", 20, "tasks to run")
	o.command = fs.String("command", "sleep 1", "shell command of each task")
	o.res = fs.String("resources", "cpus:0.1;mem:32", "resources of each task")
	o.id = fs.String("framework-id", "", "re-subscribe as this framework (after a crash), instead of registering a new one")
	o.failover = fs.Duration("failover-timeout", time.Hour, "how long the master keeps our tasks if we vanish")
	o.executorPath = fs.String("executor", "", "run the tasks in one custom executor (this program, such as the executor example) instead of the command executor")
	o.health = fs.String("health", "", "health check of each task: http://:PORT/PATH, tcp://:PORT or cmd:COMMAND; a task that fails it is killed by its agent and run again")
	o.healthDelay = fs.Duration("health-delay", 0, "first health check this long after a task starts (0: 15s)")
	o.healthInterval = fs.Duration("health-interval", 0, "time between health checks (0: 10s)")
	o.healthTimeout = fs.Duration("health-timeout", 0, "a health check that takes longer fails (0: 20s)")
	o.healthGrace = fs.Duration("health-grace", 0, "failures this long after a task starts are ignored until a check passes (0: 10s)")
	o.healthFailures = fs.Uint("health-failures", 0, "failed health checks in a row that kill a task (0: 3)")
	o.checkpoint = fs.Bool("checkpoint", true, "tasks outlive a restart of their agent; false: they end with it (TASK_LOST, REASON_AGENT_DISCONNECTED), Mesos' default")
	// The program's own flags get ELASTIC_* variables; TLS and logging
	// read their AGORA_* ones, shared with the agora binary.
	if err := envflags.Bind(fs, envPrefix); err != nil {
		return nil, err
	}
	o.tls = security.FromEnv() // agora dev's certificates unless told otherwise
	o.tls.RegisterFlags(fs)
	o.log = logging.FromEnv()
	o.log.RegisterFlags(fs)
	return o, nil
}

func main() {
	o, err := newFlags(flag.CommandLine)
	if err != nil {
		fmt.Fprintln(os.Stderr, "elastic:", err)
		os.Exit(2)
	}
	flag.Parse()
	log, err := o.log.Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "elastic:", err)
		os.Exit(2)
	}
	fail := func(code int, msg string, err error) {
		log.Error(msg, "err", err)
		os.Exit(code)
	}
	rs, err := messages.ParseResources(*o.res)
	if err != nil {
		fail(2, "bad --resources", err)
	}
	var check *messages.HealthCheck
	if *o.health != "" {
		if check, err = scheduler.HealthCheck(*o.health, *o.healthDelay, *o.healthInterval, *o.healthTimeout, *o.healthGrace, uint32(*o.healthFailures)); err != nil {
			fail(2, "bad --health", err)
		}
	}
	src, err := o.tls.Load(security.RoleFramework, log)
	if err != nil {
		fail(2, "cannot load the framework's certificate", err)
	}
	node, err := remoting.Start(remoting.Config{Bind: *o.listen, Logger: log, TLS: src, Insecure: src == nil})
	if err != nil {
		fail(1, "cannot listen", err)
	}
	defer node.Stop()
	e := NewElastic(*o.n, *o.command, rs)
	e.Log = log
	for _, t := range e.Queue {
		t.HealthCheck = check
	}
	if *o.executorPath != "" {
		if check != nil {
			fail(2, "--health checks command tasks; a custom executor (--executor) checks its own", nil)
		}
		// Every task names the same executor: the agent starts it once and
		// hands it all of them; it runs each task's "command" label. The
		// executor talks to its agent with this framework's certificate,
		// named by path (a key in the environment would travel through the
		// master), so it runs as this framework's user, who can read it.
		self, err := user.Current()
		if err != nil {
			fail(1, "who am I", err)
		}
		for _, t := range e.Queue {
			t.Labels = map[string]string{"command": t.Command.Value}
			t.Command = nil
			t.Executor = &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "elastic-executor"},
				Command: &messages.CommandInfo{Value: *o.executorPath, Environment: security.Env(src), User: self.Username}}
		}
	}
	// PARTITION_AWARE: a task on an agent cut off from the masters is
	// TASK_UNREACHABLE (it may come back RUNNING) rather than TASK_LOST,
	// so elastic waits for it instead of counting it as ended.
	info := &messages.FrameworkInfo{Name: "elastic", Roles: []string{"batch"}, FailoverTimeoutNanos: int64(*o.failover),
		Capabilities: []messages.Capability{messages.Capability_PARTITION_AWARE}}
	if *o.id != "" {
		info.Id = &messages.FrameworkID{Value: *o.id}
	}
	if !*o.checkpoint {
		info.Checkpoint = proto.Bool(false) // unset is Agora's default: checkpointing
	}
	pid := node.System.Root.Spawn(scheduler.Props(scheduler.Config{Info: info, Logger: log}, e))
	ctx, stopFollowing := context.WithCancel(context.Background())
	defer stopFollowing()
	if err := scheduler.Follow(ctx, node.System, pid, *o.masterAddr, log); err != nil {
		log.Error("bad --master", "err", err)
		stopFollowing()
		node.Stop()
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-e.Done:
		log.Info("all tasks ended", "ended", e.ended, "failed", e.failed, "summary", e.Summary())
	case <-sig:
		// Interrupted: end the framework (its tasks are killed). A crash
		// (SIGKILL) leaves them running for the failover timeout instead.
		log.Info("interrupted; tearing down")
		node.System.Root.Send(pid, teardown{})
		select {
		case <-e.Removed:
		case <-time.After(10 * time.Second):
			log.Warn("the master did not confirm the teardown")
		}
	}
}

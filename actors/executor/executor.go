// Package executor is the SDK for custom executors: programs an agent
// starts to run a framework's tasks its own way. Spawn Props with a
// Handler; the executor actor registers with the agent that started it
// (Config from FromEnv) and hands the handler its events:
//
//   - *messages.ExecutorRegistered: registered; the framework and agent
//   - *messages.LaunchTask: run this task (report its states with
//     Driver.SendStatus: RUNNING, then a terminal state)
//   - *messages.KillTask: kill this task (report TASK_KILLED)
//   - *messages.ShutdownExecutor: no task left here, or the framework shut the
//     executor down: end what still runs (TASK_KILLED), then exit (Done closes);
//     the agent kills an executor still running 5 s later
//   - *messages.FrameworkToExecutor: a message from the scheduler
//
// Several tasks may run in one executor. The agent forwards each status
// reliably to the framework. An executor outlives its agent: when the
// agent restarts it asks the executor to re-register (ReconnectExecutor,
// handled here; the handler sees it too), and the SDK resends every status
// update the agent had not acknowledged, so none is lost while the agent
// was down.
package executor

import (
	"bytes"
	"crypto/rand"
	"errors"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// Config says which agent to register with, as whom.
type Config struct {
	Agent       *actor.PID
	FrameworkID string
	ExecutorID  string
	Logger      *slog.Logger
	// Done is closed when the agent asks the executor to shut down.
	Done chan struct{}
}

// FromEnv reads the Config the agent passes in the environment.
func FromEnv() (Config, error) {
	addr, id := os.Getenv("AGORA_AGENT_ADDRESS"), os.Getenv("AGORA_AGENT_ACTOR")
	fw, ex := os.Getenv("AGORA_FRAMEWORK_ID"), os.Getenv("AGORA_EXECUTOR_ID")
	if addr == "" || id == "" || fw == "" || ex == "" {
		return Config{}, errors.New("not started by an Agora agent: AGORA_AGENT_ADDRESS, AGORA_AGENT_ACTOR, AGORA_FRAMEWORK_ID and AGORA_EXECUTOR_ID must be set")
	}
	return Config{Agent: actor.NewPID(addr, id), FrameworkID: fw, ExecutorID: ex, Done: make(chan struct{})}, nil
}

// Handler receives the executor's events.
type Handler interface {
	Receive(d *Driver, event any)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(d *Driver, event any)

// Receive implements Handler.
func (f HandlerFunc) Receive(d *Driver, event any) { f(d, event) }

// Driver is the handler's way to the agent. Its methods are safe from any
// goroutine (a task's waiter, for example).
type Driver struct {
	e    *executorActor
	sys  *actor.ActorSystem
	self *actor.PID
}

// SendStatus reports a task's new state to the agent.
func (d *Driver) SendStatus(taskID string, state messages.TaskState, message string, exitCode *int32) {
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	up := &messages.ExecutorStatusUpdate{
		FrameworkId: &messages.FrameworkID{Value: d.e.cfg.FrameworkID}, ExecutorId: &messages.ExecutorID{Value: d.e.cfg.ExecutorID},
		Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: taskID}, State: state, Message: message, ExitCode: exitCode},
		Uuid:   uuid,
	}
	e := d.e
	e.mu.Lock()
	e.pending = append(e.pending, up)
	if messages.IsTerminal(state) {
		delete(e.live, taskID)
	}
	agent := e.agent
	e.mu.Unlock()
	// Sent as from the executor actor: an agent takes an update over the
	// network only from its executor's PID. pending keeps its own copy:
	// the agent may be in this process.
	d.sys.Root.RequestWithCustomSender(agent, proto.Clone(up), d.self)
}

// SendFrameworkMessage sends data to the framework's scheduler (best
// effort: it may be lost).
func (d *Driver) SendFrameworkMessage(data []byte) {
	d.e.mu.Lock()
	agent := d.e.agent
	d.e.mu.Unlock()
	d.sys.Root.Send(agent, &messages.ExecutorToFramework{
		FrameworkId: &messages.FrameworkID{Value: d.e.cfg.FrameworkID}, ExecutorId: &messages.ExecutorID{Value: d.e.cfg.ExecutorID}, Data: data,
	})
}

// Send delivers msg to the handler later, on the executor actor.
func (d *Driver) Send(msg any) { d.sys.Root.Send(d.self, msg) }

// Self is the executor actor.
func (d *Driver) Self() *actor.PID { return d.self }

type executorActor struct {
	cfg     Config
	handler Handler

	// Shared with Driver methods called from other goroutines.
	mu      sync.Mutex
	agent   *actor.PID                       // the agent now (a restarted one may say where it is)
	pending []*messages.ExecutorStatusUpdate // sent, not acknowledged, in order
	live    map[string]bool                  // tasks launched here and not ended
}

// Props returns the executor actor's props.
func Props(cfg Config, h Handler) *actor.Props {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Done == nil {
		cfg.Done = make(chan struct{})
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &executorActor{cfg: cfg, handler: h, agent: cfg.Agent, live: map[string]bool{}}
	})
}

func (e *executorActor) Receive(ctx actor.Context) {
	d := &Driver{e: e, sys: ctx.ActorSystem(), self: ctx.Self()}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Send(e.cfg.Agent, &messages.RegisterExecutor{
			FrameworkId: &messages.FrameworkID{Value: e.cfg.FrameworkID}, ExecutorId: &messages.ExecutorID{Value: e.cfg.ExecutorID}, Pid: ctx.Self(),
		})
	case *messages.LaunchTask:
		e.mu.Lock()
		e.live[m.GetTask().GetTaskId().GetValue()] = true
		e.mu.Unlock()
		e.handler.Receive(d, m)
	case *messages.ExecutorStatusAcknowledged:
		e.mu.Lock()
		for i, up := range e.pending {
			if bytes.Equal(up.Uuid, m.Uuid) {
				e.pending = slices.Delete(e.pending, i, i+1)
				break
			}
		}
		e.mu.Unlock()
	case *messages.ReconnectExecutor:
		// The agent restarted and found this executor still running.
		e.mu.Lock()
		if m.Agent != nil {
			e.agent = m.Agent
		}
		re := &messages.ReregisterExecutor{
			FrameworkId: &messages.FrameworkID{Value: e.cfg.FrameworkID}, ExecutorId: &messages.ExecutorID{Value: e.cfg.ExecutorID}, Pid: ctx.Self(),
		}
		for _, up := range e.pending {
			re.Unacknowledged = append(re.Unacknowledged, proto.Clone(up).(*messages.ExecutorStatusUpdate))
		}
		for _, id := range slices.Sorted(maps.Keys(e.live)) {
			re.Tasks = append(re.Tasks, &messages.TaskID{Value: id})
		}
		agent := e.agent
		e.mu.Unlock()
		e.cfg.Logger.Info("re-registering with the restarted agent", "tasks", len(re.Tasks), "unacknowledged", len(re.Unacknowledged))
		ctx.Send(agent, re)
		e.handler.Receive(d, m)
	case *messages.ShutdownExecutor:
		e.handler.Receive(d, m)
		select {
		case <-e.cfg.Done:
		default:
			close(e.cfg.Done)
		}
	case *actor.Stopping, *actor.Stopped, *actor.Restarting:
	default:
		e.handler.Receive(d, m)
	}
}

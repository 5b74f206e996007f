package mesosapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	exec "github.com/agora-sched/agora/messages/mesos/v1/executor"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// ExecutorPath is where an agent serves Mesos' v1 executor API.
const ExecutorPath = "/api/v1/executor"

// ExecutorConfig is what the executor API is built from.
type ExecutorConfig struct {
	System *actor.ActorSystem
	// Agent is the agent actor of this node.
	Agent *actor.PID
	// Hostname is the agent's, for SUBSCRIBED's agent_info.
	Hostname string
	Streams
}

// ExecutorServer serves Mesos' v1 executor API on an agent: POST
// /api/v1/executor. A Mesos executor the agent started (ExecutorInfo.mesos)
// subscribes here; a local bridge actor then registers with the agent as
// Agora's own executors do, and carries tasks to it (LAUNCH, KILL) and its
// updates back (UPDATE, acknowledged with ACKNOWLEDGED once the agent has
// them).
type ExecutorServer struct {
	cfg     ExecutorConfig
	mu      sync.Mutex
	bridges map[executorKey]*executorStream
}

type executorKey struct{ framework, executor string }

// executorStream is one executor's subscription.
type executorStream struct {
	codec    Codec
	bridge   *actor.PID
	events   chan []byte
	result   chan *subscribeError
	done     chan struct{}
	doneOnce sync.Once
}

func (s *executorStream) end() { s.doneOnce.Do(func() { close(s.done) }) }

// NewExecutorServer returns the executor API's handler.
func NewExecutorServer(cfg ExecutorConfig) *ExecutorServer {
	cfg.Streams = cfg.Streams.withDefaults()
	return &ExecutorServer{cfg: cfg, bridges: map[executorKey]*executorStream{}}
}

// ServeHTTP answers as Mesos' agent does: 200 and a stream for SUBSCRIBE,
// 202 for UPDATE and MESSAGE.
func (s *ExecutorServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in, ok := postedCodec(w, r)
	if !ok {
		return
	}
	body, ok := postedCall(w, r, s.cfg.MaxCallBytes)
	if !ok {
		return
	}
	call := &exec.Call{}
	if err := in.Unmarshal(body, call); err != nil {
		http.Error(w, "Failed to parse body into Call: "+err.Error(), http.StatusBadRequest)
		return
	}
	key := executorKey{call.GetFrameworkId().GetValue(), call.GetExecutorId().GetValue()}
	if key.framework == "" || key.executor == "" {
		http.Error(w, "Expecting 'framework_id' and 'executor_id' to be present", http.StatusBadRequest)
		return
	}
	switch call.GetType() {
	case exec.Call_SUBSCRIBE:
		s.subscribe(w, r, in, key, call.GetSubscribe())
		return
	case exec.Call_UPDATE, exec.Call_MESSAGE:
	default:
		http.Error(w, fmt.Sprintf("%v: the %s call", ErrUnsupported, call.GetType()), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	st := s.bridges[key]
	s.mu.Unlock()
	if st == nil {
		http.Error(w, "Executor is not subscribed", http.StatusForbidden)
		return
	}
	msg, err := executorCallIn(key, call)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.cfg.System.Root.Send(s.cfg.Agent, &actor.MessageEnvelope{Message: msg, Sender: st.bridge})
	w.WriteHeader(http.StatusAccepted)
}

// executorCallIn is an executor's UPDATE or MESSAGE as the agent takes it.
func executorCallIn(key executorKey, c *exec.Call) (proto.Message, error) {
	fid, eid := &messages.FrameworkID{Value: key.framework}, &messages.ExecutorID{Value: key.executor}
	if c.GetType() == exec.Call_MESSAGE {
		return &messages.ExecutorToFramework{FrameworkId: fid, ExecutorId: eid, Data: c.GetMessage().GetData()}, nil
	}
	st := c.GetUpdate().GetStatus()
	if st.GetTaskId().GetValue() == "" || len(st.GetUuid()) == 0 {
		return nil, fmt.Errorf("%w: UPDATE needs a status with a task_id and a uuid", ErrInvalid)
	}
	status, err := statusIn(st)
	if err != nil {
		return nil, err
	}
	status.ExecutorId = eid
	return &messages.ExecutorStatusUpdate{FrameworkId: fid, ExecutorId: eid, Status: status, Uuid: st.Uuid}, nil
}

func (s *ExecutorServer) subscribe(w http.ResponseWriter, r *http.Request, in Codec, key executorKey, sub *exec.Call_Subscribe) {
	out, ok := accepts(r.Header.Get("Accept"), in)
	if !ok {
		http.Error(w, fmt.Sprintf("Expecting 'Accept' to allow %s or %s", MediaProtobuf, MediaJSON), http.StatusNotAcceptable)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "this server cannot stream", http.StatusInternalServerError)
		return
	}
	reregister, err := resubscribeIn(key, sub)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	st := &executorStream{codec: out, events: make(chan []byte, s.cfg.StreamBuffer), result: make(chan *subscribeError, 1), done: make(chan struct{})}
	log := s.cfg.Logger.With("framework_id", key.framework, "executor_id", key.executor)
	b := &executorBridge{srv: s, st: st, key: key, log: log, subscribe: reregister}
	st.bridge = s.cfg.System.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return b }))
	var refused *subscribeError
	select {
	case refused = <-st.result:
	case <-r.Context().Done():
		s.cfg.System.Root.Stop(st.bridge)
		return
	}
	if refused != nil {
		http.Error(w, refused.text, refused.status)
		return
	}
	w.Header().Set("Content-Type", out.MediaType)
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	for {
		select {
		case rec := <-st.events:
			if _, err := w.Write(rec); err != nil {
				s.cfg.System.Root.Stop(st.bridge)
				return
			}
			flusher.Flush()
		case <-st.done:
			for {
				select {
				case rec := <-st.events:
					_, _ = w.Write(rec)
				default:
					flusher.Flush()
					return
				}
			}
		case <-r.Context().Done():
			s.cfg.System.Root.Stop(st.bridge)
			return
		}
	}
}

// executorBridge acts towards the agent as one of Agora's executors.
type executorBridge struct {
	srv        *ExecutorServer
	st         *executorStream
	key        executorKey
	log        *slog.Logger
	subscribed bool
	// subscribe is the executor's SUBSCRIBE as the agent takes it.
	subscribe *messages.ReregisterExecutor
}

type executorSubscribeExpired struct{}

func (b *executorBridge) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		// A Mesos executor subscribes the same way the first time and
		// after its agent restarted: the agent tells which it is.
		b.subscribe.Pid = ctx.Self()
		ctx.Send(b.srv.cfg.Agent, &actor.MessageEnvelope{Sender: ctx.Self(), Message: b.subscribe})
		self, sys := ctx.Self(), ctx.ActorSystem()
		b.srv.cfg.Clock.AfterFunc(b.srv.cfg.SubscribeTimeout, func() { sys.Root.Send(self, executorSubscribeExpired{}) })
	case executorSubscribeExpired:
		if !b.subscribed {
			answer(b.st.result, &subscribeError{503, "the agent did not answer the subscription in time; retry"})
			ctx.Stop(ctx.Self())
		}
	case *messages.ExecutorRegistered:
		if b.subscribed {
			return
		}
		b.subscribed = true
		b.srv.mu.Lock()
		b.srv.bridges[b.key] = b.st
		b.srv.mu.Unlock()
		b.emit(ctx, &exec.Event{Type: exec.Event_SUBSCRIBED.Enum(), Subscribed: &exec.Event_Subscribed{
			ExecutorInfo:  executorOut(m.Executor, b.key),
			FrameworkInfo: frameworkOut(m.Framework, b.key.framework),
			AgentInfo:     &mesos.AgentInfo{Hostname: proto.String(b.srv.cfg.Hostname), Id: &mesos.AgentID{Value: proto.String(m.GetAgentId().GetValue())}},
		}})
		answer(b.st.result, nil)
		b.log.Info("Mesos executor subscribed over HTTP")
	case *messages.LaunchTask:
		b.emit(ctx, &exec.Event{Type: exec.Event_LAUNCH.Enum(), Launch: &exec.Event_Launch{Task: taskOut(m.Task)}})
	case *messages.LaunchTaskGroup:
		g := &mesos.TaskGroupInfo{}
		for _, t := range m.GetTaskGroup().GetTasks() {
			g.Tasks = append(g.Tasks, taskOut(t))
		}
		b.emit(ctx, &exec.Event{Type: exec.Event_LAUNCH_GROUP.Enum(), LaunchGroup: &exec.Event_LaunchGroup{TaskGroup: g}})
	case *messages.KillTask:
		ev := &exec.Event_Kill{TaskId: &mesos.TaskID{Value: proto.String(m.GetTaskId().GetValue())}}
		if g := m.GetKillPolicy(); g != nil {
			ev.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: proto.Int64(g.GracePeriodNanos)}}
		}
		b.emit(ctx, &exec.Event{Type: exec.Event_KILL.Enum(), Kill: ev})
	case *messages.ExecutorStatusAcknowledged:
		b.emit(ctx, &exec.Event{Type: exec.Event_ACKNOWLEDGED.Enum(), Acknowledged: &exec.Event_Acknowledged{
			TaskId: &mesos.TaskID{Value: proto.String(m.GetTaskId().GetValue())}, Uuid: m.Uuid}})
	case *messages.FrameworkToExecutor:
		b.emit(ctx, &exec.Event{Type: exec.Event_MESSAGE.Enum(), Message: &exec.Event_Message{Data: m.Data}})
	case *messages.ShutdownExecutor:
		b.emit(ctx, &exec.Event{Type: exec.Event_SHUTDOWN.Enum()})
	case *actor.Stopped:
		b.srv.mu.Lock()
		if b.srv.bridges[b.key] == b.st {
			delete(b.srv.bridges, b.key)
		}
		b.srv.mu.Unlock()
		b.st.end()
	case *actor.Stopping, *actor.Restarting:
	default:
		b.log.Warn("mesosapi executor bridge: unexpected message", "type", fmt.Sprintf("%T", m))
	}
}

func (b *executorBridge) emit(ctx actor.Context, ev *exec.Event) {
	rec, err := b.st.codec.Marshal(ev)
	if err != nil {
		b.log.Error("mesosapi: cannot encode an executor event; dropped", "type", ev.GetType().String(), "err", err)
		return
	}
	select {
	case b.st.events <- AppendRecord(nil, rec):
	default:
		b.log.Warn("Mesos executor's stream is too far behind; closing it")
		ctx.Stop(ctx.Self())
	}
}

// resubscribeIn is an executor's SUBSCRIBE as the agent takes it: the
// tasks it holds unacknowledged and the updates the agent has not
// acknowledged (after an agent restart, what happened meanwhile).
func resubscribeIn(key executorKey, sub *exec.Call_Subscribe) (*messages.ReregisterExecutor, error) {
	const maxUnacknowledged = 10_000 // bounded as the call's body is
	if len(sub.GetUnacknowledgedTasks()) > maxUnacknowledged || len(sub.GetUnacknowledgedUpdates()) > maxUnacknowledged {
		return nil, fmt.Errorf("%w: SUBSCRIBE with more than %d unacknowledged tasks or updates", ErrInvalid, maxUnacknowledged)
	}
	out := &messages.ReregisterExecutor{FrameworkId: &messages.FrameworkID{Value: key.framework}, ExecutorId: &messages.ExecutorID{Value: key.executor}, Mesos: true}
	for _, t := range sub.GetUnacknowledgedTasks() {
		out.Tasks = append(out.Tasks, &messages.TaskID{Value: t.GetTaskId().GetValue()})
	}
	for _, u := range sub.GetUnacknowledgedUpdates() {
		msg, err := executorCallIn(key, &exec.Call{Type: exec.Call_UPDATE.Enum(), Update: u})
		if err != nil {
			return nil, fmt.Errorf("an unacknowledged update: %w", err)
		}
		out.Unacknowledged = append(out.Unacknowledged, msg.(*messages.ExecutorStatusUpdate))
	}
	return out, nil
}

package mesosapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	exec "github.com/agora-sched/agora/messages/mesos/v1/executor"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// fakeAgent answers an executor's subscription (ReregisterExecutor, with
// mesos set) as the agent does and reports what it gets.
func fakeAgent(got chan<- received) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		msg, ok := ctx.Message().(proto.Message)
		if !ok {
			return
		}
		got <- received{msg: msg, sender: ctx.Sender()}
		if reg, ok := msg.(*messages.ReregisterExecutor); ok {
			ctx.Send(reg.Pid, &messages.ExecutorRegistered{AgentId: &messages.AgentID{Value: "A1"},
				Framework: &messages.FrameworkInfo{Name: "f", User: "nobody", Roles: []string{"*"}},
				Executor:  &messages.ExecutorInfo{ExecutorId: reg.ExecutorId, Command: &messages.CommandInfo{Value: "./exec", Shell: true}, Mesos: true}})
		}
	})
}

func TestExecutorAPI(t *testing.T) {
	sys := actor.NewActorSystem()
	got := make(chan received, 100)
	agentPID := sys.Root.Spawn(fakeAgent(got))
	hs := httptest.NewServer(NewExecutorServer(ExecutorConfig{System: sys, Agent: agentPID, Hostname: "node-1"}))
	defer func() { hs.Close(); sys.Shutdown() }()
	h := &harness{t: t, sys: sys, got: got, url: hs.URL + ExecutorPath}
	post := func(call *exec.Call) *http.Response {
		body, _ := JSONCodec.Marshal(call)
		res, err := http.Post(h.url, MediaJSON, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	ids := func(c *exec.Call) *exec.Call {
		c.FrameworkId, c.ExecutorId = &mesos.FrameworkID{Value: proto.String("F1")}, &mesos.ExecutorID{Value: proto.String("E1")}
		return c
	}
	update := ids(&exec.Call{Type: exec.Call_UPDATE.Enum(), Update: &exec.Call_Update{Status: &mesos.TaskStatus{
		TaskId: &mesos.TaskID{Value: proto.String("t1")}, State: mesos.TaskState_TASK_RUNNING.Enum(), Uuid: []byte("u1"), Timestamp: proto.Float64(2)}}})
	status(t, post(update), http.StatusForbidden, "not subscribed")

	res := post(ids(&exec.Call{Type: exec.Call_SUBSCRIBE.Enum(), Subscribe: &exec.Call_Subscribe{}}))
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != MediaJSON {
		t.Fatalf("SUBSCRIBE: %d %v", res.StatusCode, res.Header)
	}
	r := NewRecordReader(res.Body, 1<<20)
	nextEvent := func() *exec.Event {
		t.Helper()
		rec, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		ev := &exec.Event{}
		if err := JSONCodec.Unmarshal(rec, ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	reg, from := next[*messages.ReregisterExecutor](h)
	if reg.GetFrameworkId().GetValue() != "F1" || reg.GetExecutorId().GetValue() != "E1" || !from.sender.Equal(reg.Pid) || !reg.Mesos ||
		len(reg.Tasks)+len(reg.Unacknowledged) != 0 {
		t.Fatalf("registration %v from %v", reg, from.sender)
	}
	ev := nextEvent()
	if sub := ev.GetSubscribed(); ev.GetType() != exec.Event_SUBSCRIBED || sub.GetAgentInfo().GetHostname() != "node-1" ||
		sub.GetExecutorInfo().GetExecutorId().GetValue() != "E1" || sub.GetFrameworkInfo().GetUser() != "nobody" {
		t.Fatalf("subscribed: %v", ev)
	}

	// The agent's messages to its executor, as Mesos events.
	bridge := reg.Pid
	sys.Root.Send(bridge, &messages.LaunchTask{Task: &messages.TaskInfo{Name: "t1", TaskId: &messages.TaskID{Value: "t1"}, AgentId: &messages.AgentID{Value: "A1"},
		Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}}, Command: &messages.CommandInfo{Value: "/bin/echo", Arguments: []string{"hi"}}}})
	if ev := nextEvent(); ev.GetType() != exec.Event_LAUNCH || ev.GetLaunch().GetTask().GetTaskId().GetValue() != "t1" ||
		len(ev.GetLaunch().GetTask().GetCommand().GetArguments()) != 2 {
		t.Fatalf("launch: %v", ev)
	}
	// A task group comes as one LAUNCH_GROUP event, its tasks in order.
	sys.Root.Send(bridge, &messages.LaunchTaskGroup{Executor: &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: "e1"}}, TaskGroup: &messages.TaskGroupInfo{Tasks: []*messages.TaskInfo{
		{Name: "g1", TaskId: &messages.TaskID{Value: "g1"}, AgentId: &messages.AgentID{Value: "A1"}},
		{Name: "g2", TaskId: &messages.TaskID{Value: "g2"}, AgentId: &messages.AgentID{Value: "A1"}}}}})
	if ev := nextEvent(); ev.GetType() != exec.Event_LAUNCH_GROUP || len(ev.GetLaunchGroup().GetTaskGroup().GetTasks()) != 2 ||
		ev.GetLaunchGroup().GetTaskGroup().GetTasks()[1].GetTaskId().GetValue() != "g2" {
		t.Fatalf("launch group: %v", ev)
	}
	sys.Root.Send(bridge, &messages.ExecutorStatusAcknowledged{TaskId: &messages.TaskID{Value: "t1"}, Uuid: []byte("u1")})
	if ev := nextEvent(); ev.GetType() != exec.Event_ACKNOWLEDGED || string(ev.GetAcknowledged().GetUuid()) != "u1" {
		t.Fatalf("acknowledged: %v", ev)
	}
	sys.Root.Send(bridge, &messages.KillTask{TaskId: &messages.TaskID{Value: "t1"}, KillPolicy: &messages.KillPolicy{GracePeriodNanos: int64(time.Second)}})
	if ev := nextEvent(); ev.GetType() != exec.Event_KILL || ev.GetKill().GetKillPolicy().GetGracePeriod().GetNanoseconds() != 1e9 {
		t.Fatalf("kill: %v", ev)
	}
	sys.Root.Send(bridge, &messages.ShutdownExecutor{})
	if ev := nextEvent(); ev.GetType() != exec.Event_SHUTDOWN {
		t.Fatalf("shutdown: %v", ev)
	}

	// The executor's calls reach the agent as from its bridge.
	status(t, post(update), http.StatusAccepted, "")
	upd, from := next[*messages.ExecutorStatusUpdate](h)
	if st := upd.GetStatus(); !from.sender.Equal(bridge) || st.GetState() != messages.TaskState_TASK_RUNNING || string(upd.Uuid) != "u1" ||
		st.TimestampUnixNano != 2e9 || upd.GetExecutorId().GetValue() != "E1" || st.GetExecutorId().GetValue() != "E1" {
		t.Fatalf("update %v from %v", upd, from.sender)
	}
	status(t, post(ids(&exec.Call{Type: exec.Call_MESSAGE.Enum(), Message: &exec.Call_Message{Data: []byte("hello")}})), http.StatusAccepted, "")
	if m, _ := next[*messages.ExecutorToFramework](h); string(m.Data) != "hello" || m.GetFrameworkId().GetValue() != "F1" {
		t.Fatalf("message %v", m)
	}
	noUUID := ids(&exec.Call{Type: exec.Call_UPDATE.Enum(), Update: &exec.Call_Update{Status: &mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String("t1")}, State: mesos.TaskState_TASK_RUNNING.Enum()}}})
	status(t, post(noUUID), http.StatusBadRequest, "uuid")

	// After an agent restart, a checkpointing executor subscribes again
	// with the tasks and updates not yet acknowledged (Mesos' executor
	// re-subscription): the agent gets them to recover its tasks.
	again := post(ids(&exec.Call{Type: exec.Call_SUBSCRIBE.Enum(), Subscribe: &exec.Call_Subscribe{
		UnacknowledgedTasks:   []*mesos.TaskInfo{{Name: proto.String("t2"), TaskId: &mesos.TaskID{Value: proto.String("t2")}, AgentId: &mesos.AgentID{Value: proto.String("A1")}}},
		UnacknowledgedUpdates: []*exec.Call_Update{update.Update},
	}}))
	defer again.Body.Close()
	re, _ := next[*messages.ReregisterExecutor](h)
	if !re.Mesos || len(re.Tasks) != 1 || re.Tasks[0].GetValue() != "t2" || len(re.Unacknowledged) != 1 ||
		string(re.Unacknowledged[0].Uuid) != "u1" || re.Unacknowledged[0].GetStatus().GetState() != messages.TaskState_TASK_RUNNING {
		t.Fatalf("re-subscription as the agent got it: %v", re)
	}
	bad := post(ids(&exec.Call{Type: exec.Call_SUBSCRIBE.Enum(), Subscribe: &exec.Call_Subscribe{UnacknowledgedUpdates: []*exec.Call_Update{noUUID.Update}}}))
	status(t, bad, http.StatusBadRequest, "uuid")
}

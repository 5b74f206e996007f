package mesosapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	mmaster "github.com/agora-sched/agora/messages/mesos/v1/master"
	"github.com/agora-sched/agora/messages/mesos/v1/quota"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

var operatorT0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// operatorState is a master's published state with one agent draining,
// one idle, a framework of two roles, a quota and a weight.
func operatorState() *messages.MasterState {
	weight := &messages.RoleSettings{Role: "eng", Weight: 3}
	quota := &messages.RoleSettings{Role: "ops", Quota: &messages.RoleQuota{
		Guarantee: []*messages.Resource{{Name: "cpus", Scalar: 2}}, Limit: []*messages.Resource{{Name: "cpus", Scalar: 4}, {Name: "mem", Scalar: 1024}}}}
	return &messages.MasterState{
		Master: &messages.MasterInfo{Id: "m1", Address: "10.0.0.1:7000", HttpAddress: "10.0.0.1:5050", Version: "v1.2.3",
			StartTimeUnixNano: operatorT0.UnixNano()},
		Leading:          true,
		SnapshotUnixNano: operatorT0.Add(time.Minute).UnixNano(),
		Agents: []*messages.AgentState{
			{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: "A1"}, Hostname: "a1", HttpAddress: "10.0.0.2:5051", Version: "v1.2.3",
				Resources:  []*messages.Resource{{Name: "cpus", Scalar: 4}},
				Attributes: []*messages.Attribute{{Name: "rack", Value: &messages.Attribute_Text{Text: "r1"}}, {Name: "gen", Value: &messages.Attribute_Scalar{Scalar: 2}}}},
				Address: "10.0.0.2:7001", Reachable: true, RegisteredUnixNano: operatorT0.UnixNano(),
				Used:  []*messages.Resource{{Name: "cpus", Scalar: 1}},
				Drain: &messages.DrainInfo{State: messages.DrainInfo_DRAINING, DeadlineUnixNano: operatorT0.Add(11 * time.Minute).UnixNano()}},
			{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: "A2"}, Hostname: "a2"}, Reachable: true},
		},
		Frameworks: []*messages.FrameworkState{{Info: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "F1"}, Name: "web", User: "nobody",
			Roles: []string{"eng", "web"}}, Connected: true, Used: []*messages.Resource{{Name: "cpus", Scalar: 1}}}},
		Roles:     &messages.RoleConfig{Roles: []*messages.RoleSettings{weight, quota}},
		RoleUsage: []*messages.RoleUsage{{Role: "eng", Weight: 3, Used: []*messages.Resource{{Name: "cpus", Scalar: 1}}, Tasks: 1}, {Role: "ops", Weight: 1}},
	}
}

func operatorTasks() []*messages.Task {
	task := func(id string, state messages.TaskState, executor string) *messages.Task {
		t := &messages.Task{Name: id, TaskId: &messages.TaskID{Value: id}, FrameworkId: &messages.FrameworkID{Value: "F1"},
			AgentId: &messages.AgentID{Value: "A1"}, State: state, Role: "eng", Resources: []*messages.Resource{{Name: "cpus", Scalar: 0.5}},
			LatestStatus: &messages.TaskStatus{TaskId: &messages.TaskID{Value: id}, State: state, TimestampUnixNano: operatorT0.UnixNano()}}
		if executor != "" {
			t.ExecutorId = &messages.ExecutorID{Value: executor}
		}
		return t
	}
	return []*messages.Task{
		task("t1", messages.TaskState_TASK_RUNNING, ""),
		task("t2", messages.TaskState_TASK_STAGING, "E1"),
		task("t3", messages.TaskState_TASK_RUNNING, "E1"), // the same executor: listed once
		task("t4", messages.TaskState_TASK_UNREACHABLE, ""),
		task("t5", messages.TaskState_TASK_FINISHED, "E2"), // ended: its executor is not listed
	}
}

// complete fails unless m holds every field Mesos requires (proto2's
// required fields): a client's decoder refuses a message without them.
func complete(t *testing.T, m proto.Message) {
	t.Helper()
	if _, err := proto.Marshal(m); err != nil {
		t.Fatalf("%T is not a complete Mesos message: %v", m, err)
	}
}

// GET_STATE holds what Mesos' master answers, mapped from Agora's state:
// a draining agent deactivated with the time left as its grace period,
// tasks sorted into live, unreachable and completed, custom executors of
// live tasks once each.
func TestOperatorStateOut(t *testing.T) {
	st := stateOut(operatorState(), operatorTasks())
	complete(t, st)
	agents := st.GetGetAgents().GetAgents()
	if len(agents) != 2 {
		t.Fatalf("agents: %v", agents)
	}
	a1 := agents[0]
	if a1.GetActive() || !a1.GetDeactivated() || a1.GetDrainInfo().GetState() != mesos.DrainState_DRAINING ||
		a1.GetDrainInfo().GetConfig().GetMaxGracePeriod().GetNanoseconds() != int64(10*time.Minute) {
		t.Errorf("a draining agent: %v", a1)
	}
	if a1.GetAgentInfo().GetPort() != 5051 || len(a1.GetAgentInfo().GetAttributes()) != 2 ||
		a1.GetAgentInfo().GetAttributes()[0].GetText().GetValue() != "r1" || a1.GetAgentInfo().GetAttributes()[1].GetScalar().GetValue() != 2 {
		t.Errorf("agent info: %v", a1.GetAgentInfo())
	}
	if a2 := agents[1]; !a2.GetActive() || a2.GetDeactivated() || a2.DrainInfo != nil {
		t.Errorf("an idle agent: %v", a2)
	}
	tasks := st.GetGetTasks()
	if len(tasks.GetTasks()) != 3 || len(tasks.GetUnreachableTasks()) != 1 || len(tasks.GetCompletedTasks()) != 1 {
		t.Fatalf("tasks: %v", tasks)
	}
	if t1 := tasks.GetTasks()[0]; t1.GetState() != mesos.TaskState_TASK_RUNNING || t1.GetStatuses()[0].GetState() != mesos.TaskState_TASK_RUNNING ||
		t1.GetResources()[0].GetAllocationInfo().GetRole() != "eng" || t1.ExecutorId != nil {
		t.Errorf("a running task: %v", t1)
	}
	ex := st.GetGetExecutors().GetExecutors()
	if len(ex) != 1 || ex[0].GetExecutorInfo().GetExecutorId().GetValue() != "E1" || ex[0].GetAgentId().GetValue() != "A1" {
		t.Errorf("executors: %v", ex)
	}
	fw := st.GetGetFrameworks().GetFrameworks()
	if len(fw) != 1 || !fw[0].GetActive() || !fw[0].GetConnected() || fw[0].GetFrameworkInfo().GetId().GetValue() != "F1" {
		t.Errorf("frameworks: %v", fw)
	}
}

func TestOperatorRolesQuotaWeightsMasterOut(t *testing.T) {
	st := operatorState()
	roles := rolesOut(st)
	complete(t, roles)
	var names []string
	for _, r := range roles.GetRoles() {
		names = append(names, r.GetName())
	}
	// eng and ops hold a configuration or tasks; web only a framework.
	if strings.Join(names, ",") != "eng,ops,web" {
		t.Fatalf("roles %v", names)
	}
	if eng := roles.GetRoles()[0]; eng.GetWeight() != 3 || len(eng.GetFrameworks()) != 1 || eng.GetResources()[0].GetScalar().GetValue() != 1 {
		t.Errorf("role eng: %v", eng)
	}
	if web := roles.GetRoles()[2]; web.GetWeight() != 1 || web.GetFrameworks()[0].GetValue() != "F1" {
		t.Errorf("role web: %v", web)
	}
	w := weightsOut(st)
	if len(w.GetWeightInfos()) != 1 || w.GetWeightInfos()[0].GetRole() != "eng" || w.GetWeightInfos()[0].GetWeight() != 3 {
		t.Errorf("weights: %v", w)
	}
	q := quotaOut(st).GetStatus()
	complete(t, q)
	if len(q.GetConfigs()) != 1 {
		t.Fatalf("quota: %v", q)
	}
	c := q.GetConfigs()[0]
	if c.GetRole() != "ops" || c.GetGuarantees()["cpus"].GetValue() != 2 || c.GetLimits()["cpus"].GetValue() != 4 || c.GetLimits()["mem"].GetValue() != 1024 {
		t.Errorf("quota config: %v", c)
	}
	if len(q.GetInfos()) != 1 || q.GetInfos()[0].GetGuarantee()[0].GetScalar().GetValue() != 2 {
		t.Errorf("legacy quota infos: %v", q.GetInfos())
	}
	m := masterOut(st)
	complete(t, m)
	// 10.0.0.1 in network order read as a little-endian integer.
	if info := m.GetMasterInfo(); info.GetIp() != 0x0100000a || info.GetPort() != 5050 || info.GetId() != "m1" || info.GetVersion() != "v1.2.3" ||
		m.GetStartTime() != float64(operatorT0.Unix()) {
		t.Errorf("master: %v", m)
	}
}

func TestOperatorRoleChangesIn(t *testing.T) {
	scalars := func(kv ...any) map[string]*mesos.Value_Scalar {
		m := map[string]*mesos.Value_Scalar{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = &mesos.Value_Scalar{Value: proto.Float64(kv[i+1].(float64))}
		}
		return m
	}
	scalar := func(name string, v float64) *mesos.Resource {
		return &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)}}
	}
	res := func(kv ...any) []*messages.Resource {
		var out []*messages.Resource
		for i := 0; i < len(kv); i += 2 {
			out = append(out, &messages.Resource{Name: kv[i].(string), Scalar: kv[i+1].(float64)})
		}
		return out
	}
	updateQuota := func(cs ...*quota.QuotaConfig) *mmaster.Call {
		return &mmaster.Call{Type: mmaster.Call_UPDATE_QUOTA.Enum(), UpdateQuota: &mmaster.Call_UpdateQuota{QuotaConfigs: cs}}
	}
	for _, tc := range []struct {
		name string
		call *mmaster.Call
		want []*messages.UpdateRole
		err  string
	}{
		{"UPDATE_QUOTA sets guarantees and limits", updateQuota(&quota.QuotaConfig{Role: proto.String("ops"), Guarantees: scalars("mem", 512.0, "cpus", 1.0), Limits: scalars("cpus", 2.0)}),
			[]*messages.UpdateRole{{Role: "ops", Quota: &messages.RoleQuota{Guarantee: res("cpus", 1.0, "mem", 512.0), Limit: res("cpus", 2.0)}}}, ""},
		// Mesos: a config with neither resets the role to the default quota.
		{"UPDATE_QUOTA of nothing removes the quota", updateQuota(&quota.QuotaConfig{Role: proto.String("ops")}),
			[]*messages.UpdateRole{{Role: "ops", ClearQuota: true}}, ""},
		{"UPDATE_QUOTA with a negative amount", updateQuota(&quota.QuotaConfig{Role: proto.String("ops"), Limits: scalars("cpus", -1.0)}), nil, "want a resource name and a finite amount"},
		{"UPDATE_QUOTA of a bad role", updateQuota(&quota.QuotaConfig{Role: proto.String("a/../b")}), nil, "invalid"},
		{"UPDATE_QUOTA of one role twice", updateQuota(&quota.QuotaConfig{Role: proto.String("ops")}, &quota.QuotaConfig{Role: proto.String("ops")}), nil, "given twice"},
		{"UPDATE_QUOTA of no role", updateQuota(), nil, "quota_configs"},
		// Mesos 1.9: a legacy quota's guarantee is its limit too.
		{"SET_QUOTA", &mmaster.Call{Type: mmaster.Call_SET_QUOTA.Enum(), SetQuota: &mmaster.Call_SetQuota{QuotaRequest: &quota.QuotaRequest{
			Role: proto.String("ops"), Guarantee: []*mesos.Resource{scalar("cpus", 3)}}}},
			[]*messages.UpdateRole{{Role: "ops", Quota: &messages.RoleQuota{Guarantee: res("cpus", 3.0), Limit: res("cpus", 3.0)}}}, ""},
		{"SET_QUOTA of ranges", &mmaster.Call{Type: mmaster.Call_SET_QUOTA.Enum(), SetQuota: &mmaster.Call_SetQuota{QuotaRequest: &quota.QuotaRequest{
			Role: proto.String("ops"), Guarantee: []*mesos.Resource{{Name: proto.String("ports"), Type: mesos.Value_RANGES.Enum()}}}}}, nil, "only scalar"},
		{"REMOVE_QUOTA", &mmaster.Call{Type: mmaster.Call_REMOVE_QUOTA.Enum(), RemoveQuota: &mmaster.Call_RemoveQuota{Role: proto.String("ops")}},
			[]*messages.UpdateRole{{Role: "ops", ClearQuota: true}}, ""},
		{"UPDATE_WEIGHTS", &mmaster.Call{Type: mmaster.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &mmaster.Call_UpdateWeights{WeightInfos: []*mesos.WeightInfo{
			{Role: proto.String("eng"), Weight: proto.Float64(2)}, {Role: proto.String("ops"), Weight: proto.Float64(0.5)}}}},
			[]*messages.UpdateRole{{Role: "eng", Weight: proto.Float64(2)}, {Role: "ops", Weight: proto.Float64(0.5)}}, ""},
		{"UPDATE_WEIGHTS of zero", &mmaster.Call{Type: mmaster.Call_UPDATE_WEIGHTS.Enum(), UpdateWeights: &mmaster.Call_UpdateWeights{WeightInfos: []*mesos.WeightInfo{
			{Role: proto.String("eng"), Weight: proto.Float64(0)}}}}, nil, "positive"},
	} {
		got, err := roleChangesIn(tc.call)
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v; want ErrInvalid with %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Fatalf("%s: %v %v", tc.name, got, err)
		}
		for i := range got {
			if !proto.Equal(got[i], tc.want[i]) {
				t.Errorf("%s: change %d is %v; want %v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
}

func TestOperatorAgentCallsIn(t *testing.T) {
	agent := &mesos.AgentID{Value: proto.String("A1")}
	for _, tc := range []struct {
		name string
		call *mmaster.Call
		want proto.Message
		err  error
	}{
		{"DRAIN_AGENT with a grace period", &mmaster.Call{Type: mmaster.Call_DRAIN_AGENT.Enum(), DrainAgent: &mmaster.Call_DrainAgent{AgentId: agent, MaxGracePeriod: durationpb.New(90 * time.Second)}},
			&messages.DrainAgent{AgentId: &messages.AgentID{Value: "A1"}, DeadlineNanos: int64(90 * time.Second)}, nil},
		{"DRAIN_AGENT without one kills at once", &mmaster.Call{Type: mmaster.Call_DRAIN_AGENT.Enum(), DrainAgent: &mmaster.Call_DrainAgent{AgentId: agent}},
			&messages.DrainAgent{AgentId: &messages.AgentID{Value: "A1"}}, nil},
		{"DRAIN_AGENT marking it gone", &mmaster.Call{Type: mmaster.Call_DRAIN_AGENT.Enum(), DrainAgent: &mmaster.Call_DrainAgent{AgentId: agent, MarkGone: proto.Bool(true)}}, nil, ErrUnsupported},
		{"DRAIN_AGENT with a negative grace period", &mmaster.Call{Type: mmaster.Call_DRAIN_AGENT.Enum(), DrainAgent: &mmaster.Call_DrainAgent{AgentId: agent, MaxGracePeriod: durationpb.New(-time.Second)}}, nil, ErrInvalid},
		{"DRAIN_AGENT of no agent", &mmaster.Call{Type: mmaster.Call_DRAIN_AGENT.Enum(), DrainAgent: &mmaster.Call_DrainAgent{}}, nil, ErrInvalid},
		{"DEACTIVATE_AGENT", &mmaster.Call{Type: mmaster.Call_DEACTIVATE_AGENT.Enum(), DeactivateAgent: &mmaster.Call_DeactivateAgent{AgentId: agent}},
			&messages.DrainAgent{AgentId: &messages.AgentID{Value: "A1"}, DeadlineNanos: int64(core.MaxDrainDeadline)}, nil},
		{"REACTIVATE_AGENT", &mmaster.Call{Type: mmaster.Call_REACTIVATE_AGENT.Enum(), ReactivateAgent: &mmaster.Call_ReactivateAgent{AgentId: agent}},
			&messages.ReactivateAgent{AgentId: &messages.AgentID{Value: "A1"}}, nil},
	} {
		got, err := agentCallIn(tc.call)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: error %v; want %v", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !proto.Equal(got, tc.want) {
			t.Errorf("%s: %v %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

// The master's events as Mesos' operator events: each complete, as a
// client decodes it.
func TestOperatorEventOut(t *testing.T) {
	state := func() *messages.MasterState { return operatorState() }
	task := operatorTasks()[1]
	for _, tc := range []struct {
		ev   any
		want mmaster.Event_Type
		ok   func(*mmaster.Event) bool
	}{
		{core.TaskAdded{Task: task}, mmaster.Event_TASK_ADDED, func(e *mmaster.Event) bool {
			return e.GetTaskAdded().GetTask().GetTaskId().GetValue() == "t2" && e.GetTaskAdded().GetTask().GetExecutorId().GetValue() == "E1"
		}},
		{core.TaskUpdated{FrameworkID: "F1", TaskID: "t2", State: messages.TaskState_TASK_RUNNING}, mmaster.Event_TASK_UPDATED, func(e *mmaster.Event) bool {
			u := e.GetTaskUpdated()
			return u.GetState() == mesos.TaskState_TASK_RUNNING && u.GetStatus().GetTaskId().GetValue() == "t2" && u.GetFrameworkId().GetValue() == "F1"
		}},
		{core.AgentAdmitted{AgentID: "A3", Hostname: "a3", Info: &messages.AgentInfo{Id: &messages.AgentID{Value: "A3"}, Hostname: "a3"}}, mmaster.Event_AGENT_ADDED,
			func(e *mmaster.Event) bool {
				return e.GetAgentAdded().GetAgent().GetAgentInfo().GetId().GetValue() == "A3"
			}},
		{core.AgentRemoved{AgentID: "A2"}, mmaster.Event_AGENT_REMOVED, func(e *mmaster.Event) bool { return e.GetAgentRemoved().GetAgentId().GetValue() == "A2" }},
		{core.AgentMarkedUnreachable{AgentID: "A2"}, mmaster.Event_AGENT_REMOVED, func(e *mmaster.Event) bool { return e.GetAgentRemoved().GetAgentId().GetValue() == "A2" }},
		{core.FrameworkSubscribed{FrameworkID: "F9", Info: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "F9"}, Name: "new", User: "u"}}, mmaster.Event_FRAMEWORK_ADDED,
			func(e *mmaster.Event) bool {
				return e.GetFrameworkAdded().GetFramework().GetFrameworkInfo().GetName() == "new"
			}},
		{core.FrameworkSubscribed{FrameworkID: "F1", Resubscribed: true}, mmaster.Event_FRAMEWORK_UPDATED,
			func(e *mmaster.Event) bool { return e.GetFrameworkUpdated().GetFramework().GetConnected() }},
		{core.FrameworkDisconnected{FrameworkID: "F1"}, mmaster.Event_FRAMEWORK_UPDATED, func(e *mmaster.Event) bool {
			f := e.GetFrameworkUpdated().GetFramework()
			return !f.GetConnected() && !f.GetActive() && f.GetFrameworkInfo().GetName() == "web"
		}},
		{core.FrameworkRemoved{FrameworkID: "F1"}, mmaster.Event_FRAMEWORK_REMOVED,
			func(e *mmaster.Event) bool { return e.GetFrameworkRemoved().GetFrameworkInfo().GetName() == "web" }},
		// Removed before any state showed it: named by its ID alone.
		{core.FrameworkRemoved{FrameworkID: "F7"}, mmaster.Event_FRAMEWORK_REMOVED,
			func(e *mmaster.Event) bool {
				return e.GetFrameworkRemoved().GetFrameworkInfo().GetId().GetValue() == "F7"
			}},
	} {
		e := operatorEventOut(tc.ev, state)
		if e.GetType() != tc.want || !tc.ok(e) {
			t.Errorf("%T %+v became %v; want %s", tc.ev, tc.ev, e, tc.want)
			continue
		}
		complete(t, e)
	}
	// Events Mesos has no operator event for are not sent.
	for _, ev := range []any{core.ReclaimChecked{}, core.AgentDrainChanged{AgentID: "A1"}, "something else"} {
		if e := operatorEventOut(ev, state); e != nil {
			t.Errorf("%T became %v; want nothing", ev, e)
		}
	}
}

// What one SUBSCRIBE stream costs the master's goroutine per task event:
// the event is mapped there (TaskAdded lends the books' record only for
// that long); the stream's goroutine encodes it.
func BenchmarkOperatorEventOnMaster(b *testing.B) {
	state := func() *messages.MasterState { return nil }
	added := core.TaskAdded{Task: operatorTasks()[0]}
	updated := core.TaskUpdated{FrameworkID: "F1", TaskID: "t1", State: messages.TaskState_TASK_RUNNING}
	q := &operatorQueue{state: state, events: make(chan any, 2), overflow: make(chan struct{})}
	b.ReportAllocs()
	for b.Loop() {
		q.add(added)
		q.add(updated)
		<-q.events
		<-q.events
	}
}

// GET_STATE's mapping and JSON encoding of a cluster of 1,000 agents and
// 10,000 tasks, on the request's goroutine.
func BenchmarkOperatorGetStateJSON(b *testing.B) {
	st := operatorState()
	st.Agents = nil
	for i := range 1000 {
		st.Agents = append(st.Agents, &messages.AgentState{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: fmt.Sprintf("A%d", i)}, Hostname: "h",
			Resources: []*messages.Resource{{Name: "cpus", Scalar: 8}, {Name: "mem", Scalar: 32768}}}, Reachable: true})
	}
	var tasks []*messages.Task
	for i := range 10000 {
		t := proto.Clone(operatorTasks()[0]).(*messages.Task)
		t.TaskId.Value = fmt.Sprintf("t%d", i)
		tasks = append(tasks, t)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := JSONCodec.Marshal(&mmaster.Response{Type: mmaster.Response_GET_STATE.Enum(), GetState: stateOut(st, tasks)}); err != nil {
			b.Fatal(err)
		}
	}
}

package mesosapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

func TestResourcesRoundTrip(t *testing.T) {
	agora := []*messages.Resource{
		{Name: "cpus", Scalar: 2.5},
		{Name: "mem", Scalar: 1024, Role: "eng"},
		{Name: "ports", Ranges: []*messages.Range{{Begin: 31000, End: 31010}, {Begin: 32000, End: 32000}}},
		{Name: "cpus", Scalar: 1, Revocable: true},
	}
	for _, tc := range []struct {
		allocated  string
		refinement bool
	}{{"", false}, {"eng", true}, {"*", false}} {
		out := resourcesOut(agora, tc.allocated, tc.refinement)
		for _, r := range out {
			if _, err := proto.Marshal(r); err != nil {
				t.Fatalf("%v: not a complete Mesos resource: %v", r, err)
			}
			if got := r.GetAllocationInfo().GetRole(); got != tc.allocated {
				t.Errorf("allocation_info.role %q; want %q", got, tc.allocated)
			}
		}
		if m := out[1]; tc.refinement != (len(m.Reservations) == 1) || tc.refinement == (m.Role != nil) {
			t.Errorf("refinement %v: reservation written as %v", tc.refinement, m)
		}
		back, err := resourcesIn(out)
		if err != nil {
			t.Fatal(err)
		}
		for i := range agora {
			if !proto.Equal(back[i], agora[i]) {
				t.Errorf("resource %d: %v came back as %v", i, agora[i], back[i])
			}
		}
	}
}

func TestResourcesInRefusesWhatAgoraLacks(t *testing.T) {
	scalar := func(r *mesos.Resource) *mesos.Resource {
		r.Name, r.Type, r.Scalar = proto.String("disk"), mesos.Value_SCALAR.Enum(), &mesos.Value_Scalar{Value: proto.Float64(1)}
		return r
	}
	for _, tc := range []struct {
		r    *mesos.Resource
		want string
	}{
		{&mesos.Resource{Name: proto.String("zones"), Type: mesos.Value_SET.Enum(), Set: &mesos.Value_Set{Item: []string{"a"}}}, "type SET"},
		{scalar(&mesos.Resource{Disk: &mesos.Resource_DiskInfo{}}), "disk info"},
		{scalar(&mesos.Resource{Reservations: []*mesos.Resource_ReservationInfo{{Role: proto.String("a")}, {Role: proto.String("a/b")}}}), "refined reservations"},
	} {
		_, err := resourcesIn([]*mesos.Resource{tc.r})
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want ErrUnsupported naming %q", tc.r, err, tc.want)
		}
	}
}

// Dynamic reservations (RESERVATION_REFINEMENT's reservations, or the role
// and reservation fields before it) come in and go out with their principal
// and labels: a Mesos framework's RESERVE, and the offers after it.
func TestDynamicReservationsRoundTrip(t *testing.T) {
	labels := &mesos.Labels{Labels: []*mesos.Label{{Key: proto.String("owner"), Value: proto.String("db")}}}
	for _, refinement := range []bool{true, false} {
		m := &mesos.Resource{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(2)}}
		if refinement {
			m.Reservations = []*mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String("prod"), Principal: proto.String("alice"), Labels: labels}}
		} else {
			m.Role, m.Reservation = proto.String("prod"), &mesos.Resource_ReservationInfo{Principal: proto.String("alice"), Labels: labels}
		}
		in, err := resourcesIn([]*mesos.Resource{m})
		if err != nil {
			t.Fatal(err)
		}
		if r := in[0]; r.Role != "prod" || !messages.IsDynamic(r) || r.Reservation.Principal != "alice" || r.Reservation.Labels["owner"] != "db" {
			t.Fatalf("refinement=%v: in %v", refinement, r)
		}
		if out := resourcesOut(in, "", refinement); !proto.Equal(out[0], m) {
			t.Fatalf("refinement=%v: %v went out as %v", refinement, m, out[0])
		}
	}
	op := &sched.Call{Type: sched.Call_ACCEPT.Enum(), FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")}, Accept: &sched.Call_Accept{
		OfferIds: []*mesos.OfferID{{Value: proto.String("O1")}},
		Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_RESERVE.Enum(), Reserve: &mesos.Offer_Operation_Reserve{Resources: []*mesos.Resource{
			{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(1)}, Role: proto.String("prod"), Reservation: &mesos.Resource_ReservationInfo{}}}}}},
	}}
	msg, err := callIn(op)
	if err != nil {
		t.Fatal(err)
	}
	if rs := msg.(*messages.Accept).Operations[0].GetReserve().GetResources(); len(rs) != 1 || rs[0].Role != "prod" {
		t.Fatalf("RESERVE came in as %v", msg)
	}
}

// Mesos writes allocation_info only for MULTI_ROLE frameworks (master.cpp
// strips it for the others).
func TestOfferOutAllocationInfo(t *testing.T) {
	o := &messages.Offer{Id: &messages.OfferID{Value: "O1"}, FrameworkId: &messages.FrameworkID{Value: "F1"}, AgentId: &messages.AgentID{Value: "A1"},
		Hostname: "h", Role: "eng", Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}}, AgentHttpAddress: "10.0.0.1:5052",
		Attributes: []*messages.Attribute{{Name: "rack", Value: &messages.Attribute_Text{Text: "r1"}}}}
	multi := offerOut(o, true, false)
	if multi.GetAllocationInfo().GetRole() != "eng" || multi.Resources[0].GetAllocationInfo().GetRole() != "eng" {
		t.Errorf("MULTI_ROLE offer without its role: %v", multi)
	}
	if multi.GetUrl().GetAddress().GetPort() != 5052 || multi.Attributes[0].GetText().GetValue() != "r1" {
		t.Errorf("offer URL or attributes: %v", multi)
	}
	single := offerOut(o, false, false)
	if single.AllocationInfo != nil || single.Resources[0].AllocationInfo != nil {
		t.Errorf("allocation_info for a framework that is not MULTI_ROLE: %v", single)
	}
	for _, m := range []*mesos.Offer{multi, single} {
		if _, err := proto.Marshal(m); err != nil {
			t.Fatalf("incomplete offer: %v", err)
		}
	}
}

func TestTaskIn(t *testing.T) {
	task := &mesos.TaskInfo{
		Name: proto.String("t"), TaskId: &mesos.TaskID{Value: proto.String("t1")}, AgentId: &mesos.AgentID{Value: proto.String("A1")},
		Resources: resourcesOut([]*messages.Resource{{Name: "cpus", Scalar: 0.5}}, "*", false),
		Command: &mesos.CommandInfo{Value: proto.String("/bin/echo"), Shell: proto.Bool(false), Arguments: []string{"echo", "a b"},
			User: proto.String("nobody"), Environment: &mesos.Environment{Variables: []*mesos.Environment_Variable{{Name: proto.String("K"), Value: proto.String("V")}}}},
		KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: proto.Int64(int64(3 * time.Second))}},
		Labels:     &mesos.Labels{Labels: []*mesos.Label{{Key: proto.String("k"), Value: proto.String("v")}}},
	}
	got, err := taskIn(task)
	if err != nil {
		t.Fatal(err)
	}
	want := &messages.TaskInfo{Name: "t", TaskId: &messages.TaskID{Value: "t1"}, AgentId: &messages.AgentID{Value: "A1"},
		Resources:  []*messages.Resource{{Name: "cpus", Scalar: 0.5}},
		Command:    &messages.CommandInfo{Value: "/bin/echo", Arguments: []string{"a b"}, User: "nobody", Environment: map[string]string{"K": "V"}},
		KillPolicy: &messages.KillPolicy{GracePeriodNanos: int64(3 * time.Second)}, Labels: map[string]string{"k": "v"}}
	if !proto.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// Mesos' shell defaults to true: value runs under sh -c.
	shell, err := taskIn(&mesos.TaskInfo{Name: proto.String("s"), TaskId: &mesos.TaskID{Value: proto.String("s")}, Command: &mesos.CommandInfo{Value: proto.String("echo $HOME")}})
	if err != nil || !shell.Command.Shell || shell.Command.Value != "echo $HOME" {
		t.Fatalf("shell command: %v, %v", shell, err)
	}
	for _, bad := range []*mesos.TaskInfo{
		{TaskId: &mesos.TaskID{Value: proto.String("x")}, Executor: &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("e")}, Type: mesos.ExecutorInfo_DEFAULT.Enum()}},
		{TaskId: &mesos.TaskID{Value: proto.String("x")}, Command: &mesos.CommandInfo{Value: proto.String("x")},
			HealthCheck: &mesos.HealthCheck{Type: mesos.HealthCheck_TCP.Enum(), Tcp: &mesos.HealthCheck_TCPCheckInfo{Port: proto.Uint32(80), Protocol: mesos.NetworkInfo_IPv6.Enum()}}},
	} {
		if _, err := taskIn(bad); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v: %v; want ErrUnsupported", bad, err)
		}
	}
}

// Every Agora task state has a Mesos state of the same name.
func TestStatusOutStates(t *testing.T) {
	for v, name := range messages.TaskState_name {
		got := statusOut(&messages.TaskStatus{TaskId: &messages.TaskID{Value: "t"}, State: messages.TaskState(v)})
		if got.GetState().String() != name {
			t.Errorf("%s became %s", name, got.GetState())
		}
	}
	got := statusOut(&messages.TaskStatus{TaskId: &messages.TaskID{Value: "t"}, State: messages.TaskState_TASK_FAILED,
		Reason: messages.TaskStatusReason_REASON_COMMAND_EXITED, Message: "exit 2", Uuid: []byte{1}, TimestampUnixNano: 1_500_000_000,
		AgentId: &messages.AgentID{Value: "A"}})
	if got.Reason != nil || got.GetMessage() != "REASON_COMMAND_EXITED: exit 2" || got.GetTimestamp() != 1.5 || string(got.Uuid) != "\x01" {
		t.Errorf("a reason Mesos lacks: %v", got)
	}
	// A failed fetch is a failed launch to a Mesos framework, in the words
	// Mesos' agent uses (Marathon shows them as the task's failure).
	got = statusOut(&messages.TaskStatus{TaskId: &messages.TaskID{Value: "t"}, State: messages.TaskState_TASK_FAILED, Reason: messages.TaskStatusReason_REASON_FETCHER_FAILED,
		Message: "launch failed: fetch failed: http://x/y: the server answered 404 Not Found"})
	if got.GetReason() != mesos.TaskStatus_REASON_CONTAINER_LAUNCH_FAILED || !strings.Contains(got.GetMessage(), "Failed to fetch all URIs for container") ||
		!strings.Contains(got.GetMessage(), "http://x/y: the server answered 404") {
		t.Fatalf("a failed fetch as Mesos reports it: %v", got)
	}
	got = statusOut(&messages.TaskStatus{TaskId: &messages.TaskID{Value: "t"}, State: messages.TaskState_TASK_LOST, Reason: messages.TaskStatusReason_REASON_RECONCILIATION})
	if got.GetReason() != mesos.TaskStatus_REASON_RECONCILIATION || got.GetSource() != mesos.TaskStatus_SOURCE_MASTER {
		t.Errorf("reconciliation: %v", got)
	}
	// An agent removed by an operator: Mesos' own state and reason.
	got = statusOut(&messages.TaskStatus{TaskId: &messages.TaskID{Value: "t"}, State: messages.TaskState_TASK_GONE_BY_OPERATOR,
		Reason: messages.TaskStatusReason_REASON_AGENT_REMOVED_BY_OPERATOR})
	if got.GetState() != mesos.TaskState_TASK_GONE_BY_OPERATOR || got.GetReason() != mesos.TaskStatus_REASON_AGENT_REMOVED_BY_OPERATOR {
		t.Errorf("gone by operator: %v", got)
	}
}

func TestFrameworkIn(t *testing.T) {
	multi := []*mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}
	for _, tc := range []struct {
		name  string
		in    *mesos.FrameworkInfo
		roles []string
		nanos int64
		err   string
	}{
		{"default role", &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("f")}, []string{"*"}, 0, ""},
		{"one role", &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("f"), Role: proto.String("eng"), FailoverTimeout: proto.Float64(1.5)}, []string{"eng"}, 1.5e9, ""},
		{"multi role", &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("f"), Roles: []string{"a", "b"}, Capabilities: multi}, []string{"a", "b"}, 0, ""},
		{"roles without MULTI_ROLE", &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("f"), Roles: []string{"a"}}, nil, 0, "MULTI_ROLE"},
		{"role with MULTI_ROLE", &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("f"), Role: proto.String("a"), Capabilities: multi}, nil, 0, "not role"},
		{"negative failover", &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("f"), FailoverTimeout: proto.Float64(-1)}, nil, 0, "failover_timeout"},
		{"weeks of failover", &mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("f"), FailoverTimeout: proto.Float64(1e300)}, []string{"*"}, int64(maxFailoverTimeout), ""},
	} {
		f, err := frameworkIn(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v; want an error with %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(f.info.Roles, ",") != strings.Join(tc.roles, ",") || f.info.FailoverTimeoutNanos != tc.nanos {
			t.Errorf("%s: %v, %v", tc.name, f.info, err)
		}
		if f.removeOnDisconnect != (tc.in.GetFailoverTimeout() == 0) {
			t.Errorf("%s: removeOnDisconnect %v", tc.name, f.removeOnDisconnect)
		}
	}
}

// FrameworkInfo.checkpoint: Mesos' default (unset) is false and Agora's
// is true, so a Mesos framework that says nothing becomes an explicit
// false in Agora's FrameworkInfo (its tasks do not outlive an agent
// restart, as on Mesos); what it says is kept; and a native framework
// that says nothing is shown to Mesos clients as checkpointing. The
// master's word for such a task's end maps to Mesos' own reason.
func TestFrameworkCheckpointMapping(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *bool
		want bool
	}{
		{"unset", nil, false},
		{"false", proto.Bool(false), false},
		{"true", proto.Bool(true), true},
	} {
		f, err := frameworkIn(&mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("f"), Checkpoint: tc.in})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if f.info.Checkpoint == nil || *f.info.Checkpoint != tc.want || messages.Checkpointing(f.info) != tc.want {
			t.Errorf("%s: Agora's checkpoint %v, want explicitly %v", tc.name, f.info.Checkpoint, tc.want)
		}
		if out := frameworkOut(f.info, "fw"); out.Checkpoint == nil || out.GetCheckpoint() != tc.want {
			t.Errorf("%s: back to Mesos as %v, want %v", tc.name, out.Checkpoint, tc.want)
		}
	}
	if out := frameworkOut(&messages.FrameworkInfo{Name: "native", Roles: []string{"r"}}, "fw"); !out.GetCheckpoint() {
		t.Errorf("a native framework that leaves checkpoint unset is shown as %v, want true (Agora's default)", out.Checkpoint)
	}
	got := statusOut(&messages.TaskStatus{TaskId: &messages.TaskID{Value: "t"}, State: messages.TaskState_TASK_LOST,
		Reason: messages.TaskStatusReason_REASON_AGENT_DISCONNECTED, Message: "agent a restarted"})
	if got.GetReason() != mesos.TaskStatus_REASON_AGENT_DISCONNECTED || got.GetSource() != mesos.TaskStatus_SOURCE_MASTER || got.GetMessage() != "agent a restarted" {
		t.Errorf("a non-checkpointing framework's task lost with its agent's restart: %v", got)
	}
}

// A Mesos HealthCheck keeps its fields (unset times stay unset: the same
// defaults apply), an invalid one is refused, and TaskStatus.healthy goes
// both ways.
func TestHealthCheckMapping(t *testing.T) {
	in := &mesos.TaskInfo{TaskId: &mesos.TaskID{Value: proto.String("h")}, Command: &mesos.CommandInfo{Value: proto.String("httpd")},
		HealthCheck: &mesos.HealthCheck{Type: mesos.HealthCheck_HTTP.Enum(), Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(8080), Path: proto.String("/health")},
			IntervalSeconds: proto.Float64(1), ConsecutiveFailures: proto.Uint32(2)}}
	got, err := taskIn(in)
	if err != nil {
		t.Fatal(err)
	}
	want := &messages.HealthCheck{Type: messages.HealthCheck_HTTP, Http: &messages.HealthCheck_HTTPCheckInfo{Port: 8080, Path: "/health"},
		IntervalSeconds: proto.Float64(1), ConsecutiveFailures: proto.Uint32(2)}
	if !proto.Equal(got.HealthCheck, want) {
		t.Fatalf("got %v\nwant %v", got.HealthCheck, want)
	}
	cmd, err := taskIn(&mesos.TaskInfo{TaskId: &mesos.TaskID{Value: proto.String("c")}, Command: &mesos.CommandInfo{Value: proto.String("x")},
		HealthCheck: &mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND.Enum(), Command: &mesos.CommandInfo{Value: proto.String("test -f ok")}}})
	if err != nil || cmd.HealthCheck.GetCommand().GetValue() != "test -f ok" || !cmd.HealthCheck.GetCommand().GetShell() {
		t.Fatalf("command check: %v, %v", cmd.GetHealthCheck(), err)
	}
	for _, bad := range []*mesos.HealthCheck{
		{},
		{Type: mesos.HealthCheck_HTTP.Enum()},
		{Type: mesos.HealthCheck_HTTP.Enum(), Http: &mesos.HealthCheck_HTTPCheckInfo{Port: proto.Uint32(0)}},
		{Type: mesos.HealthCheck_TCP.Enum(), Tcp: &mesos.HealthCheck_TCPCheckInfo{Port: proto.Uint32(80)}, DelaySeconds: proto.Float64(-1)},
	} {
		task := &mesos.TaskInfo{TaskId: &mesos.TaskID{Value: proto.String("x")}, Command: &mesos.CommandInfo{Value: proto.String("x")}, HealthCheck: bad}
		if _, err := taskIn(task); !errors.Is(err, ErrInvalid) {
			t.Errorf("%v: %v; want ErrInvalid", bad, err)
		}
	}
	up := statusOut(&messages.TaskStatus{TaskId: &messages.TaskID{Value: "h"}, State: messages.TaskState_TASK_RUNNING, Healthy: proto.Bool(true),
		Reason: messages.TaskStatusReason_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED})
	if !up.GetHealthy() || up.Healthy == nil || up.GetReason() != mesos.TaskStatus_REASON_TASK_HEALTH_CHECK_STATUS_UPDATED {
		t.Fatalf("status out: %v", up)
	}
	if none := statusOut(&messages.TaskStatus{TaskId: &messages.TaskID{Value: "h"}, State: messages.TaskState_TASK_RUNNING}); none.Healthy != nil {
		t.Fatalf("a status without health says healthy=%v", none.GetHealthy())
	}
	back, err := statusIn(&mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String("h")}, State: mesos.TaskState_TASK_RUNNING.Enum(), Healthy: proto.Bool(false)})
	if err != nil || back.Healthy == nil || *back.Healthy {
		t.Fatalf("status in: %v, %v", back, err)
	}
}

// A Mesos CheckInfo maps to Agora's (same types and times), and a check's
// result goes out as Mesos' CheckStatusInfo of its type.
func TestCheckMapping(t *testing.T) {
	got, err := taskIn(&mesos.TaskInfo{TaskId: &mesos.TaskID{Value: proto.String("c")}, Command: &mesos.CommandInfo{Value: proto.String("x")},
		Check: &mesos.CheckInfo{Type: mesos.CheckInfo_COMMAND.Enum(), Command: &mesos.CheckInfo_Command{Command: &mesos.CommandInfo{Value: proto.String("test -f ready")}},
			IntervalSeconds: proto.Float64(1)}})
	if err != nil || got.Check.GetType() != messages.HealthCheck_COMMAND || got.Check.GetCommand().GetValue() != "test -f ready" || got.Check.GetIntervalSeconds() != 1 || got.Check.DelaySeconds != nil {
		t.Fatalf("command check: %v, %v", got.GetCheck(), err)
	}
	for _, bad := range []*mesos.CheckInfo{{}, {Type: mesos.CheckInfo_HTTP.Enum()}, {Type: mesos.CheckInfo_TCP.Enum(), Tcp: &mesos.CheckInfo_Tcp{Port: proto.Uint32(0)}}} {
		task := &mesos.TaskInfo{TaskId: &mesos.TaskID{Value: proto.String("x")}, Command: &mesos.CommandInfo{Value: proto.String("x")}, Check: bad}
		if _, err := taskIn(task); !errors.Is(err, ErrInvalid) {
			t.Errorf("%v: %v; want ErrInvalid", bad, err)
		}
	}
	code := uint32(503)
	out := statusOut(&messages.TaskStatus{TaskId: &messages.TaskID{Value: "c"}, State: messages.TaskState_TASK_RUNNING, Reason: messages.TaskStatusReason_REASON_TASK_CHECK_STATUS_UPDATED,
		CheckStatus: &messages.CheckStatusInfo{Type: messages.HealthCheck_HTTP, HttpStatusCode: &code}})
	if out.GetCheckStatus().GetType() != mesos.CheckInfo_HTTP || out.GetCheckStatus().GetHttp().GetStatusCode() != 503 || out.GetReason() != mesos.TaskStatus_REASON_TASK_CHECK_STATUS_UPDATED {
		t.Fatalf("status out: %v", out)
	}
}

// offersOut builds many offers' parts from shared chunks: each offer must
// still be its own, equal to the same offer mapped alone, across chunk
// boundaries.
func TestOffersOutSharesNoParts(t *testing.T) {
	var in []*messages.Offer
	for i := range 3 * maxSlabChunk / 2 {
		in = append(in, &messages.Offer{Id: &messages.OfferID{Value: fmt.Sprintf("O%d", i)}, FrameworkId: &messages.FrameworkID{Value: "F1"},
			AgentId: &messages.AgentID{Value: fmt.Sprintf("A%d", i)}, Hostname: fmt.Sprintf("h%d", i), Role: fmt.Sprintf("r%d", i%3), AgentHttpAddress: fmt.Sprintf("10.0.0.%d:%d", i%250, 5000+i),
			Resources: []*messages.Resource{{Name: "cpus", Scalar: float64(i)}, {Name: "mem", Scalar: 1024, Role: "r1"},
				{Name: "ports", Ranges: []*messages.Range{{Begin: uint64(i), End: uint64(2 * i)}, {Begin: 31000, End: 32000}}}},
			Attributes: []*messages.Attribute{{Name: "rack", Value: &messages.Attribute_Scalar{Scalar: float64(i)}}}})
	}
	for _, refinement := range []bool{false, true} {
		out := offersOut(in, true, refinement)
		for i, o := range in {
			if want := offerOut(o, true, refinement); !proto.Equal(out[i], want) {
				t.Fatalf("offer %d built with the others:\n%v\nalone:\n%v", i, out[i], want)
			}
		}
	}
}

// Mesos' per-role offer_filters.min_allocatable_resources become Agora's
// per-framework minimum: every role's alternatives together, only when
// every role sets one; none at all means any offer.
func TestOfferFiltersMinAllocatable(t *testing.T) {
	multi := []*mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}
	min := func(qs ...map[string]float64) *mesos.OfferFilters {
		m := &mesos.OfferFilters_MinAllocatableResources{}
		for _, q := range qs {
			rq := &mesos.OfferFilters_ResourceQuantities{Quantities: map[string]*mesos.Value_Scalar{}}
			for k, v := range q {
				rq.Quantities[k] = &mesos.Value_Scalar{Value: proto.Float64(v)}
			}
			m.Quantities = append(m.Quantities, rq)
		}
		return &mesos.OfferFilters{MinAllocatableResources: m}
	}
	for _, tc := range []struct {
		name    string
		filters map[string]*mesos.OfferFilters
		want    *messages.MinAllocatable
	}{
		{"none", nil, nil},
		{"both roles", map[string]*mesos.OfferFilters{"a": min(map[string]float64{"cpus": 1, "mem": 2048}), "b": min(map[string]float64{"gpus": 1})},
			&messages.MinAllocatable{Quantities: []*messages.ResourceQuantities{
				{Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}, {Name: "mem", Scalar: 2048}}},
				{Resources: []*messages.Resource{{Name: "gpus", Scalar: 1}}}}}},
		{"one role only: the default", map[string]*mesos.OfferFilters{"a": min(map[string]float64{"cpus": 1})}, nil},
		{"any offer", map[string]*mesos.OfferFilters{"a": min(), "b": min(map[string]float64{"cpus": 1})}, &messages.MinAllocatable{}},
	} {
		f, err := frameworkIn(&mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("f"), Roles: []string{"a", "b"}, Capabilities: multi, OfferFilters: tc.filters})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !proto.Equal(f.info.MinAllocatable, tc.want) || (f.info.MinAllocatable == nil) != (tc.want == nil) {
			t.Errorf("%s: min_allocatable %v, want %v", tc.name, f.info.MinAllocatable, tc.want)
		}
	}
}

// LAUNCH_GROUP maps onto Agora's LaunchGroup: Mesos' DEFAULT executor is
// the agent's default executor (no command, its resources kept), a
// CUSTOM one a Mesos custom executor whose tasks need no command; a task
// naming its own executor, or a DEFAULT executor in a Docker container,
// is refused by name.
func TestLaunchGroupIn(t *testing.T) {
	cpus := resourcesOut([]*messages.Resource{{Name: "cpus", Scalar: 0.1}}, "*", false)
	task := func(id string, cmd bool) *mesos.TaskInfo {
		ti := &mesos.TaskInfo{Name: proto.String(id), TaskId: &mesos.TaskID{Value: proto.String(id)}, Resources: cpus}
		if cmd {
			ti.Command = &mesos.CommandInfo{Value: proto.String("sleep 1")}
		}
		return ti
	}
	accept := func(g *mesos.Offer_Operation_LaunchGroup) *sched.Call {
		return &sched.Call{Type: sched.Call_ACCEPT.Enum(), FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")}, Accept: &sched.Call_Accept{
			OfferIds:   []*mesos.OfferID{{Value: proto.String("O1")}},
			Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH_GROUP.Enum(), LaunchGroup: g}}}}
	}
	def := &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("pod")}, Type: mesos.ExecutorInfo_DEFAULT.Enum(), Resources: cpus}
	msg, err := callIn(accept(&mesos.Offer_Operation_LaunchGroup{Executor: def, TaskGroup: &mesos.TaskGroupInfo{Tasks: []*mesos.TaskInfo{task("a", true), task("b", true)}}}))
	if err != nil {
		t.Fatal(err)
	}
	g := msg.(*messages.Accept).Operations[0].GetLaunchGroup()
	if ex := g.GetExecutor(); ex.GetExecutorId().GetValue() != "pod" || ex.Command != nil || len(ex.Resources) != 1 || ex.Mesos {
		t.Errorf("DEFAULT executor came in as %v; want pod, no command, its resources", ex)
	}
	if ts := g.GetTaskGroup().GetTasks(); len(ts) != 2 || ts[0].GetCommand().GetValue() != "sleep 1" || ts[1].Executor != nil {
		t.Errorf("the group's tasks came in as %v", ts)
	}
	custom := &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("e")}, Type: mesos.ExecutorInfo_CUSTOM.Enum(), Command: &mesos.CommandInfo{Value: proto.String("./exec")}}
	msg, err = callIn(accept(&mesos.Offer_Operation_LaunchGroup{Executor: custom, TaskGroup: &mesos.TaskGroupInfo{Tasks: []*mesos.TaskInfo{task("c", false)}}}))
	if err != nil {
		t.Fatal(err)
	}
	g = msg.(*messages.Accept).Operations[0].GetLaunchGroup()
	if ex := g.GetExecutor(); ex.GetCommand().GetValue() != "./exec" || !ex.Mesos || g.GetTaskGroup().GetTasks()[0].Executor != nil {
		t.Errorf("CUSTOM executor's group came in as %v", g)
	}
	own := task("d", true)
	own.Executor = custom
	docker := &mesos.ExecutorInfo{ExecutorId: def.ExecutorId, Type: mesos.ExecutorInfo_DEFAULT.Enum(), Container: &mesos.ContainerInfo{Type: mesos.ContainerInfo_DOCKER.Enum()}}
	for _, bad := range []struct {
		g    *mesos.Offer_Operation_LaunchGroup
		want error
	}{
		{&mesos.Offer_Operation_LaunchGroup{TaskGroup: &mesos.TaskGroupInfo{Tasks: []*mesos.TaskInfo{task("a", true)}}}, ErrInvalid},
		{&mesos.Offer_Operation_LaunchGroup{Executor: def, TaskGroup: &mesos.TaskGroupInfo{Tasks: []*mesos.TaskInfo{own}}}, ErrInvalid},
		{&mesos.Offer_Operation_LaunchGroup{Executor: docker, TaskGroup: &mesos.TaskGroupInfo{Tasks: []*mesos.TaskInfo{task("a", true)}}}, ErrUnsupported},
	} {
		if _, err := callIn(accept(bad.g)); !errors.Is(err, bad.want) {
			t.Errorf("%v: %v; want %v", bad.g, err, bad.want)
		}
	}
}

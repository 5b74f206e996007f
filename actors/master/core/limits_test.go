package core

import (
	"strings"
	"testing"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
)

func TestDefaultLimitsAreValid(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]Limits{
		"agents past the ceiling":  {MaxAgents: messages.MaxAgentsCeiling + 1},
		"rate without burst":       {AgentRegistrationRate: 1},
		"negative":                 {MaxRoles: -1},
		"ranges as a maximum":      {MaxAgentResources: []*messages.Resource{{Name: messages.Ports, Ranges: []*messages.Range{{Begin: 1, End: 2}}}}},
		"a maximum past MaxScalar": {MaxAgentResources: []*messages.Resource{{Name: messages.CPUs, Scalar: 1e300}}},
	} {
		if err := l.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The bucket refills at the rate, up to the burst, on the core's clock:
// after a long quiet spell no more than the burst is admitted at once.
func TestRegistrationBucket(t *testing.T) {
	c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}, Limits: Limits{AgentRegistrationRate: 2, AgentRegistrationBurst: 3}})
	now := traceT0
	taken := func() (n int) {
		for c.takeRegistration(now) {
			n++
		}
		return n
	}
	if n := taken(); n != 3 {
		t.Fatalf("first burst: %d; want 3", n)
	}
	now = now.Add(time.Second)
	if n := taken(); n != 2 {
		t.Fatalf("after 1s at 2/s: %d; want 2", n)
	}
	now = now.Add(time.Hour)
	if n := taken(); n != 3 {
		t.Fatalf("after an hour: %d; want the burst, 3", n)
	}
	// A clock that steps back takes nothing it has not earned.
	now = now.Add(-time.Minute)
	if n := taken(); n != 0 {
		t.Fatalf("clock stepped back: %d; want 0", n)
	}
}

// A status text past messages.MaxStatusMessage is cut; the state change
// is kept and forwarded.
func TestLongStatusMessageIsCut(t *testing.T) {
	now := traceT0
	c := New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}})
	c.Start(now)
	agent, sched := Endpoint{Address: "a1:1", ID: "a1"}, Endpoint{Address: "f1:1", ID: "f1"}
	c.RegisterAgent(Peer{Endpoint: agent}, &messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: "a1",
		Resources: []*messages.Resource{{Name: messages.CPUs, Scalar: 4}, {Name: messages.Mem, Scalar: 1024}}}}, now)
	c.Subscribe(Peer{Endpoint: sched}, &messages.SubscribeFramework{Info: &messages.FrameworkInfo{Name: "f1", Roles: []string{"eng"}}}, now)
	res := policy.MustParse("cpus:4;mem:1024")
	r := c.Allocated(policy.EncodeGrants([]policy.Grant{{FrameworkID: "m-1-F1", AgentID: "m-1-A1", Role: "eng", Resources: res,
		Incarnation: c.books.agents["m-1-A1"].incarnation}}), now)
	var offer *messages.OfferID
	for _, e := range r.Effects {
		if s, ok := e.(Send); ok {
			if o, ok := s.Msg.(*messages.Offers); ok {
				offer = o.Offers[0].Id
			}
		}
	}
	if offer == nil {
		t.Fatal("no offer")
	}
	c.Accept(Peer{Endpoint: sched}, &messages.Accept{FrameworkId: &messages.FrameworkID{Value: "m-1-F1"}, OfferIds: []*messages.OfferID{offer},
		Operations: []*messages.Operation{{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: []*messages.TaskInfo{{
			TaskId: &messages.TaskID{Value: "t1"}, Command: &messages.CommandInfo{Value: "true"}, Resources: res.ToMessages(false)}}}}}}}, now)
	long := strings.Repeat("é", messages.MaxStatusMessage)
	r = c.StatusUpdate(Peer{Endpoint: agent}, &messages.StatusUpdate{FrameworkId: &messages.FrameworkID{Value: "m-1-F1"},
		Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: "t1"}, AgentId: &messages.AgentID{Value: "m-1-A1"},
			State: messages.TaskState_TASK_FAILED, Message: long, Uuid: []byte("u1")}}, now)
	forwarded := false
	for _, e := range r.Effects {
		if s, ok := e.(Send); ok {
			if u, ok := s.Msg.(*messages.StatusUpdate); ok {
				forwarded = true
				if u.Status.State != messages.TaskState_TASK_FAILED || len(u.Status.Message) > messages.MaxStatusMessage+32 ||
					!strings.HasSuffix(u.Status.Message, "(truncated)") || !strings.HasPrefix(u.Status.Message, "é") {
					t.Errorf("forwarded %s with %d bytes of text", u.Status.State, len(u.Status.Message))
				}
			}
		}
	}
	if !forwarded {
		t.Fatal("the update was not forwarded")
	}
}

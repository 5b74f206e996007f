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

// withOffer is a core with agent a1 and framework f1 holding one offer of
// cpus:4;mem:1024 on it.
func withOffer(t *testing.T) (c *Core, agent, sched Endpoint, offer *messages.OfferID, res policy.Resources) {
	t.Helper()
	now := traceT0
	c = New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}})
	c.Start(now)
	agent, sched = Endpoint{Address: "a1:1", ID: "a1"}, Endpoint{Address: "f1:1", ID: "f1"}
	c.RegisterAgent(Peer{Endpoint: agent}, &messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: "a1",
		Resources: []*messages.Resource{{Name: messages.CPUs, Scalar: 4}, {Name: messages.Mem, Scalar: 1024}}}}, now)
	c.Subscribe(Peer{Endpoint: sched}, &messages.SubscribeFramework{Info: &messages.FrameworkInfo{Name: "f1", Roles: []string{"eng"}}}, now)
	res = policy.MustParse("cpus:4;mem:1024")
	r := c.Allocated(policy.EncodeGrants([]policy.Grant{{FrameworkID: "m-1-F1", AgentID: "m-1-A1", Role: "eng", Resources: res,
		Incarnation: c.books.agents["m-1-A1"].incarnation}}), now)
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
	return c, agent, sched, offer, res
}

func launch(tasks ...*messages.TaskInfo) []*messages.Operation {
	return []*messages.Operation{{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: tasks}}}}
}

// An accept of more than messages.MaxTasksPerAccept tasks is refused with
// one answer, not one TASK_ERROR per task, and its offer goes back whole.
func TestOversizedAcceptIsRefusedWhole(t *testing.T) {
	c, _, sched, offer, _ := withOffer(t)
	tasks := make([]*messages.TaskInfo, messages.MaxTasksPerAccept+1)
	for i := range tasks {
		tasks[i] = &messages.TaskInfo{TaskId: &messages.TaskID{Value: "t"}, Command: &messages.CommandInfo{Value: "true"}}
	}
	r := c.Accept(Peer{Endpoint: sched}, &messages.Accept{FrameworkId: &messages.FrameworkID{Value: "m-1-F1"}, OfferIds: []*messages.OfferID{offer},
		Operations: launch(tasks...)}, traceT0)
	var errs, returns, other int
	for _, e := range r.Effects {
		switch e := e.(type) {
		case Send:
			if m, ok := e.Msg.(*messages.Error); ok && m.Code == messages.Error_INVALID_ARGUMENT && strings.Contains(m.Message, "at most") {
				errs++
			} else {
				other++
			}
		case ToAllocator:
			if m, ok := e.Msg.(*messages.AllocatorReturn); ok && m.Kind == messages.AllocatorReturn_RECOVER {
				returns++
			}
		}
	}
	if errs != 1 || returns != 1 || other != 0 {
		t.Fatalf("errors %d, offers returned %d, other messages %d; want 1, 1, 0", errs, returns, other)
	}
	if len(c.books.offers) != 0 {
		t.Fatalf("offers still held: %d", len(c.books.offers))
	}
}

// A status text past messages.MaxStatusMessage is cut; the state change
// is kept and forwarded.
func TestLongStatusMessageIsCut(t *testing.T) {
	c, agent, sched, offer, res := withOffer(t)
	c.Accept(Peer{Endpoint: sched}, &messages.Accept{FrameworkId: &messages.FrameworkID{Value: "m-1-F1"}, OfferIds: []*messages.OfferID{offer},
		Operations: launch(&messages.TaskInfo{TaskId: &messages.TaskID{Value: "t1"}, Command: &messages.CommandInfo{Value: "true"}, Resources: res.ToMessages(false)})}, traceT0)
	long := strings.Repeat("é", messages.MaxStatusMessage)
	r := c.StatusUpdate(Peer{Endpoint: agent}, &messages.StatusUpdate{FrameworkId: &messages.FrameworkID{Value: "m-1-F1"},
		Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: "t1"}, AgentId: &messages.AgentID{Value: "m-1-A1"},
			State: messages.TaskState_TASK_FAILED, Message: long, Uuid: []byte("u1")}}, traceT0)
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

package allocation_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/allocation"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
)

// probe plays the master: it forwards every Allocated to a channel.
type probe chan *messages.Allocated

func (p probe) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*messages.Allocated); ok {
		p <- m
	}
}

func start(t *testing.T) (*actor.ActorSystem, *actor.PID, probe, *testkit.FakeClock) {
	return startWith(t, nil)
}

// startWith starts the allocator with metrics (nil: its own, unread).
func startWith(t *testing.T, metrics *allocation.Metrics) (*actor.ActorSystem, *actor.PID, probe, *testkit.FakeClock) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }))
	t.Cleanup(sys.Shutdown)
	out := make(probe, 16)
	master := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return out }))
	pol, _ := policy.New("drf", policy.Options{Seed: 1})
	clock := testkit.NewFakeClock()
	a := sys.Root.Spawn(allocation.Props(allocation.Config{Policy: pol, Master: master, Clock: clock, Interval: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics}))
	return sys, a, out, clock
}

func next(t *testing.T, out probe) []policy.Grant {
	t.Helper()
	select {
	case m := <-out:
		gs, err := policy.DecodeGrants(m)
		if err != nil {
			t.Fatal(err)
		}
		return gs
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("no grants")
		return nil
	}
}

func TestEventDrivenAllocationNeedsNoTick(t *testing.T) {
	sys, a, out, _ := start(t)
	sys.Root.Send(a, &messages.AllocatorAddAgent{Info: agentInfo("a1", "cpus:2;mem:1024"), Incarnation: 7})
	sys.Root.Send(a, &messages.AllocatorAddFramework{Info: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "f1"}, Name: "f1", Roles: []string{"r"}}})
	gs := next(t, out)
	if len(gs) != 1 || gs[0].AgentID != "a1" || gs[0].Incarnation != 7 {
		t.Fatalf("grants: %+v", gs)
	}
	// Returned resources are granted again at once (event-driven), here to
	// the same framework since it returned them without a filter.
	sys.Root.Send(a, &messages.AllocatorReturn{FrameworkId: "f1", Role: "r", AgentId: "a1", Resources: policy.ToQuantities(gs[0].Resources)})
	if gs := next(t, out); len(gs) != 1 {
		t.Fatalf("after return: %+v", gs)
	}
}

func TestBatchCycleRunsOnTheInterval(t *testing.T) {
	sys, a, out, clock := start(t)
	sys.Root.Send(a, &messages.AllocatorAddAgent{Info: agentInfo("a1", "cpus:2;mem:1024")})
	sys.Root.Send(a, &messages.AllocatorAddFramework{Info: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "f1"}, Name: "f1", Roles: []string{"r"}}})
	gs := next(t, out)
	// A decline with a 0 s filter: the next batch still honours it (Mesos),
	// the one after offers again.
	sys.Root.Send(a, &messages.AllocatorReturn{FrameworkId: "f1", Role: "r", AgentId: "a1", Resources: policy.ToQuantities(gs[0].Resources), Kind: messages.AllocatorReturn_DECLINE})
	if _, err := sys.Root.RequestFuture(a, &messages.AllocatorSync{}, 5*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-out:
		t.Fatalf("declined agent offered at once: %+v", m)
	default:
	}
	for i := 0; i < 3 && len(out) == 0; i++ {
		clock.WaitPending(1, testkit.WaitTimeout)
		clock.Advance(time.Second)
		if _, err := sys.Root.RequestFuture(a, &messages.AllocatorSync{}, 5*time.Second).Result(); err != nil {
			t.Fatal(err)
		}
	}
	if gs := next(t, out); len(gs) != 1 {
		t.Fatalf("batch after the filter: %+v", gs)
	}
}

// Issue 16's allocation cycle time: every run, event-driven or batch, is
// counted and timed in agora_allocator_run_seconds (seconds, by kind).
func TestAllocationRunsAreTimed(t *testing.T) {
	reg := prometheus.NewRegistry()
	sys, a, out, clock := startWith(t, allocation.NewMetrics(reg))
	sys.Root.Send(a, &messages.AllocatorAddAgent{Info: agentInfo("a1", "cpus:2;mem:1024")})
	sys.Root.Send(a, &messages.AllocatorAddFramework{Info: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "f1"}, Name: "f1", Roles: []string{"r"}}})
	gs := next(t, out) // adding an agent and a framework: a batch run
	// Returned resources are allocated again at once: an event-driven run.
	sys.Root.Send(a, &messages.AllocatorReturn{FrameworkId: "f1", Role: "r", AgentId: "a1", Resources: policy.ToQuantities(gs[0].Resources)})
	next(t, out)
	clock.WaitPending(1, testkit.WaitTimeout)
	clock.Advance(time.Second) // the batch cycle
	if _, err := sys.Root.RequestFuture(a, &messages.AllocatorSync{}, 5*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	timed, counted := map[string]uint64{}, map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			kind := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" {
					kind = l.GetValue()
				}
			}
			switch f.GetName() {
			case "agora_allocator_run_seconds":
				timed[kind] = m.GetHistogram().GetSampleCount()
			case "agora_allocator_runs_total":
				counted[kind] = m.GetCounter().GetValue()
			}
		}
	}
	for _, kind := range []string{"event", "batch"} {
		if timed[kind] == 0 || float64(timed[kind]) != counted[kind] {
			t.Errorf("%s runs: %d timed, %v counted; want every run timed, at least one", kind, timed[kind], counted[kind])
		}
	}
}

func agentInfo(id, resources string) *messages.AgentInfo {
	res, err := messages.ParseResources(resources)
	if err != nil {
		panic(err)
	}
	return &messages.AgentInfo{Id: &messages.AgentID{Value: id}, Hostname: id, Resources: res}
}

// Only the master changes the allocator's books (issue 14: any peer could
// return a running task's resources, to have them offered twice). A change
// over the network from a certificate that is not a master's is refused;
// the test stamps the identity remoting would.
func TestAllocatorTakesChangesOnlyFromTheMaster(t *testing.T) {
	sys, a, out, _ := start(t)
	framework := &messages.AllocatorAddFramework{Info: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "f1"}, Name: "f1", Roles: []string{"r"}}}
	sys.Root.Send(a, framework)
	for _, from := range []security.Identity{{Role: security.RoleFramework, Name: "evil"}, {Role: security.RoleAgent, Name: "a1"}} {
		sys.Root.Send(a, &actor.MessageEnvelope{Header: from.Header(), Message: &messages.AllocatorAddAgent{Info: agentInfo("forged", "cpus:64;mem:1024")}})
	}
	sys.Root.Send(a, &actor.MessageEnvelope{Header: security.Identity{Role: security.RoleMaster, Name: "m"}.Header(),
		Message: &messages.AllocatorAddAgent{Info: agentInfo("a1", "cpus:2;mem:1024"), Incarnation: 1}})
	gs := next(t, out)
	if len(gs) != 1 || gs[0].AgentID != "a1" {
		t.Fatalf("grants: %+v; want only the master's agent a1", gs)
	}
	if _, err := sys.Root.RequestFuture(a, &messages.AllocatorSync{}, testkit.WaitTimeout).Result(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-out:
		t.Fatalf("grants of a forged agent: %v", m)
	default:
	}
}

// The master moves a shared volume's charge with AllocatorTransfer: the
// allocator takes it (the new holder gives the resources back, the old one
// no longer can) and counts no refusal for it.
func TestAllocatorTakesTransfers(t *testing.T) {
	reg := prometheus.NewRegistry()
	sys, a, out, _ := startWith(t, allocation.NewMetrics(reg))
	sys.Root.Send(a, &messages.AllocatorAddFramework{Info: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "f1"}, Name: "f1", Roles: []string{"r"}}})
	sys.Root.Send(a, &messages.AllocatorAddAgent{Info: agentInfo("a1", "cpus(r):2;mem(r):1024"), Incarnation: 1})
	gs := next(t, out)
	if len(gs) != 1 || gs[0].FrameworkID != "f1" || gs[0].Reservation != "r" {
		t.Fatalf("grants: %+v; want a1's reservation for r to f1", gs)
	}
	sys.Root.Send(a, &messages.AllocatorAddFramework{Info: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: "f2"}, Name: "f2", Roles: []string{"r"}}})
	moved := policy.ToQuantities(policy.MustParse("mem:512"))
	sys.Root.Send(a, &messages.AllocatorTransfer{AgentId: "a1", Reservation: "r", Resources: moved,
		FromFrameworkId: "f1", FromRole: "r", ToFrameworkId: "f2", ToRole: "r"})
	// f1 gives back all it was granted: refused, it holds 512 MiB less.
	sys.Root.Send(a, &messages.AllocatorReturn{FrameworkId: "f1", Role: "r", AgentId: "a1", Reservation: "r", Resources: policy.ToQuantities(gs[0].Resources)})
	// What each holds now is taken back.
	sys.Root.Send(a, &messages.AllocatorReturn{FrameworkId: "f1", Role: "r", AgentId: "a1", Reservation: "r", Resources: policy.ToQuantities(policy.MustParse("cpus:2;mem:512"))})
	sys.Root.Send(a, &messages.AllocatorReturn{FrameworkId: "f2", Role: "r", AgentId: "a1", Reservation: "r", Resources: moved})
	if _, err := sys.Root.RequestFuture(a, &messages.AllocatorSync{}, testkit.WaitTimeout).Result(); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	refused := -1.0
	for _, f := range families {
		if f.GetName() == "agora_allocator_refused_changes_total" {
			refused = f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if refused != 1 {
		t.Fatalf("%v changes refused; want 1 (f1 giving back what it no longer holds), the transfer and the returns after it taken", refused)
	}
}

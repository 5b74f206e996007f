package agent_test

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
)

// After a new leader is detected, an agent with an ID waits a random part
// of ReregisterSpread before it re-registers, as Mesos' agent waits a
// random part of --registration_backoff_factor (slave.cpp, detected()): the
// wait is on the agent's clock and drawn from its injected source, so the
// same seed gives the same wait.
func TestAgentSpreadsReregistrationAfterNewLeader(t *testing.T) {
	const spread, seed = 10 * time.Second, 7
	clock := testkit.NewFakeClock()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	defer sys.Shutdown()
	got := make(chan *messages.ReregisterAgent, 4)
	leader := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*messages.ReregisterAgent); ok {
			got <- m
		}
	}))
	pid := sys.Root.Spawn(agent.Props(agent.Config{
		Info:  &messages.AgentInfo{Id: &messages.AgentID{Value: "m-1-A1"}, Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}}},
		Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Retries an hour apart: the only timer that can fire within the
		// spread is the spread's own.
		BackoffInitial: time.Hour, BackoffMax: time.Hour,
		ReregisterSpread: spread, Rand: rand.New(rand.NewPCG(seed, 0)),
	}))
	// Started with no master known: the first registration retry is armed
	// (drawing its jitter from the source first), nothing is sent.
	if !clock.WaitPending(1, testkit.WaitTimeout) {
		t.Fatal("agent armed no registration retry")
	}
	sys.Root.Send(pid, agent.MasterDetected{Master: leader, Epoch: 1})
	// A barrier through the agent's mailbox: it has handled the detection.
	if _, err := sys.Root.RequestFuture(pid, &actor.Touch{}, testkit.WaitTimeout).Result(); err != nil {
		t.Fatal(err)
	}
	// The startup retry is stopped, not left to fire: one timer, the wait.
	if n := clock.Pending(); n != 1 {
		t.Fatalf("%d timers pending after a new leader was detected, want the wait alone", n)
	}
	twin := rand.New(rand.NewPCG(seed, 0))
	twin.Float64() // the startup retry's jitter
	want := time.Duration(twin.Int64N(int64(spread)))
	next, _ := clock.NextTimer()
	if wait := clock.Until(next); wait != want || wait <= 0 || wait >= spread {
		t.Fatalf("agent waits %v before re-registering, want %v (in [0, %v) from its seeded source)", wait, want, spread)
	}
	// Nothing reached the leader before the wait is over: a barrier through
	// the leader's mailbox, behind anything the agent sent so far.
	if _, err := sys.Root.RequestFuture(leader, &actor.Touch{}, testkit.WaitTimeout).Result(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		t.Fatalf("agent re-registered before its wait was over: %v", m)
	default:
	}
	clock.Advance(want)
	select {
	case m := <-got:
		if m.GetInfo().GetId().GetValue() != "m-1-A1" {
			t.Fatalf("re-registered as %v", m.GetInfo().GetId())
		}
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("agent never re-registered after its wait")
	}
}

// Registration retries back off as Mesos' agent does (slave.cpp,
// doReliableRegistration): each waits a uniform random part of a bound that
// starts at twice BackoffInitial and doubles up to BackoffMax, every draw
// from the agent's injected source: the same seed gives the same waits.
func TestAgentRegistrationBackoffIsFullJitterDoublingToCap(t *testing.T) {
	const seed, initial, limit = 11, time.Second, 8 * time.Second
	clock := testkit.NewFakeClock()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	defer sys.Shutdown()
	// No master known: the agent sends nothing and only arms its retries.
	sys.Root.Spawn(agent.Props(agent.Config{
		Info:  &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}}},
		Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		BackoffInitial: initial, BackoffMax: limit, Rand: rand.New(rand.NewPCG(seed, 0)),
	}))
	twin := rand.New(rand.NewPCG(seed, 0))
	bound := 2 * initial
	for i := range 8 {
		if !clock.WaitPending(1, testkit.WaitTimeout) {
			t.Fatalf("agent armed no registration retry %d", i+1)
		}
		next, _ := clock.NextTimer()
		wait := clock.Until(next)
		want := time.Duration(twin.Float64() * float64(bound))
		if wait != want || wait < 0 || wait >= bound {
			t.Fatalf("retry %d waits %v, want %v (in [0, %v) from the seeded source)", i+1, wait, want, bound)
		}
		bound = min(2*bound, limit)
		clock.AdvanceToNext()
	}
}

// A registration retry resends the report of the send it repeats when the
// agent has handled nothing else since (the same message: after a failover
// every agent retries while the new leader works through the others, and
// rebuilding the report was most of a retry's cost), and reports anew once
// something changed: here the drain the master told of meanwhile.
func TestRegistrationRetryResendsTheReportUntilSomethingChanged(t *testing.T) {
	clock := testkit.NewFakeClock()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	defer sys.Shutdown()
	got := make(chan *messages.ReregisterAgent, 4)
	leader := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*messages.ReregisterAgent); ok {
			got <- m // the message itself: a local send passes the pointer
		}
	}))
	pid := sys.Root.Spawn(agent.Props(agent.Config{
		Info:   &messages.AgentInfo{Id: &messages.AgentID{Value: "m-1-A1"}, Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}}},
		Master: leader, Clock: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Rand: rand.New(rand.NewPCG(3, 0)),
	}))
	next := func(what string) *messages.ReregisterAgent {
		t.Helper()
		select {
		case m := <-got:
			return m
		case <-time.After(testkit.WaitTimeout):
			t.Fatalf("agent sent no %s", what)
			return nil
		}
	}
	retry := func() {
		t.Helper()
		if !clock.WaitPending(1, testkit.WaitTimeout) {
			t.Fatal("agent armed no registration retry")
		}
		clock.AdvanceToNext()
	}
	first := next("re-registration at start")
	retry()
	if again := next("retry"); again != first {
		t.Fatalf("a retry with nothing changed built a new report: %p, want the first send's %p", again, first)
	}
	// Mailbox order: the drain is handled before the retry the clock fires next.
	sys.Root.Send(pid, &messages.AgentDrain{Draining: true, DeadlineUnixNano: 1, MasterEpoch: 1})
	retry()
	changed := next("retry after the drain")
	if changed == first || !changed.GetDrain().GetDraining() {
		t.Fatalf("the retry after a drain resent the old report (same: %v, drain: %v); want a new one naming the drain", changed == first, changed.GetDrain())
	}
	if first.GetDrain() != nil {
		t.Fatalf("the first report changed after it was sent: drain %v", first.GetDrain())
	}
}

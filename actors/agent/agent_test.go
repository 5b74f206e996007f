package agent_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
)

func TestAgentIDPersistsAtomically(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "work")
	if id, err := agent.LoadAgentID(dir); err != nil || id != "" {
		t.Fatalf("fresh work dir: %q %v", id, err)
	}
	if err := agent.SaveAgentID(dir, "m-A3"); err != nil {
		t.Fatal(err)
	}
	if id, err := agent.LoadAgentID(dir); err != nil || id != "m-A3" {
		t.Fatalf("after save: %q %v", id, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestDetectResourcesKeepsGivenOnes(t *testing.T) {
	given, _ := messages.ParseResources("cpus:64;ports:[40000-40010]")
	rs, err := agent.DetectResources(t.TempDir(), given)
	if err != nil {
		t.Fatal(err)
	}
	if messages.ScalarOf(rs, "cpus") != 64 || messages.ScalarOf(rs, "mem") <= 0 || messages.ScalarOf(rs, "disk") <= 0 {
		t.Fatalf("resources: %s", messages.FormatResources(rs))
	}
	if got := messages.FormatResources(rs); !contains(got, "ports:[40000-40010]") || contains(got, "31000") {
		t.Fatalf("given ports must replace the default range: %s", got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// An agent started before its master keeps retrying with backoff and
// registers once the master is up.
func TestAgentRetriesRegistrationUntilMasterAnswers(t *testing.T) {
	clock := testkit.NewFakeClock()
	events := make(chan any, 16)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	defer sys.Shutdown()
	sys.EventStream.Subscribe(func(ev any) {
		if r, ok := ev.(agent.Registered); ok {
			events <- r
		}
	})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	masterPID := actor.NewPID(sys.Address(), master.Name)
	dir := t.TempDir()
	sys.Root.Spawn(agent.Props(agent.Config{
		Info:   &messages.AgentInfo{Hostname: "h", Resources: []*messages.Resource{{Name: "cpus", Scalar: 1}}},
		Master: masterPID, WorkDir: dir, Clock: clock, Logger: logger,
		BackoffInitial: time.Second, BackoffMax: 4 * time.Second,
	}))
	// The first attempts go nowhere: no master yet. Each failed attempt
	// arms the next retry, later each time up to the cap.
	var delays []time.Duration
	for i := 0; i < 6; i++ {
		if !clock.WaitPending(1, testkit.WaitTimeout) {
			t.Fatal("agent armed no registration retry")
		}
		before := clock.Now()
		clock.AdvanceToNext()
		delays = append(delays, clock.Since(before))
	}
	select {
	case ev := <-events:
		t.Fatalf("registered without a master: %v", ev)
	default:
	}
	for i, d := range delays {
		// Each retry waits a random part of a bound that starts at 2 s
		// (twice the factor) and doubles, capped at 4 s (Mesos' rule).
		if hi := min(2*time.Second<<i, 4*time.Second); d < 0 || d > hi {
			t.Fatalf("retry %d came after %v, want within [0, %v]; all: %v", i+1, d, hi, delays)
		}
	}
	// The agent's next retry, armed before the master (which arms timers
	// of its own) starts: the clock then moves exactly to it. Waiting for
	// "a timer" after the master started could take one of the master's,
	// later than the retry, and leave the retry behind the clock.
	if !clock.WaitPending(1, testkit.WaitTimeout) {
		t.Fatal("agent armed no registration retry")
	}
	retry, _ := clock.NextTimer()
	if _, err := sys.Root.SpawnNamed(master.Props(master.Config{
		Info: &messages.MasterInfo{Id: "m", Epoch: 1}, Clock: clock, Logger: logger,
		Liveness: master.DefaultLiveness, Publisher: &master.Publisher{}, Metrics: master.NewMetrics(prometheus.NewRegistry()),
	}), master.Name); err != nil {
		t.Fatal(err)
	}
	clock.Advance(clock.Until(retry))
	select {
	case ev := <-events:
		if ev.(agent.Registered).AgentID != "m-1-A1" {
			t.Fatalf("registered as %v", ev)
		}
	case <-time.After(testkit.WaitTimeout):
		t.Fatal("agent never registered after the master came up")
	}
	if id, _ := agent.LoadAgentID(dir); id != "m-1-A1" {
		t.Fatalf("persisted id = %q", id)
	}
}

package mastership_test

import (
	"log/slog"
	"testing"

	"github.com/agora-sched/agora/actors/health"
	"github.com/agora-sched/agora/actors/mastership"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// A standby takes /health's probe quietly (it answers every other request
// with NOT_LEADER, which would be taken for the probe's answer).
func TestStandbyAnswersTheProbe(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	pid := sys.Root.Spawn(mastership.StandbyProps(func() *messages.MasterInfo { return nil }, slog.New(slog.DiscardHandler)))
	if err := health.Check(t.Context(), sys.Root, health.Actor{Name: "standby master", PID: pid}); err != nil {
		t.Fatal(err)
	}
}

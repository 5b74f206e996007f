package scheduler

import (
	"context"
	"log/slog"

	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// MasterName is the well-known actor name of the master on its node.
const MasterName = "master"

// Follow keeps a scheduler pointed at the leading master found by master
// (host:port, or consul://host:port/<cluster> with several masters) until
// ctx ends: each new leader gets a MasterDetected, and the scheduler
// subscribes there again with its FrameworkID. Start the scheduler with a
// nil Config.Master and call Follow.
func Follow(ctx context.Context, sys *actor.ActorSystem, scheduler *actor.PID, master string, logger *slog.Logger) error {
	spec, err := leader.Parse(master)
	if err != nil {
		return err
	}
	d, err := spec.Detector(logger)
	if err != nil {
		return err
	}
	go leader.Watch(ctx, d, func(info *messages.MasterInfo) {
		if info != nil {
			sys.Root.Send(scheduler, MasterDetected{Master: actor.NewPID(info.Address, MasterName), Epoch: info.Epoch})
		}
	})
	return nil
}

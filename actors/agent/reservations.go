package agent

import (
	"errors"
	"io/fs"
	"path/filepath"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/checkpoint"
	"github.com/asynkron/protoactor-go/actor"
)

// The agent keeps the dynamic reservations its master told it of
// (CheckpointResources, the whole set each time) in its work directory,
// applies them to its --resources and reports the result in
// AgentInfo.resources: after its own restart, and to a newly elected
// master whose books start empty, the reservations are still there.

const (
	resourcesFile  = "resources"
	resourcesOwner = "resources"
)

// loadReservations applies the checkpointed reservations at start. A
// checkpoint that cannot be read or no longer fits the agent's resources
// (restarted with fewer) is not applied, loudly: the agent then offers its
// resources unreserved, and an operator must reserve again.
func (a *agent) loadReservations() {
	if a.cfg.WorkDir == "" {
		return
	}
	cp := &messages.CheckpointResources{}
	err := checkpoint.ReadMessage(filepath.Join(a.cfg.WorkDir, resourcesFile), cp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		a.log.Error("agent: reservations checkpoint unreadable; starting without dynamic reservations", "err", err)
		return
	}
	applied, err := messages.ApplyReservations(a.cfg.Info.GetResources(), cp.Resources)
	if err != nil {
		a.log.Error("agent: checkpointed reservations do not fit the agent's resources (restarted with fewer?); starting without them", "err", err)
		return
	}
	a.setInfo(func(info *messages.AgentInfo) { info.Resources = applied })
	a.syncVolumes(cp.Resources)
	a.log.Info("agent: dynamic reservations recovered", "resources", messages.FormatResources(cp.Resources))
}

// handleCheckpointResources applies and keeps what the current master
// says is reserved on the agent.
func (a *agent) handleCheckpointResources(ctx actor.Context, msg *messages.CheckpointResources) {
	if msg.MasterEpoch < a.epoch {
		a.log.Warn("ignoring CheckpointResources from a deposed master", "epoch", msg.MasterEpoch, "seen", a.epoch)
		return
	}
	applied, err := messages.ApplyReservations(a.cfg.Info.GetResources(), msg.Resources)
	if err != nil {
		// The master's books and the agent's disagree; keep what the
		// agent has, which it reports when it re-registers.
		a.log.Error("agent: refusing reservations that do not fit its resources", "err", err)
		return
	}
	a.setInfo(func(info *messages.AgentInfo) { info.Resources = applied })
	a.syncVolumes(msg.Resources)
	a.log.Info("agent: reservations changed", "resources", messages.FormatResources(msg.Resources), "epoch", msg.MasterEpoch)
	if a.cfg.WorkDir == "" {
		return
	}
	b, err := checkpoint.MarshalMessage(&messages.CheckpointResources{Resources: msg.Resources})
	if err != nil {
		a.log.Error("agent: cannot encode the reservations checkpoint", "err", err)
		return
	}
	a.persist(resourcesOwner, filepath.Join(a.cfg.WorkDir, resourcesFile), b)
}

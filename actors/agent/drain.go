package agent

import (
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/checkpoint"
	"github.com/asynkron/protoactor-go/actor"
)

// The agent keeps the drain its master told it of (AgentDrain) in its work
// directory and reports it when it re-registers: a newly elected master,
// whose books start empty, learns the drain from the agent.

const (
	drainFile  = "drain"
	drainOwner = "drain"
)

// loadDrain reads the drain checkpoint at start. One that cannot be read
// is dropped with a warning: the master that drained the agent tells it
// again when it re-registers, and a new leader loses only the drain.
func (a *agent) loadDrain() {
	if a.cfg.WorkDir == "" {
		return
	}
	d := &messages.AgentDrain{}
	err := checkpoint.ReadMessage(filepath.Join(a.cfg.WorkDir, drainFile), d)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		a.log.Warn("agent: drain checkpoint unreadable; starting as not draining (the master tells the agent again)", "err", err)
	case d.Draining:
		a.drain = d
		a.log.Info("agent is draining (checkpointed)", "deadline", time.Unix(0, d.DeadlineUnixNano))
	}
}

// handleDrain keeps what the current master says of the agent's drain.
func (a *agent) handleDrain(ctx actor.Context, msg *messages.AgentDrain) {
	if msg.MasterEpoch < a.epoch {
		a.log.Warn("ignoring AgentDrain from a deposed master", "epoch", msg.MasterEpoch, "seen", a.epoch)
		return
	}
	if msg.Draining {
		a.drain = &messages.AgentDrain{Draining: true, DeadlineUnixNano: msg.DeadlineUnixNano, MasterEpoch: msg.MasterEpoch}
		a.log.Info("agent is draining", "deadline", time.Unix(0, msg.DeadlineUnixNano), "epoch", msg.MasterEpoch)
	} else {
		a.drain = nil
		a.log.Info("agent is active again (drain ended)", "epoch", msg.MasterEpoch)
	}
	if a.cfg.WorkDir == "" {
		return
	}
	path := filepath.Join(a.cfg.WorkDir, drainFile)
	if a.drain == nil {
		a.unpersist(drainOwner, path)
		return
	}
	b, err := checkpoint.MarshalMessage(a.drain)
	if err != nil {
		a.log.Error("agent: cannot encode the drain checkpoint", "err", err)
		return
	}
	a.persist(drainOwner, path, b)
}

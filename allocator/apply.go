package allocator

import (
	"fmt"
	"time"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Dirty says what a change made worth allocating again: one agent, or
// everything (a framework came, revived, or a role's policy changed).
// Removed names an agent that is gone.
type Dirty struct {
	Agent   string
	All     bool
	Removed string
}

// Apply applies one of the master's messages (messages/allocation.proto)
// to p at now. The allocator actor does this for every message it gets;
// tests of the master's core do the same to check the two books agree.
// An error means they disagree.
func Apply(p Allocator, msg proto.Message, now time.Time) (Dirty, error) {
	switch m := msg.(type) {
	case *messages.AllocatorAddAgent:
		ag, err := AgentFromMessage(m)
		if err != nil {
			return Dirty{}, err
		}
		return Dirty{Agent: ag.ID}, p.AddAgent(ag)
	case *messages.AllocatorRemoveAgent:
		return Dirty{Removed: m.AgentId}, p.RemoveAgent(m.AgentId)
	case *messages.AllocatorDeactivateAgent:
		return Dirty{}, p.DeactivateAgent(m.AgentId)
	case *messages.AllocatorActivateAgent:
		return Dirty{Agent: m.AgentId}, p.ActivateAgent(m.AgentId)
	case *messages.AllocatorAddFramework:
		return Dirty{All: true}, p.AddFramework(FrameworkFromInfo(m.Info))
	case *messages.AllocatorRemoveFramework:
		return Dirty{All: true}, p.RemoveFramework(m.FrameworkId) // its allocations came back
	case *messages.AllocatorActivateFramework:
		return Dirty{All: true}, p.ActivateFramework(m.FrameworkId)
	case *messages.AllocatorDeactivateFramework:
		return Dirty{}, p.DeactivateFramework(m.FrameworkId)
	case *messages.AllocatorSuppress:
		return Dirty{}, p.Suppress(m.FrameworkId, m.Roles...)
	case *messages.AllocatorRevive:
		if err := p.Revive(m.FrameworkId, m.Roles...); err != nil {
			return Dirty{}, err
		}
		// Every revive restates the demand: none means no bound.
		want, err := FromQuantities(m.Demand)
		if err != nil {
			return Dirty{}, err
		}
		return Dirty{All: true}, p.SetDemand(m.FrameworkId, want.Scalars, m.Roles...)
	case *messages.AllocatorSetRole:
		return Dirty{All: true}, setRole(p, m.GetSettings())
	case *messages.AllocatorReturn:
		return Dirty{Agent: m.AgentId}, takeBack(p, m, now)
	case *messages.AllocatorUpdateReservation:
		r, err := FromQuantities(m.Resources)
		if err != nil {
			return Dirty{}, err
		}
		return Dirty{Agent: m.AgentId}, p.UpdateReservation(m.AgentId, m.Role, r, m.Unreserve, m.FrameworkId, m.FrameworkRole)
	case *messages.AllocatorTransfer:
		r, err := FromQuantities(m.Resources)
		if err != nil {
			return Dirty{}, err
		}
		// Shares and quota consumption changed, free resources did not:
		// the source's role may have room under its limit on any agent.
		return Dirty{All: true}, p.Transfer(m.AgentId, m.Reservation, r,
			Holder{FrameworkID: m.FromFrameworkId, Role: m.FromRole}, Holder{FrameworkID: m.ToFrameworkId, Role: m.ToRole})
	}
	return Dirty{}, fmt.Errorf("%w: the allocator does not handle %T", ErrInvalid, msg)
}

func setRole(p Allocator, s *messages.RoleSettings) error {
	w := s.GetWeight()
	if w == 0 {
		w = 1
	}
	q, err := QuotaFromMessage(s.GetQuota())
	if err != nil {
		return err
	}
	if err := p.SetWeight(s.GetRole(), w); err != nil {
		return err
	}
	return p.SetQuota(s.GetRole(), q)
}

func takeBack(p Allocator, m *messages.AllocatorReturn, now time.Time) error {
	res, err := FromQuantities(m.Resources)
	if err != nil {
		return err
	}
	rev, err := FromQuantities(m.Revocable)
	if err != nil {
		return err
	}
	refuse := time.Duration(m.RefuseNanos)
	if m.Reservation != "" {
		if !rev.IsEmpty() {
			return fmt.Errorf("%w: revocable resources cannot be reserved", ErrInvalid)
		}
		return p.ReturnReserved(m.FrameworkId, m.Role, m.AgentId, m.Reservation, res, ReturnKind(m.Kind), refuse, now)
	}
	switch m.Kind {
	case messages.AllocatorReturn_DECLINE:
		return p.Decline(m.FrameworkId, m.Role, m.AgentId, res, rev, refuse, now)
	case messages.AllocatorReturn_UNUSED:
		return p.ReturnUnused(m.FrameworkId, m.Role, m.AgentId, res, rev, refuse, now)
	}
	return p.Recover(m.FrameworkId, m.Role, m.AgentId, res, rev)
}

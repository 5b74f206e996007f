package mesosapi

import (
	"fmt"
	"net/http"

	"github.com/agora-sched/agora/messages"
	mmaster "github.com/agora-sched/agora/messages/mesos/v1/master"
	"google.golang.org/protobuf/proto"
)

// Operator reservations and volumes: RESERVE_RESOURCES,
// UNRESERVE_RESOURCES, CREATE_VOLUMES and DESTROY_VOLUMES go to the master
// as the native POST /reserve, /unreserve and agora volumes do
// (OperatorReserve, OperatorVolumes), under the same access control lists
// (reserve_resources, unreserve_resources, create_volumes,
// destroy_volumes). Answered as Mesos does: 202 Accepted and an empty
// body, once the published state shows the change (bounded wait).

// resourceCallIn maps a reservation or volume call to the master's
// request, refusing what Agora does not do by name.
func resourceCallIn(c *mmaster.Call) (proto.Message, error) {
	var (
		agent, field string
		rs           []*messages.Resource
		err          error
	)
	switch c.GetType() {
	case mmaster.Call_RESERVE_RESOURCES:
		x := c.GetReserveResources()
		if len(x.GetSource()) > 0 {
			return nil, fmt.Errorf("%w: RESERVE_RESOURCES with source (reservation updates): unreserve, then reserve", ErrUnsupported)
		}
		agent, field = x.GetAgentId().GetValue(), "reserve_resources"
		rs, err = resourcesIn(x.GetResources())
	case mmaster.Call_UNRESERVE_RESOURCES:
		x := c.GetUnreserveResources()
		agent, field = x.GetAgentId().GetValue(), "unreserve_resources"
		rs, err = resourcesIn(x.GetResources())
	case mmaster.Call_CREATE_VOLUMES:
		x := c.GetCreateVolumes()
		agent, field = x.GetAgentId().GetValue(), "create_volumes"
		rs, err = resourcesIn(x.GetVolumes())
	case mmaster.Call_DESTROY_VOLUMES:
		x := c.GetDestroyVolumes()
		agent, field = x.GetAgentId().GetValue(), "destroy_volumes"
		rs, err = resourcesIn(x.GetVolumes())
	default:
		return nil, fmt.Errorf("%w: %s is no reservation or volume call", ErrInvalid, c.GetType())
	}
	switch {
	case agent == "":
		return nil, fmt.Errorf("%w: Expecting '%s.agent_id' to be present", ErrInvalid, field)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", field, err)
	case len(rs) == 0:
		return nil, fmt.Errorf("%w: %s names no resources", ErrInvalid, field)
	}
	id := &messages.AgentID{Value: agent}
	switch c.GetType() {
	case mmaster.Call_RESERVE_RESOURCES, mmaster.Call_UNRESERVE_RESOURCES:
		req := &messages.OperatorReserve{AgentId: id, Resources: rs, Unreserve: c.GetType() == mmaster.Call_UNRESERVE_RESOURCES}
		for _, r := range rs {
			if r.GetDisk() != nil {
				return nil, fmt.Errorf("%w: %s of a volume: destroy it first (DESTROY_VOLUMES), then name its disk without disk info", ErrInvalid, field)
			}
			// Agora keeps one set of labels per operation (Mesos: per
			// resource); the first that has some gives them.
			if req.Labels == nil && len(r.GetReservation().GetLabels()) > 0 {
				req.Labels = r.Reservation.Labels
			}
			r.Reservation = nil // the master sets it, with the operator as principal
		}
		return req, nil
	}
	for _, r := range rs {
		if !messages.IsVolume(r) {
			return nil, fmt.Errorf("%w: %s: resource %s is no persistent volume (disk with disk.persistence and disk.volume)", ErrInvalid, field, r.Name)
		}
	}
	return &messages.OperatorVolumes{AgentId: id, Volumes: rs, Destroy: c.GetType() == mmaster.Call_DESTROY_VOLUMES}, nil
}

// resourceCall carries out a reservation or volume call through the master.
func (s *OperatorServer) resourceCall(w http.ResponseWriter, r *http.Request, call *mmaster.Call) {
	msg, err := resourceCallIn(call)
	if err != nil {
		s.cfg.Logger.Warn("Mesos operator call refused", "call", call.GetType().String(), "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.cfg.Ask == nil {
		http.Error(w, "this master takes no operations", http.StatusNotImplemented)
		return
	}
	id := agentOf(msg)
	before := s.agentResources(id)
	if !s.apply(w, r, call.GetType().String(), msg) {
		return
	}
	s.awaitPublished(r.Context(), func(st *messages.MasterState) bool {
		for _, a := range st.GetAgents() {
			if a.GetInfo().GetId().GetValue() == id {
				return !equalResources(a.GetInfo().GetResources(), before)
			}
		}
		return true // gone: nothing to wait for
	})
	w.WriteHeader(http.StatusAccepted)
}

// agentOf is the agent a reservation or volume request acts on.
func agentOf(msg proto.Message) string {
	switch m := msg.(type) {
	case *messages.OperatorReserve:
		return m.GetAgentId().GetValue()
	case *messages.OperatorVolumes:
		return m.GetAgentId().GetValue()
	}
	return ""
}

// agentResources are agent id's resources as last published (nil when
// none is).
func (s *OperatorServer) agentResources(id string) []*messages.Resource {
	if s.cfg.State == nil {
		return nil
	}
	for _, a := range s.cfg.State().GetAgents() {
		if a.GetInfo().GetId().GetValue() == id {
			return a.GetInfo().GetResources()
		}
	}
	return nil
}

func equalResources(a, b []*messages.Resource) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

package mesosapi

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// framework is what the bridge keeps of a Mesos FrameworkInfo beyond
// Agora's: the capabilities that change how events are written.
type framework struct {
	info *messages.FrameworkInfo
	// multiRole: offers and resources carry allocation_info.
	multiRole bool
	// refinement: reservations as Resource.reservations.
	refinement bool
	// killingState: the framework understands TASK_KILLING (else Mesos
	// does not send it, and neither does the bridge).
	killingState bool
	// removeOnDisconnect: Mesos' failover_timeout 0 (its default): the
	// framework is removed the moment its stream closes.
	removeOnDisconnect bool
}

// maxFailoverTimeout bounds failover_timeout so that its nanoseconds fit
// an int64 (Mesos' own bound is about as long: a Duration).
const maxFailoverTimeout = 100 * 365 * 24 * time.Hour

// frameworkIn reads a Mesos FrameworkInfo. Fields Agora does not use yet
// (labels, webui_url, domain) are ignored, as Mesos ignores capabilities it
// does not know.
func frameworkIn(m *mesos.FrameworkInfo) (framework, error) {
	// checkpoint: Mesos' default (unset) is false, Agora's is true, so it
	// is always set here: a Mesos framework that says nothing does not
	// checkpoint, as on Mesos (messages.Checkpointing).
	f := framework{info: &messages.FrameworkInfo{Name: m.GetName(), User: m.GetUser(), Checkpoint: proto.Bool(m.GetCheckpoint()),
		Hostname: m.GetHostname(), Principal: m.GetPrincipal()}}
	if id := m.GetId().GetValue(); id != "" {
		f.info.Id = &messages.FrameworkID{Value: id}
	}
	for _, c := range m.Capabilities {
		switch c.GetType() {
		case mesos.FrameworkInfo_Capability_MULTI_ROLE:
			f.multiRole = true
		case mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT:
			f.refinement = true
		case mesos.FrameworkInfo_Capability_TASK_KILLING_STATE:
			f.killingState = true
		case mesos.FrameworkInfo_Capability_REVOCABLE_RESOURCES:
			f.info.Capabilities = append(f.info.Capabilities, messages.Capability_REVOCABLE_RESOURCES)
		case mesos.FrameworkInfo_Capability_PARTITION_AWARE:
			f.info.Capabilities = append(f.info.Capabilities, messages.Capability_PARTITION_AWARE)
		case mesos.FrameworkInfo_Capability_SHARED_RESOURCES:
			f.info.Capabilities = append(f.info.Capabilities, messages.Capability_SHARED_RESOURCES)
		}
	}
	// Mesos: a MULTI_ROLE framework names its roles in roles (role must be
	// unset); any other names one role (default "*") in role.
	switch {
	case f.multiRole && m.Role != nil:
		return framework{}, fmt.Errorf("%w: a MULTI_ROLE framework sets roles, not role", ErrInvalid)
	case f.multiRole:
		if len(m.Roles) == 0 {
			return framework{}, fmt.Errorf("%w: a MULTI_ROLE framework with no roles", ErrInvalid)
		}
		f.info.Roles = append([]string(nil), m.Roles...)
	case len(m.Roles) > 0:
		return framework{}, fmt.Errorf("%w: roles is for MULTI_ROLE frameworks; set role, or the MULTI_ROLE capability", ErrInvalid)
	default:
		f.info.Roles = []string{m.GetRole()} // "*" by default
	}
	f.info.MinAllocatable = minAllocatableIn(m.GetOfferFilters(), f.info.Roles)
	switch t := m.GetFailoverTimeout(); {
	case math.IsNaN(t) || t < 0:
		return framework{}, fmt.Errorf("%w: failover_timeout %v: want seconds, zero or more", ErrInvalid, t)
	case t == 0:
		f.removeOnDisconnect = true
	default:
		f.info.FailoverTimeoutNanos = int64(min(t, maxFailoverTimeout.Seconds()) * float64(time.Second))
	}
	return f, nil
}

// minAllocatableIn maps Mesos' per-role offer_filters.min_allocatable_resources
// to Agora's one minimum per framework: the alternatives of every role
// together (an offer is worth making if it holds one of them, for
// whichever role). Only when every role of the framework sets it: a role
// without one takes the master's default in Mesos, which Agora cannot
// combine with another role's, so the default then applies to all. A role
// that sets it with no quantities (any offer) makes any offer allocatable.
func minAllocatableIn(filters map[string]*mesos.OfferFilters, roles []string) *messages.MinAllocatable {
	if len(filters) == 0 {
		return nil
	}
	out := &messages.MinAllocatable{}
	for _, role := range roles {
		mar := filters[role].GetMinAllocatableResources()
		if mar == nil {
			return nil
		}
		if len(mar.Quantities) == 0 {
			return &messages.MinAllocatable{}
		}
		for _, q := range mar.Quantities {
			rq := &messages.ResourceQuantities{}
			for _, name := range slices.Sorted(maps.Keys(q.GetQuantities())) {
				rq.Resources = append(rq.Resources, &messages.Resource{Name: name, Scalar: q.GetQuantities()[name].GetValue()})
			}
			out.Quantities = append(out.Quantities, rq)
		}
	}
	return out
}

package mesosapi

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// Resources between Mesos and Agora. Agora's Resource is Mesos' without
// the parts Agora does not have yet: a scalar or ranges (no SET), a
// static reservation to one role (no refinement, no dynamic
// reservations, no disk info, no shared or provider resources), and
// revocability. The role a resource is allocated to (Mesos'
// allocation_info) is the offer's role in Agora: it is added on the way
// out and dropped on the way in.

// resourcesOut is Agora's resources as Mesos writes them for a framework:
// allocated to role when allocated is set (MULTI_ROLE frameworks), a
// reservation as reservations (RESERVATION_REFINEMENT frameworks) or as
// the pre-refinement role field.
func resourcesOut(rs []*messages.Resource, allocated string, refinement bool) []*mesos.Resource {
	out := make([]*mesos.Resource, 0, len(rs))
	for _, r := range rs {
		m := &mesos.Resource{Name: proto.String(r.Name)}
		if len(r.Ranges) > 0 || r.Name == "ports" {
			m.Type = mesos.Value_RANGES.Enum()
			m.Ranges = &mesos.Value_Ranges{}
			for _, rg := range r.Ranges {
				m.Ranges.Range = append(m.Ranges.Range, &mesos.Value_Range{Begin: proto.Uint64(rg.Begin), End: proto.Uint64(rg.End)})
			}
		} else {
			m.Type = mesos.Value_SCALAR.Enum()
			m.Scalar = &mesos.Value_Scalar{Value: proto.Float64(r.Scalar)}
		}
		if r.Role != "" {
			dynamic := messages.IsDynamic(r)
			if refinement {
				ri := &mesos.Resource_ReservationInfo{Type: mesos.Resource_ReservationInfo_STATIC.Enum(), Role: proto.String(r.Role)}
				if dynamic {
					ri.Type = mesos.Resource_ReservationInfo_DYNAMIC.Enum()
					ri.Principal, ri.Labels = proto.String(r.Reservation.Principal), labelsOut(r.Reservation.Labels)
				}
				m.Reservations = []*mesos.Resource_ReservationInfo{ri}
			} else {
				m.Role = proto.String(r.Role)
				if dynamic {
					m.Reservation = &mesos.Resource_ReservationInfo{Principal: proto.String(r.Reservation.Principal), Labels: labelsOut(r.Reservation.Labels)}
				}
			}
		}
		if allocated != "" {
			m.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String(allocated)}
		}
		if r.Revocable {
			m.Revocable = &mesos.Resource_RevocableInfo{}
		}
		out = append(out, m)
	}
	return out
}

// resourcesIn reads a framework's resources (of a task or an executor),
// refusing what Agora cannot hold yet, by name.
func resourcesIn(rs []*mesos.Resource) ([]*messages.Resource, error) {
	out := make([]*messages.Resource, 0, len(rs))
	for _, m := range rs {
		name := m.GetName()
		if name == "" {
			return nil, fmt.Errorf("%w: a resource without a name", ErrInvalid)
		}
		r := &messages.Resource{Name: name, Revocable: m.Revocable != nil}
		switch m.GetType() {
		case mesos.Value_SCALAR:
			if m.Scalar == nil {
				return nil, fmt.Errorf("%w: resource %s: SCALAR without a scalar", ErrInvalid, name)
			}
			r.Scalar = m.Scalar.GetValue()
		case mesos.Value_RANGES:
			for _, rg := range m.GetRanges().GetRange() {
				r.Ranges = append(r.Ranges, &messages.Range{Begin: rg.GetBegin(), End: rg.GetEnd()})
			}
		default:
			return nil, fmt.Errorf("%w: resource %s of type %s (Agora has SCALAR and RANGES resources)", ErrUnsupported, name, m.GetType())
		}
		switch {
		case m.Disk != nil:
			return nil, fmt.Errorf("%w: resource %s with disk info (persistent volumes, disk sources)", ErrUnsupported, name)
		case m.Shared != nil:
			return nil, fmt.Errorf("%w: shared resource %s", ErrUnsupported, name)
		case m.ProviderId != nil:
			return nil, fmt.Errorf("%w: resource %s of a resource provider", ErrUnsupported, name)
		case m.Reservation != nil:
			// Before refinement: the role field, and this says dynamic.
			r.Role = m.GetRole()
			r.Reservation = &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: r.Role, Principal: m.Reservation.GetPrincipal(), Labels: labelsIn(m.Reservation.GetLabels())}
		case len(m.Reservations) > 1:
			return nil, fmt.Errorf("%w: resource %s with refined reservations", ErrUnsupported, name)
		case len(m.Reservations) == 1:
			res := m.Reservations[0]
			r.Role = res.GetRole()
			if res.GetType() == mesos.Resource_ReservationInfo_DYNAMIC {
				r.Reservation = &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: r.Role, Principal: res.GetPrincipal(), Labels: labelsIn(res.GetLabels())}
			}
		case m.Role != nil && m.GetRole() != "*":
			r.Role = m.GetRole()
		}
		out = append(out, r)
	}
	return out, nil
}

// offerOut is an Agora offer as Mesos sends it to a framework.
func offerOut(o *messages.Offer, multiRole, refinement bool) *mesos.Offer {
	m := &mesos.Offer{
		Id:          &mesos.OfferID{Value: proto.String(o.GetId().GetValue())},
		FrameworkId: &mesos.FrameworkID{Value: proto.String(o.GetFrameworkId().GetValue())},
		AgentId:     &mesos.AgentID{Value: proto.String(o.GetAgentId().GetValue())},
		Hostname:    proto.String(o.Hostname),
	}
	allocated := ""
	if multiRole {
		// Mesos tells only MULTI_ROLE frameworks which role an offer is
		// for; to the others every offer is for their one role.
		allocated = o.Role
		m.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String(o.Role)}
	}
	m.Resources = resourcesOut(o.Resources, allocated, refinement)
	for _, a := range o.Attributes {
		ma := &mesos.Attribute{Name: proto.String(a.Name)}
		switch v := a.Value.(type) {
		case *messages.Attribute_Text:
			ma.Type, ma.Text = mesos.Value_TEXT.Enum(), &mesos.Value_Text{Value: proto.String(v.Text)}
		case *messages.Attribute_Scalar:
			ma.Type, ma.Scalar = mesos.Value_SCALAR.Enum(), &mesos.Value_Scalar{Value: proto.Float64(v.Scalar)}
		default:
			continue
		}
		m.Attributes = append(m.Attributes, ma)
	}
	if host, port, err := net.SplitHostPort(o.AgentHttpAddress); err == nil {
		if p, err := strconv.ParseUint(port, 10, 16); err == nil {
			m.Url = &mesos.URL{Scheme: proto.String("http"), Address: &mesos.Address{Hostname: proto.String(o.Hostname), Port: proto.Int32(int32(p))}}
			if net.ParseIP(host) != nil {
				m.Url.Address.Ip = proto.String(host)
			}
		}
	}
	return m
}

func labelsOut(l map[string]string) *mesos.Labels {
	if len(l) == 0 {
		return nil
	}
	out := &mesos.Labels{}
	for _, k := range slices.Sorted(maps.Keys(l)) {
		out.Labels = append(out.Labels, &mesos.Label{Key: proto.String(k), Value: proto.String(l[k])})
	}
	return out
}

func labelsIn(l *mesos.Labels) map[string]string {
	if len(l.GetLabels()) == 0 {
		return nil
	}
	out := make(map[string]string, len(l.GetLabels()))
	for _, x := range l.GetLabels() {
		out[x.GetKey()] = x.GetValue()
	}
	return out
}

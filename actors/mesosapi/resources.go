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
// reservations, disk info for persistent volumes only, shared ones
// included, no provider resources), and
// revocability. The role a resource is allocated to (Mesos'
// allocation_info) is the offer's role in Agora: it is added on the way
// out and dropped on the way in.

// resourcesOut is Agora's resources as Mesos writes them for a framework:
// allocated to role when allocated is set (MULTI_ROLE frameworks), a
// reservation as reservations (RESERVATION_REFINEMENT frameworks) or as
// the pre-refinement role field.
func resourcesOut(rs []*messages.Resource, allocated string, refinement bool) []*mesos.Resource {
	return new(parts).resources(rs, allocated, refinement)
}

func (p *parts) resources(rs []*messages.Resource, allocated string, refinement bool) []*mesos.Resource {
	out := make([]*mesos.Resource, 0, len(rs))
	for _, r := range rs {
		m := p.resource.next()
		m.Name = p.str(r.Name)
		if len(r.Ranges) > 0 || r.Name == "ports" {
			m.Type = p.valueType(mesos.Value_RANGES)
			m.Ranges = p.ranges.next()
			m.Ranges.Range = make([]*mesos.Value_Range, len(r.Ranges))
			for i, rg := range r.Ranges {
				mr := p.rng.next()
				mr.Begin, mr.End = p.u64(rg.Begin), p.u64(rg.End)
				m.Ranges.Range[i] = mr
			}
		} else {
			m.Type = p.valueType(mesos.Value_SCALAR)
			m.Scalar = p.scalar(r.Scalar)
		}
		if r.Role != "" {
			dynamic := messages.IsDynamic(r)
			if refinement {
				res := p.reservation.next()
				res.Type, res.Role = p.reservationType.next(), p.str(r.Role)
				*res.Type = mesos.Resource_ReservationInfo_STATIC
				if dynamic {
					*res.Type = mesos.Resource_ReservationInfo_DYNAMIC
					res.Principal, res.Labels = p.str(r.Reservation.Principal), labelsOut(r.Reservation.Labels)
				}
				m.Reservations = []*mesos.Resource_ReservationInfo{res}
			} else {
				m.Role = p.str(r.Role)
				if dynamic {
					m.Reservation = &mesos.Resource_ReservationInfo{Principal: p.str(r.Reservation.Principal), Labels: labelsOut(r.Reservation.Labels)}
				}
			}
		}
		if allocated != "" {
			m.AllocationInfo = p.allocation.next()
			m.AllocationInfo.Role = p.str(allocated)
		}
		if r.Revocable {
			m.Revocable = &mesos.Resource_RevocableInfo{}
		}
		if d := r.Disk; d != nil {
			mode := mesos.Volume_RW.Enum()
			if d.ReadOnly {
				mode = mesos.Volume_RO.Enum()
			}
			m.Disk = &mesos.Resource_DiskInfo{Persistence: &mesos.Resource_DiskInfo_Persistence{Id: p.str(d.PersistenceId), Principal: p.str(d.Principal)},
				Volume: &mesos.Volume{Mode: mode, ContainerPath: p.str(d.ContainerPath)}}
		}
		if r.Shared {
			m.Shared = &mesos.Resource_SharedInfo{}
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
		if d := m.Disk; d != nil {
			// Persistent volumes only: no disk sources, no ephemeral
			// volumes. The mode is how a task mounts the volume (RO:
			// read-only; CREATE refuses it, as Mesos does).
			v := d.GetVolume()
			if d.Source != nil || v.GetHostPath() != "" || v.GetSource() != nil || v.GetImage() != nil {
				return nil, fmt.Errorf("%w: resource %s with disk info other than a persistent volume (disk sources, host paths, ephemeral or image volumes)", ErrUnsupported, name)
			}
			if d.Persistence == nil || v == nil {
				return nil, fmt.Errorf("%w: resource %s with disk info that is not a persistent volume (it needs persistence and volume; a mode such as RO applies to persistent volumes only)", ErrUnsupported, name)
			}
			r.Disk = &messages.DiskInfo{PersistenceId: d.Persistence.GetId(), ContainerPath: v.GetContainerPath(), Principal: d.Persistence.GetPrincipal(),
				ReadOnly: v.GetMode() == mesos.Volume_RO}
		}
		// Mesos' SharedInfo has no fields; ValidateResources refuses it on
		// anything but a persistent volume.
		r.Shared = m.Shared != nil
		if r.Shared && r.Disk == nil {
			return nil, fmt.Errorf("%w: resource %s is shared, but only persistent volumes can be shared", ErrInvalid, name)
		}
		switch {
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

// offersOut is Agora's offers as Mesos sends them to a framework.
func offersOut(os []*messages.Offer, multiRole, refinement bool) []*mesos.Offer {
	p := new(parts)
	out := make([]*mesos.Offer, len(os))
	for i, o := range os {
		out[i] = p.offer(o, multiRole, refinement)
	}
	return out
}

// offerOut is an Agora offer as Mesos sends it to a framework.
func offerOut(o *messages.Offer, multiRole, refinement bool) *mesos.Offer {
	return new(parts).offer(o, multiRole, refinement)
}

func (p *parts) offer(o *messages.Offer, multiRole, refinement bool) *mesos.Offer {
	m := p.offerMsg.next()
	m.Id = p.offerID.next()
	m.Id.Value = p.str(o.GetId().GetValue())
	m.FrameworkId = p.frameworkID.next()
	m.FrameworkId.Value = p.str(o.GetFrameworkId().GetValue())
	m.AgentId = p.agentID.next()
	m.AgentId.Value = p.str(o.GetAgentId().GetValue())
	m.Hostname = p.str(o.Hostname)
	allocated := ""
	if multiRole {
		// Mesos tells only MULTI_ROLE frameworks which role an offer is
		// for; to the others every offer is for their one role.
		allocated = o.Role
		m.AllocationInfo = p.allocation.next()
		m.AllocationInfo.Role = p.str(o.Role)
	}
	m.Resources = p.resources(o.Resources, allocated, refinement)
	for _, a := range o.Attributes {
		ma := &mesos.Attribute{Name: proto.String(a.Name)}
		switch v := a.Value.(type) {
		case *messages.Attribute_Text:
			ma.Type, ma.Text = mesos.Value_TEXT.Enum(), &mesos.Value_Text{Value: proto.String(v.Text)}
		case *messages.Attribute_Scalar:
			ma.Type, ma.Scalar = mesos.Value_SCALAR.Enum(), p.scalar(v.Scalar)
		default:
			continue
		}
		m.Attributes = append(m.Attributes, ma)
	}
	if host, port, err := net.SplitHostPort(o.AgentHttpAddress); err == nil {
		if n, err := strconv.ParseUint(port, 10, 16); err == nil {
			m.Url = p.url.next()
			m.Url.Scheme = p.str("http")
			m.Url.Address = p.address.next()
			m.Url.Address.Hostname = p.str(o.Hostname)
			m.Url.Address.Port = p.i32.next()
			*m.Url.Address.Port = int32(n)
			if net.ParseIP(host) != nil {
				m.Url.Address.Ip = p.str(host)
			}
		}
	}
	return m
}

// parts hands out the pieces of the Mesos messages being built from a
// few large allocations: a first OFFERS event of 1,000 agents has some
// 50,000 of them (each optional field is a pointer), and allocating them
// one by one cost more than the mapping itself, twice over with the
// garbage collector's share.
type parts struct {
	offerMsg        slab[mesos.Offer]
	offerID         slab[mesos.OfferID]
	frameworkID     slab[mesos.FrameworkID]
	agentID         slab[mesos.AgentID]
	url             slab[mesos.URL]
	address         slab[mesos.Address]
	resource        slab[mesos.Resource]
	scalars         slab[mesos.Value_Scalar]
	ranges          slab[mesos.Value_Ranges]
	rng             slab[mesos.Value_Range]
	allocation      slab[mesos.Resource_AllocationInfo]
	reservation     slab[mesos.Resource_ReservationInfo]
	reservationType slab[mesos.Resource_ReservationInfo_Type]
	types           slab[mesos.Value_Type]
	strs            slab[string]
	f64             slab[float64]
	u64s            slab[uint64]
	i32             slab[int32]
}

func (p *parts) str(s string) *string {
	v := p.strs.next()
	*v = s
	return v
}

func (p *parts) u64(n uint64) *uint64 {
	v := p.u64s.next()
	*v = n
	return v
}

func (p *parts) valueType(t mesos.Value_Type) *mesos.Value_Type {
	v := p.types.next()
	*v = t
	return v
}

func (p *parts) scalar(f float64) *mesos.Value_Scalar {
	s := p.scalars.next()
	s.Value = p.f64.next()
	*s.Value = f
	return s
}

// slab allocates Ts in chunks that grow from a few to maxSlabChunk, so
// one small message costs little and a large one few allocations.
type slab[T any] struct{ chunk []T }

const maxSlabChunk = 512

// next is a new zero T.
func (s *slab[T]) next() *T {
	if len(s.chunk) == cap(s.chunk) {
		s.chunk = make([]T, 0, min(maxSlabChunk, max(4, 2*cap(s.chunk))))
	}
	s.chunk = s.chunk[:len(s.chunk)+1]
	return &s.chunk[len(s.chunk)-1]
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

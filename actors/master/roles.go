package master

import (
	"errors"
	"fmt"
	"sort"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// ErrInvalidRoleConfig wraps every refused role update.
var ErrInvalidRoleConfig = errors.New("invalid role configuration")

// Roles is the operator's role configuration (weights and quotas): plain
// data, validated here, applied to the allocator by the master.
type Roles struct {
	byRole map[string]*messages.RoleSettings
}

// NewRoles starts from a persisted configuration (nil: none). It rejects a
// configuration that would not validate today.
func NewRoles(cfg *messages.RoleConfig) (*Roles, error) {
	r := &Roles{byRole: map[string]*messages.RoleSettings{}}
	for _, s := range cfg.GetRoles() {
		if _, err := validateSettings(s); err != nil {
			return nil, err
		}
		r.byRole[s.Role] = proto.Clone(s).(*messages.RoleSettings)
	}
	return r, nil
}

// Config returns every configured role, ordered by name.
func (r *Roles) Config() *messages.RoleConfig {
	out := &messages.RoleConfig{}
	for _, s := range r.byRole {
		out.Roles = append(out.Roles, s)
	}
	sort.Slice(out.Roles, func(i, j int) bool { return out.Roles[i].Role < out.Roles[j].Role })
	return out
}

// Apply validates an update and returns the role's new settings, without
// changing r (the caller commits with Commit once it is persisted).
func (r *Roles) Apply(u *messages.UpdateRole) (*messages.RoleSettings, error) {
	s := &messages.RoleSettings{Role: u.GetRole()}
	if old, ok := r.byRole[u.GetRole()]; ok {
		s = proto.Clone(old).(*messages.RoleSettings)
	}
	if u.Weight != nil {
		s.Weight = *u.Weight
	}
	switch {
	case u.ClearQuota && u.Quota != nil:
		return nil, fmt.Errorf("%w: set a quota or clear it, not both", ErrInvalidRoleConfig)
	case u.ClearQuota:
		s.Quota = nil
	case u.Quota != nil:
		s.Quota = u.Quota
	}
	if _, err := validateSettings(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Commit stores settings returned by Apply.
func (r *Roles) Commit(s *messages.RoleSettings) {
	if s.Weight == 0 && s.Quota == nil {
		delete(r.byRole, s.Role)
		return
	}
	r.byRole[s.Role] = s
}

// PolicyQuota converts a role's quota for the allocator.
func PolicyQuota(q *messages.RoleQuota) policy.Quota {
	out, _ := policyQuota(q)
	return out
}

func policyQuota(q *messages.RoleQuota) (policy.Quota, error) {
	g, grev, err := policy.FromMessages(q.GetGuarantee())
	if err != nil {
		return policy.Quota{}, err
	}
	l, lrev, err := policy.FromMessages(q.GetLimit())
	if err != nil {
		return policy.Quota{}, err
	}
	if !grev.IsEmpty() || !lrev.IsEmpty() || len(g.Ports) > 0 || len(l.Ports) > 0 {
		return policy.Quota{}, errors.New("quota takes scalar, non-revocable resources (cpus, mem, disk, gpus)")
	}
	out := policy.NoLimit(g.Scalars)
	for _, res := range q.GetLimit() {
		k, _ := policy.KindByName(res.Name)
		out.Limit[k] = l.Scalars[k]
	}
	return out, nil
}

func validateSettings(s *messages.RoleSettings) (policy.Quota, error) {
	if !validRoleName(s.GetRole()) {
		return policy.Quota{}, fmt.Errorf("%w: role %q: want names separated by /, such as eng/ml", ErrInvalidRoleConfig, s.GetRole())
	}
	if s.Weight < 0 || s.Weight > 1e9 || s.Weight != s.Weight {
		return policy.Quota{}, fmt.Errorf("%w: role %s: weight %v must be positive", ErrInvalidRoleConfig, s.Role, s.Weight)
	}
	q, err := policyQuota(s.GetQuota())
	if err != nil {
		return q, fmt.Errorf("%w: role %s: %w", ErrInvalidRoleConfig, s.Role, err)
	}
	for k := range q.Guarantee {
		if q.Guarantee[k] > q.Limit[k] {
			return q, fmt.Errorf("%w: role %s: %s guarantee exceeds its limit", ErrInvalidRoleConfig, s.Role, policy.Kind(k))
		}
	}
	return q, nil
}

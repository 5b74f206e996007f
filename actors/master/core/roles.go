package core

import (
	"fmt"
	"sort"
	"strings"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

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

// PolicyQuota converts a role's quota for the allocator; the quota was
// validated when it was configured.
func PolicyQuota(q *messages.RoleQuota) policy.Quota {
	out, _ := policy.QuotaFromMessage(q)
	return out
}

func validateSettings(s *messages.RoleSettings) (policy.Quota, error) {
	if err := messages.ValidateRoleName(s.GetRole()); err != nil {
		return policy.Quota{}, fmt.Errorf("%w: %w", ErrInvalidRoleConfig, err)
	}
	if s.Weight < 0 || s.Weight > 1e9 || s.Weight != s.Weight {
		return policy.Quota{}, fmt.Errorf("%w: role %s: weight %v must be positive", ErrInvalidRoleConfig, s.Role, s.Weight)
	}
	q, err := policy.QuotaFromMessage(s.GetQuota())
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

type roleWrite struct {
	token    uint64
	settings *messages.RoleSettings
	from     Peer
	req      *messages.UpdateRole
}

// UpdateRole is an operator changing a role's weight or quota. The change
// is validated, persisted when the master persists its configuration
// (PersistRoles, answered by RolesPersisted), then given to the allocator;
// outstanding offers are rescinded so that the new policy applies to
// everything offered from then on. The operator is answered with the new
// configuration, or an Error.
func (c *Core) UpdateRole(p Peer, msg *messages.UpdateRole, now time.Time) Ready {
	if !c.mayOperate(p, msg.GetRole(), msg) {
		return c.ready()
	}
	settings, err := c.roles.Apply(msg)
	if err != nil {
		c.log.Warn("role update refused", "role", msg.GetRole(), "err", err)
		c.reject(p.Endpoint, messages.Error_INVALID_ARGUMENT, err.Error(), msg)
		return c.ready()
	}
	if !c.mayAddRoles(p.Endpoint, []string{settings.Role}, msg) {
		return c.ready()
	}
	if !c.cfg.PersistRoles {
		c.commitRole(p, settings)
		return c.ready()
	}
	c.nextToken++
	c.roleWrites = append(c.roleWrites, roleWrite{token: c.nextToken, settings: settings, from: p, req: msg})
	if len(c.roleWrites) == 1 {
		c.persistNext()
	}
	return c.ready()
}

// persistNext asks for the first waiting change to be written on top of
// the configuration as it is now (the changes before it applied).
func (c *Core) persistNext() {
	w := c.roleWrites[0]
	// Settings validated against an older configuration are validated
	// again: a change queued behind another applies to its result.
	settings, err := c.roles.Apply(w.req)
	if err != nil {
		c.roleWrites = c.roleWrites[1:]
		c.reject(w.from.Endpoint, messages.Error_INVALID_ARGUMENT, err.Error(), w.req)
		if len(c.roleWrites) > 0 {
			c.persistNext()
		}
		return
	}
	c.roleWrites[0].settings = settings
	next, _ := NewRoles(c.roles.Config())
	next.Commit(settings)
	c.emit(PersistRoles{Config: next.Config(), Token: w.token})
}

// RolesPersisted is the result of a PersistRoles write: the change applies
// only if it was stored.
func (c *Core) RolesPersisted(token uint64, err error, now time.Time) Ready {
	if len(c.roleWrites) == 0 || c.roleWrites[0].token != token {
		c.log.Error("a role configuration write finished that was not asked for; ignored", "token", token)
		return c.ready()
	}
	w := c.roleWrites[0]
	c.roleWrites = c.roleWrites[1:]
	if err != nil {
		c.log.Error("cannot persist the role configuration; change refused", "role", w.settings.Role, "err", err)
		c.reject(w.from.Endpoint, messages.Error_CODE_UNSPECIFIED, "cannot persist the role configuration: "+err.Error()+"; nothing changed, retry", w.req)
	} else {
		c.commitRole(w.from, w.settings)
	}
	if len(c.roleWrites) > 0 {
		c.persistNext()
	}
	return c.ready()
}

func (c *Core) commitRole(p Peer, settings *messages.RoleSettings) {
	c.roles.Commit(settings)
	c.applyRole(settings)
	rescinded := 0
	for _, o := range ordered(c.books.offers, strings.Compare) {
		c.rescind(o, "role policy changed")
		rescinded++
	}
	c.log.Info("role configuration changed", "role", settings.Role, "weight", settings.Weight,
		"guarantee", messages.FormatResources(settings.GetQuota().GetGuarantee()), "limit", messages.FormatResources(settings.GetQuota().GetLimit()),
		"rescinded_offers", rescinded)
	c.changed = true
	c.send(p.Endpoint, c.roles.Config())
}

// applyRole gives a role's settings to the allocator.
func (c *Core) applyRole(s *messages.RoleSettings) {
	c.toAllocator(&messages.AllocatorSetRole{Settings: s})
}

// RoleConfig is the role configuration in force.
func (c *Core) RoleConfig() *messages.RoleConfig { return c.roles.Config() }

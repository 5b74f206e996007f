// Package acl holds access control lists: which authenticated principal may
// do what to which object, in the manner of Mesos' ACLs. It is plain data:
// the master's core asks it, the shell loads it (from a file, or Consul KV
// with several masters) and hands a new one over when it changes.
//
// A list is enabled by configuring one; then anything it does not allow is
// denied. Each action has rules; a request is allowed when some rule names
// its principal (or "*") and its object (or "*"). A role object "eng/*"
// covers eng's descendants (not eng itself).
//
//	{
//	  "register_frameworks": [{"principals": ["alice"], "roles": ["eng", "eng/*"]}],
//	  "run_tasks":           [{"principals": ["alice"], "users": ["alice", "nobody"]}],
//	  "teardown_frameworks": [{"principals": ["ops"], "framework_principals": ["*"]}],
//	  "kill_tasks":          [{"principals": ["ops"], "framework_principals": ["*"]}],
//	  "update_roles":        [{"principals": ["ops"], "roles": ["*"]}],
//	  "view_state":          [{"principals": ["*"]}],
//	  "drain_agents":        [{"principals": ["ops"]}],
//	  "update_acls":         [{"principals": ["ops"]}]
//	}
//
// A framework always may tear itself down and kill its own tasks; the lists
// say who else may.
package acl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalid wraps every reason a list is refused.
var ErrInvalid = errors.New("invalid access control list")

// Action is what a principal asks to do.
type Action string

// The actions.
const (
	RegisterFramework Action = "register_frameworks" // object: a role the framework subscribes to
	RunTask           Action = "run_tasks"           // object: the user the task runs as
	TeardownFramework Action = "teardown_frameworks" // object: the framework's principal
	KillTask          Action = "kill_tasks"          // object: the task's framework's principal
	UpdateRole        Action = "update_roles"        // object: the role
	ViewState         Action = "view_state"          // object: none
	DrainAgent        Action = "drain_agents"        // object: none
	UpdateACLs        Action = "update_acls"         // object: none (replaces the list itself)
	// ReserveResources and UnreserveResources: object the role reserved
	// for (as Mesos' RESERVE_RESOURCES and UNRESERVE_RESOURCES, which take
	// the role since Mesos 1.2).
	ReserveResources   Action = "reserve_resources"
	UnreserveResources Action = "unreserve_resources"
	// CreateVolumes: object the role of the volume's reservation;
	// DestroyVolumes: object the principal that created the volume
	// (Mesos' CREATE_VOLUME and DESTROY_VOLUME).
	CreateVolumes  Action = "create_volumes"
	DestroyVolumes Action = "destroy_volumes"
)

// Rule allows its principals an action on its objects. Which object field
// counts depends on the action; an action without objects ignores them.
type Rule struct {
	Principals          []string `json:"principals"`
	Roles               []string `json:"roles,omitempty"`
	Users               []string `json:"users,omitempty"`
	FrameworkPrincipals []string `json:"framework_principals,omitempty"`
	CreatorPrincipals   []string `json:"creator_principals,omitempty"`
}

// List is a set of rules per action. The zero List (no list configured)
// allows everything; a List from Parse denies what it does not allow.
type List struct {
	enabled bool
	rules   map[Action][]Rule
}

// MaxRules bounds a list: it is read on every request it covers.
const MaxRules = 10_000

// Parse reads a list (JSON, as in the package doc). Unknown actions and
// fields are refused, so that a typo does not silently deny or allow.
func Parse(b []byte) (*List, error) {
	var raw map[Action][]Rule
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	n := 0
	for action, rules := range raw {
		if !known(action) {
			return nil, fmt.Errorf("%w: unknown action %q (known: %s)", ErrInvalid, action, strings.Join(actionNames(), ", "))
		}
		for i, r := range rules {
			if len(r.Principals) == 0 {
				return nil, fmt.Errorf("%w: %s rule %d names no principals (use \"*\" for any)", ErrInvalid, action, i)
			}
			if objects(action, r) == nil && action.hasObjects() {
				return nil, fmt.Errorf("%w: %s rule %d names no %s (use \"*\" for any)", ErrInvalid, action, i, action.objectName())
			}
		}
		n += len(rules)
	}
	if n > MaxRules {
		return nil, fmt.Errorf("%w: %d rules; at most %d", ErrInvalid, n, MaxRules)
	}
	return &List{enabled: true, rules: raw}, nil
}

// Enabled reports whether a list is configured (else everything is
// allowed).
func (l *List) Enabled() bool { return l != nil && l.enabled }

// Allows reports whether principal may do action on object.
func (l *List) Allows(principal string, action Action, object string) bool {
	if !l.Enabled() {
		return true
	}
	for _, r := range l.rules[action] {
		if matches(r.Principals, principal) && (!action.hasObjects() || matchesObject(action, objects(action, r), object)) {
			return true
		}
	}
	return false
}

func matches(names []string, name string) bool {
	return slices.Contains(names, "*") || slices.Contains(names, name)
}

func matchesObject(action Action, names []string, object string) bool {
	if matches(names, object) {
		return true
	}
	if !action.takesRoles() {
		return false
	}
	for _, n := range names {
		if parent, ok := strings.CutSuffix(n, "/*"); ok && strings.HasPrefix(object, parent+"/") {
			return true
		}
	}
	return false
}

func (a Action) takesRoles() bool {
	return a == RegisterFramework || a == UpdateRole || a == ReserveResources || a == UnreserveResources || a == CreateVolumes
}

func (a Action) hasObjects() bool { return a != ViewState && a != DrainAgent && a != UpdateACLs }

func (a Action) objectName() string {
	switch {
	case a.takesRoles():
		return "roles"
	case a == RunTask:
		return "users"
	case a == DestroyVolumes:
		return "creator_principals"
	}
	return "framework_principals"
}

func objects(a Action, r Rule) []string {
	switch {
	case a.takesRoles():
		return r.Roles
	case a == RunTask:
		return r.Users
	case a == TeardownFramework, a == KillTask:
		return r.FrameworkPrincipals
	case a == DestroyVolumes:
		return r.CreatorPrincipals
	}
	return nil
}

func known(a Action) bool { return slices.Contains(actionNames(), string(a)) }

func actionNames() []string {
	return []string{string(RegisterFramework), string(RunTask), string(TeardownFramework), string(KillTask),
		string(UpdateRole), string(ViewState), string(DrainAgent), string(UpdateACLs), string(ReserveResources), string(UnreserveResources),
		string(CreateVolumes), string(DestroyVolumes)}
}

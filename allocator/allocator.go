package allocator

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Allocator is an allocation policy. Implementations are not safe for
// concurrent use: one actor owns each.
type Allocator interface {
	// AddAgent adds an agent with nothing allocated.
	AddAgent(Agent) error
	// RemoveAgent forgets an agent and everything allocated on it.
	RemoveAgent(id string) error
	// DeactivateAgent stops offers of an agent to anybody (drained) and
	// ActivateAgent resumes them; what is allocated on it stays allocated
	// and counted in shares.
	DeactivateAgent(id string) error
	ActivateAgent(id string) error
	// AddFramework adds an active framework.
	AddFramework(Framework) error
	// RemoveFramework forgets a framework; its allocations return to the pool.
	RemoveFramework(id string) error
	// DeactivateFramework stops offers to a framework (disconnected) and
	// ActivateFramework resumes them; allocations stay.
	DeactivateFramework(id string) error
	ActivateFramework(id string) error
	// SetWeight sets a role's weight (default 1).
	SetWeight(role string, weight float64) error
	// SetQuota sets a role's guarantee and limit.
	SetQuota(role string, q Quota) error
	// Suppress stops offers to the framework for roles (all when none);
	// Revive resumes them and clears the framework's filters for them.
	Suppress(frameworkID string, roles ...string) error
	Revive(frameworkID string, roles ...string) error
	// SetDemand records what the framework is waiting for in roles (all
	// when none): in each batch interval (from one Allocate to the next)
	// it is offered agents until what it was granted in the interval
	// holds want, then no more until the next batch. A zero want removes
	// the bound. It is a hint that cuts offers nobody would use (a
	// framework waiting for five small tasks is not offered every free
	// agent), not a reservation: a framework that wants more than it said
	// gets the rest in later intervals.
	SetDemand(frameworkID string, want Scalars, roles ...string) error
	// Decline returns resources offered to a framework for role on an agent
	// and filters that agent for refuse (negative means the default).
	Decline(frameworkID, role, agentID string, r, revocable Resources, refuse time.Duration, now time.Time) error
	// ReturnUnused returns the part of an accepted offer the framework did
	// not use, filtering the agent for refuse (negative means the default)
	// without rotation.
	ReturnUnused(frameworkID, role, agentID string, r, revocable Resources, refuse time.Duration, now time.Time) error
	// Recover returns resources allocated to a framework for role on an
	// agent to the pool (tasks ended, offers rescinded) with no filter.
	Recover(frameworkID, role, agentID string, r, revocable Resources) error
	// Allocate runs a batch cycle over every agent.
	Allocate(now time.Time) []Grant
	// AllocateAgent allocates one agent's free resources (event-driven:
	// agent added, resources recovered). It does not count as a batch.
	AllocateAgent(agentID string, now time.Time) []Grant
	// ReturnReserved gives back resources reserved for role reservation
	// (Grant.Reservation) as Recover, Decline or ReturnUnused do with
	// unreserved ones.
	ReturnReserved(frameworkID, role, agentID, reservation string, r Resources, kind ReturnKind, refuse time.Duration, now time.Time) error
	// UpdateReservation reserves resources of an agent for role (RESERVE)
	// or unreserves them (UNRESERVE). With a framework they are allocated
	// to it under frameworkRole (offered) and stay allocated, moved between
	// the pools; without one (an operator) they must be free.
	UpdateReservation(agentID, role string, r Resources, unreserve bool, frameworkID, frameworkRole string) error
	// Transfer moves r, allocated on an agent to from (out of the
	// reservation for role reservation, or unreserved when it is empty),
	// to to: from is no longer charged for it, to is. Nothing is freed or
	// granted. to's role must be the reservation's or a descendant of it.
	// The master moves a shared volume's one charge so (the holder's last
	// task on it ended while others still use it).
	Transfer(agentID, reservation string, r Resources, from, to Holder) error
	// Shortfalls lists the roles with demand below their guarantee whose
	// unmet part exceeds what is free, least satisfied first.
	Shortfalls() []Shortfall
}

// Agent describes an agent to the allocator.
type Agent struct {
	ID         string
	Total      Resources
	Revocable  Resources
	Attributes map[string]string
	// Reserved is what is reserved for each role (static and dynamic
	// reservations alike); Total is the rest. Reserved resources are
	// offered only to their role and its descendants.
	Reserved map[string]Resources
	// Allocated is what is already in use on the agent (tasks found when it
	// re-registers); each must name a known framework and role.
	Allocated []Grant
	// Incarnation tells this admission of the agent from earlier ones;
	// grants carry it, so the caller can drop grants made on an agent
	// that was removed and added again while they were in flight.
	Incarnation uint64
}

// Framework describes a framework to the allocator.
type Framework struct {
	ID    string
	Roles []string
	// Revocable: the framework accepts revocable resources.
	Revocable bool
	// MinAllocatable overrides Options.MinAllocatable for this framework
	// when it is not nil; an empty (non-nil) list means any offer, however
	// small (Mesos' OfferFilters.MinAllocatableResources with no quantities).
	MinAllocatable []Scalars
	// Constraints and MinResources are the framework's offer preferences:
	// it is never offered an agent that does not meet them.
	Constraints  []Constraint
	MinResources Scalars
}

// Constraint requires an agent attribute to have one of Values.
type Constraint struct {
	Name   string
	Values []string
}

// Unlimited is a quota limit with no bound.
const Unlimited = math.MaxInt64

// Quota is a role's guarantee (served first) and limit (never exceeded).
type Quota struct {
	Guarantee Scalars
	Limit     Scalars
}

// NoLimit returns a quota with the given guarantee and no limit.
func NoLimit(guarantee Scalars) Quota {
	q := Quota{Guarantee: guarantee}
	for k := range q.Limit {
		q.Limit[k] = Unlimited
	}
	return q
}

// Grant is resources on one agent allocated to one framework for one role;
// the master turns it into an offer.
type Grant struct {
	FrameworkID string
	Role        string
	AgentID     string
	Resources   Resources
	Revocable   Resources
	// Incarnation of the agent the grant was made on (Agent.Incarnation).
	Incarnation uint64
	// AsRevocable: Resources (taken from the agent's regular pool) are
	// offered as revocable, because the role already holds its guarantee
	// or fair share (Options.RevocableAbove). Tasks on them are preempted
	// first.
	AsRevocable bool
	// Reservation is the role Resources are reserved for (Role or an
	// ancestor of it); empty for unreserved resources.
	Reservation string
}

// DefaultRefuse is the filter a decline installs when none is given.
const DefaultRefuse = 5 * time.Second

// Options configure a policy.
type Options struct {
	// MinAllocatable: an offer must hold at least one of these (each a
	// set of minimums). Nil means the default, cpus:0.01 or mem:32, as in
	// Mesos; an empty (non-nil) list means any offer, however small. An
	// empty offer is never made.
	MinAllocatable []Scalars
	// ExcludedFromShare kinds do not count in dominant shares (gpus, so
	// that scarce GPUs do not dominate a framework's share).
	ExcludedFromShare []Kind
	// Seed makes the order of agents (shuffled, or equally full) reproducible.
	Seed int64
	// RevocableAbove: what a framework with the revocable capability is
	// given beyond this point is offered as revocable (default never).
	RevocableAbove RevocableAbove
}

// RevocableAbove is the point past which a role's allocation is offered as
// revocable to frameworks that accept revocable resources.
type RevocableAbove string

// Values of RevocableAbove.
const (
	// RevocableNever offers regular resources as regular.
	RevocableNever RevocableAbove = ""
	// RevocableAboveGuarantee: once a role (and each ancestor with a
	// guarantee) holds its guarantee; a role without one from the start.
	RevocableAboveGuarantee RevocableAbove = "guarantee"
	// RevocableAboveFairShare: once a role's dominant share reaches its
	// weighted fair share among the roles with demand.
	RevocableAboveFairShare RevocableAbove = "fair-share"
)

// ParseRevocableAbove reads a flag value: never, guarantee or fair-share.
func ParseRevocableAbove(s string) (RevocableAbove, error) {
	switch s {
	case "", "never", "none":
		return RevocableNever, nil
	case string(RevocableAboveGuarantee), string(RevocableAboveFairShare):
		return RevocableAbove(s), nil
	}
	return "", fmt.Errorf("%w: revocable-above %q: want never, guarantee or fair-share", ErrInvalid, s)
}

// Shortfall is what a role with demand still lacks of its guarantee that
// the free resources of the cluster cannot cover: what reclamation must
// free for it.
type Shortfall struct {
	Role string
	Need Scalars
}

// DefaultMinAllocatable is cpus:0.01 or mem:32.
func DefaultMinAllocatable() []Scalars {
	var cpus, mem Scalars
	cpus[CPUs] = ToMilli(0.01)
	mem[Mem] = ToMilli(32)
	return []Scalars{cpus, mem}
}

// Factory builds a policy.
type Factory func(Options) Allocator

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a policy available under name (for --allocator).
func Register(name string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("allocator: policy registered twice: " + name)
	}
	registry[name] = f
}

// New builds the policy registered under name.
func New(name string, opts Options) (Allocator, error) {
	registryMu.RLock()
	f, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q; known: %v", ErrUnknownPolicy, name, Names())
	}
	return f(opts), nil
}

// Names lists the registered policies.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func init() {
	Register("drf", func(o Options) Allocator { return NewHierarchical(o, PlaceShuffled) })
	Register("binpack", func(o Options) Allocator { return NewHierarchical(o, PlaceBinpack) })
	Register("spread", func(o Options) Allocator { return NewHierarchical(o, PlaceSpread) })
}

package master

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// More sentinel errors of the books.
var (
	ErrUnknownFramework = errors.New("unknown framework")
	ErrInvalidFramework = errors.New("invalid framework")
	ErrFrameworkRemoved = errors.New("framework was removed: register a new one")
	ErrInvalidOffers    = errors.New("invalid offers")
	ErrUnknownTask      = errors.New("unknown task")
)

// DefaultFailoverTimeout is how long a disconnected framework's tasks keep
// running when its FrameworkInfo names none. Mesos' default of 0 kills
// every task after a blip (Spark #18674); a week is what its docs advise.
const DefaultFailoverTimeout = 7 * 24 * time.Hour

type frameworkRecord struct {
	info        *messages.FrameworkInfo
	connected   bool
	tearingDown bool
	// gen counts disconnections, so a stale failover timer is ignored.
	gen    uint64
	tasks  map[string]*taskRecord // live: not terminal, or terminal and unacknowledged
	offers map[string]*offerRecord
	used   policy.Resources // resources of live tasks
	// states counts tasks by state, kept as tasks change so that a state
	// snapshot does not walk every task.
	states map[messages.TaskState]uint32
}

// roleTally is what a role's live tasks hold, kept as tasks change.
type roleTally struct {
	used, revocable policy.Resources
	tasks           uint32
}

// tally adds (or removes) a live task to its role's tally.
func (b *Books) tally(t *taskRecord, add bool) {
	r := b.roles[t.task.Role]
	if r == nil {
		r = &roleTally{}
		b.roles[t.task.Role] = r
	}
	rev := policy.Resources{}
	if t.task.Revocable {
		rev = t.res.Add(t.rev)
	}
	if add {
		r.used, r.revocable, r.tasks = r.used.Add(t.res), r.revocable.Add(rev), r.tasks+1
		return
	}
	r.used, r.revocable, r.tasks = r.used.Sub(t.res), r.revocable.Sub(rev), r.tasks-1
	if r.tasks == 0 {
		delete(b.roles, t.task.Role)
	}
}

func (f *frameworkRecord) count(s messages.TaskState, delta int) {
	n := int(f.states[s]) + delta
	if n <= 0 {
		delete(f.states, s)
		return
	}
	f.states[s] = uint32(n)
}

func (f *frameworkRecord) id() string { return f.info.GetId().GetValue() }

type offerRecord struct {
	id, frameworkID, agentID, role string
	res, rev                       policy.Resources
	// asRev: res is offered as revocable (policy.Grant.AsRevocable).
	asRev   bool
	expires time.Time
}

type taskRecord struct {
	task *messages.Task
	// res is taken from the agent's regular pool (also when it was offered
	// as revocable: task.Revocable), rev from its revocable pool.
	res, rev policy.Resources
	launched time.Time
}

func (t *taskRecord) frameworkID() string { return t.task.FrameworkId.GetValue() }
func (t *taskRecord) agentID() string     { return t.task.AgentId.GetValue() }
func (t *taskRecord) id() string          { return t.task.TaskId.GetValue() }

type taskKey struct{ framework, task string }

func (k taskKey) compare(o taskKey) int {
	if c := strings.Compare(k.framework, o.framework); c != 0 {
		return c
	}
	return strings.Compare(k.task, o.task)
}

// ordered returns m's values in key order. What the master sends while
// walking its books must not follow Go's random map order: a simulation
// on one thread is then replayed message for message from its seed.
func ordered[K comparable, V any](m map[K]V, compare func(a, b K) int) []V {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	out := make([]V, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// FailoverTimeout is the framework's failover timeout, or the default.
func failoverTimeout(info *messages.FrameworkInfo) time.Duration {
	if info.FailoverTimeoutNanos > 0 {
		return time.Duration(info.FailoverTimeoutNanos)
	}
	return DefaultFailoverTimeout
}

func validRoleName(role string) bool {
	return role != "" && !strings.HasPrefix(role, "/") && !strings.HasSuffix(role, "/") &&
		!strings.Contains(role, "//") && !strings.ContainsAny(role, " \t\n") && role != "." && role != ".."
}

func validateFrameworkInfo(info *messages.FrameworkInfo) error {
	if info == nil {
		return fmt.Errorf("%w: no FrameworkInfo", ErrInvalidFramework)
	}
	if info.Name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidFramework)
	}
	if len(info.Roles) == 0 {
		return fmt.Errorf("%w: no roles; subscribe with at least one, such as \"default\"", ErrInvalidFramework)
	}
	for _, r := range info.Roles {
		if !validRoleName(r) {
			return fmt.Errorf("%w: role %q: want names separated by /, such as eng/ml", ErrInvalidFramework, r)
		}
	}
	if info.FailoverTimeoutNanos < 0 {
		return fmt.Errorf("%w: negative failover timeout", ErrInvalidFramework)
	}
	if err := messages.ValidateResources(info.MinAllocatable); err != nil {
		return fmt.Errorf("%w: min_allocatable: %w", ErrInvalidFramework, err)
	}
	if _, _, err := policy.FromMessages(info.GetPreferences().GetMinResources()); err != nil {
		return fmt.Errorf("%w: preferences: %w", ErrInvalidFramework, err)
	}
	return nil
}

// PolicyFramework converts a FrameworkInfo for the allocator.
func PolicyFramework(info *messages.FrameworkInfo) policy.Framework {
	f := policy.Framework{ID: info.GetId().GetValue(), Roles: info.Roles}
	for _, c := range info.Capabilities {
		if c == messages.Capability_REVOCABLE_RESOURCES {
			f.Revocable = true
		}
	}
	if len(info.MinAllocatable) > 0 {
		min, _, _ := policy.FromMessages(info.MinAllocatable)
		f.MinAllocatable = []policy.Scalars{min.Scalars}
	}
	for _, c := range info.GetPreferences().GetConstraints() {
		f.Constraints = append(f.Constraints, policy.Constraint{Name: c.Name, Values: c.Values})
	}
	mr, _, _ := policy.FromMessages(info.GetPreferences().GetMinResources())
	f.MinResources = mr.Scalars
	return f
}

// Subscribe admits a framework: a new one (no ID) gets "<master>-F<n>"; one
// with an ID is re-admitted (scheduler failover, or a new leader). It
// returns the framework's ID and whether it was known.
func (b *Books) Subscribe(info *messages.FrameworkInfo, session string) (string, bool, error) {
	if err := validateFrameworkInfo(info); err != nil {
		return "", false, err
	}
	info = proto.Clone(info).(*messages.FrameworkInfo)
	id := info.GetId().GetValue()
	if prior, ok := b.frameworkSessions[session]; ok && id == "" && session != "" {
		id = prior // a retry of a subscription already taken
		info.Id = &messages.FrameworkID{Value: id}
	}
	if id == "" {
		b.nextFramework++
		id = fmt.Sprintf("%s-F%d", b.masterID, b.nextFramework)
		info.Id = &messages.FrameworkID{Value: id}
		if session != "" {
			b.frameworkSessions[session] = id
		}
	}
	if b.removedFrameworks[id] {
		return "", false, fmt.Errorf("framework %s: %w", id, ErrFrameworkRemoved)
	}
	if f, ok := b.frameworks[id]; ok {
		if f.tearingDown {
			return "", false, fmt.Errorf("framework %s: %w", id, ErrFrameworkRemoved)
		}
		if !sameRoles(f.info.Roles, info.Roles) {
			return "", false, fmt.Errorf("%w: framework %s cannot change its roles on re-subscription (had %v)", ErrInvalidFramework, id, f.info.Roles)
		}
		f.info, f.connected = info, true
		return id, true, nil
	}
	b.frameworks[id] = &frameworkRecord{info: info, connected: true, tasks: map[string]*taskRecord{}, offers: map[string]*offerRecord{}, states: map[messages.TaskState]uint32{}}
	return id, false, nil
}

func sameRoles(a, b []string) bool {
	x, y := append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	return strings.Join(x, "\x00") == strings.Join(y, "\x00")
}

// Framework returns a framework's record.
func (b *Books) framework(id string) (*frameworkRecord, error) {
	f, ok := b.frameworks[id]
	if !ok {
		if b.removedFrameworks[id] {
			return nil, fmt.Errorf("framework %s: %w", id, ErrFrameworkRemoved)
		}
		return nil, fmt.Errorf("framework %s: %w", id, ErrUnknownFramework)
	}
	return f, nil
}

// disconnect marks a framework disconnected and returns its generation.
func (b *Books) disconnect(id string) (uint64, bool) {
	f, ok := b.frameworks[id]
	if !ok || !f.connected {
		return 0, false
	}
	f.connected = false
	f.gen++
	return f.gen, true
}

// removeFramework forgets a framework for good; its ID cannot come back.
func (b *Books) removeFramework(id string) {
	if f, ok := b.frameworks[id]; ok {
		for _, t := range f.tasks {
			if !messages.IsTerminal(t.task.State) {
				b.tally(t, false)
			}
		}
	}
	delete(b.frameworks, id)
	b.removedFrameworks[id] = true
}

// addOffer records a grant as an offer.
func (b *Books) addOffer(g policy.Grant, expires time.Time) *offerRecord {
	b.nextOffer++
	o := &offerRecord{
		id: b.masterID + "-O" + strconv.FormatUint(b.nextOffer, 10), frameworkID: g.FrameworkID, agentID: g.AgentID, role: g.Role,
		res: g.Resources, rev: g.Revocable, asRev: g.AsRevocable, expires: expires,
	}
	b.offers[o.id] = o
	b.frameworks[g.FrameworkID].offers[o.id] = o
	b.agents[g.AgentID].offers[o.id] = o
	return o
}

func (b *Books) removeOffer(o *offerRecord) {
	delete(b.offers, o.id)
	if f, ok := b.frameworks[o.frameworkID]; ok {
		delete(f.offers, o.id)
	}
	if a, ok := b.agents[o.agentID]; ok {
		delete(a.offers, o.id)
	}
}

// takeOffers removes and returns the offers an accept or decline names.
// They must exist, belong to the framework, be distinct, and (for accept)
// lie on one agent under one role. On error nothing is taken... except
// that valid offers named by an invalid call are returned in taken, so the
// caller can give their resources back (Mesos does the same).
func (b *Books) takeOffers(frameworkID string, ids []*messages.OfferID, oneAgent bool) (taken []*offerRecord, err error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no offer IDs", ErrInvalidOffers)
	}
	seen := map[string]bool{}
	var problems []string
	for _, oid := range ids {
		id := oid.GetValue()
		o, ok := b.offers[id]
		switch {
		case seen[id]:
			problems = append(problems, fmt.Sprintf("offer %s named twice", id))
			continue
		case !ok:
			problems = append(problems, fmt.Sprintf("offer %s is unknown (rescinded, expired or already used)", id))
			continue
		case o.frameworkID != frameworkID:
			problems = append(problems, fmt.Sprintf("offer %s belongs to another framework", id))
			continue
		}
		seen[id] = true
		taken = append(taken, o)
	}
	if oneAgent && len(taken) > 1 {
		for _, o := range taken[1:] {
			if o.agentID != taken[0].agentID {
				problems = append(problems, fmt.Sprintf("offers %s and %s are on different agents", taken[0].id, o.id))
				break
			}
			if o.role != taken[0].role {
				problems = append(problems, fmt.Sprintf("offers %s and %s are for different roles", taken[0].id, o.id))
				break
			}
		}
	}
	for _, o := range taken {
		b.removeOffer(o)
	}
	if len(problems) > 0 {
		return taken, fmt.Errorf("%w: %s", ErrInvalidOffers, strings.Join(problems, "; "))
	}
	return taken, nil
}

// validateTask checks one task of an accept against what is left of the
// offered resources and returns its resources.
func (b *Books) validateTask(f *frameworkRecord, agentID string, t *messages.TaskInfo, launching map[string]bool, left policy.Resources) (policy.Resources, policy.Resources, error) {
	id := t.GetTaskId().GetValue()
	switch {
	case id == "":
		return left, left, errors.New("task has no ID")
	case f.tasks[id] != nil:
		return left, left, fmt.Errorf("task ID %s is already used by a live task of this framework", id)
	case launching[id]:
		return left, left, fmt.Errorf("task ID %s appears twice in this accept", id)
	case t.AgentId != nil && t.AgentId.Value != "" && t.AgentId.Value != agentID:
		return left, left, fmt.Errorf("task names agent %s but the offers are on %s", t.AgentId.Value, agentID)
	}
	given := 0
	if t.Command != nil && t.Command.Value != "" {
		given++
	}
	if t.Executor != nil {
		given++
	}
	docker := t.Container != nil && t.Container.Type == messages.ContainerInfo_DOCKER
	if given == 0 && !docker {
		return left, left, errors.New("task has no command, container or executor: give one")
	}
	if t.Command != nil && t.Executor != nil {
		return left, left, errors.New("task has both a command and an executor: give one")
	}
	res, rev, err := policy.FromMessages(t.Resources)
	if err != nil {
		return left, left, err
	}
	if res.IsEmpty() && rev.IsEmpty() {
		return left, left, errors.New("task asks for no resources: give at least cpus or mem")
	}
	if !left.Contains(res) {
		return left, left, fmt.Errorf("task asks for %s but only %s is left of the offers", res, left)
	}
	return res, rev, nil
}

// addTask records a launched task as STAGING.
func (b *Books) addTask(f *frameworkRecord, agentID, role string, info *messages.TaskInfo, res, rev policy.Resources, revocable bool, now time.Time) *taskRecord {
	t := &taskRecord{
		task: &messages.Task{
			Name: info.Name, TaskId: info.TaskId, FrameworkId: f.info.Id, AgentId: &messages.AgentID{Value: agentID},
			ExecutorId: info.GetExecutor().GetExecutorId(), State: messages.TaskState_TASK_STAGING,
			Resources: info.Resources, Role: role, Revocable: revocable || !rev.IsEmpty(),
			LatestStatus: &messages.TaskStatus{TaskId: info.TaskId, State: messages.TaskState_TASK_STAGING, AgentId: &messages.AgentID{Value: agentID}, TimestampUnixNano: now.UnixNano()},
		},
		res: res, rev: rev, launched: now,
	}
	f.tasks[t.id()] = t
	f.used = f.used.Add(res)
	f.count(messages.TaskState_TASK_STAGING, 1)
	b.tally(t, true)
	b.agents[agentID].tasks[taskKey{f.id(), t.id()}] = t
	return t
}

// updateTask applies a status from an agent. It returns the task and
// whether this update made it terminal (its resources are free now).
func (b *Books) updateTask(frameworkID string, st *messages.TaskStatus) (*taskRecord, bool, error) {
	f, err := b.framework(frameworkID)
	if err != nil {
		return nil, false, err
	}
	t, ok := f.tasks[st.GetTaskId().GetValue()]
	if !ok {
		return nil, false, fmt.Errorf("framework %s task %s: %w", frameworkID, st.GetTaskId().GetValue(), ErrUnknownTask)
	}
	if !messages.CanTransition(t.task.State, st.State) {
		if st.State == t.task.State && messages.IsTerminal(st.State) && len(t.task.LatestStatus.GetUuid()) == 0 && len(st.Uuid) > 0 {
			// The agent's own update of an end settled from its
			// re-registration: acknowledging it forgets the task.
			t.task.LatestStatus = st
		}
		return t, false, nil // a late or duplicate update: keep what we know
	}
	wasTerminal := messages.IsTerminal(t.task.State)
	f.count(t.task.State, -1)
	f.count(st.State, 1)
	t.task.State = st.State
	t.task.LatestStatus = st
	if !wasTerminal && messages.IsTerminal(st.State) {
		f.used = f.used.Sub(t.res)
		b.tally(t, false)
		return t, true, nil
	}
	return t, false, nil
}

// forgetTask drops a task whose terminal update was acknowledged.
func (b *Books) forgetTask(t *taskRecord) {
	if f, ok := b.frameworks[t.frameworkID()]; ok {
		if _, live := f.tasks[t.id()]; live {
			f.count(t.task.State, -1)
			if !messages.IsTerminal(t.task.State) {
				f.used = f.used.Sub(t.res)
				b.tally(t, false)
			}
		}
		delete(f.tasks, t.id())
		if messages.IsTerminal(t.task.State) {
			b.remember(t.task)
		}
	}
	if a, ok := b.agents[t.agentID()]; ok {
		delete(a.tasks, taskKey{t.frameworkID(), t.id()})
	}
}

// settle records a terminal state an agent reported for a task when it
// re-registered; the agent's status update tells the framework.
func (b *Books) settle(t *taskRecord, state messages.TaskState) {
	f := b.frameworks[t.frameworkID()]
	if f == nil || messages.IsTerminal(t.task.State) {
		return
	}
	f.count(t.task.State, -1)
	f.count(state, 1)
	t.task.State = state
	t.task.LatestStatus = &messages.TaskStatus{TaskId: t.task.TaskId, State: state, AgentId: t.task.AgentId}
	f.used = f.used.Sub(t.res)
	b.tally(t, false)
}

// adoptFramework records a framework learned from an agent's
// re-registration (a new leader after failover): disconnected until its
// scheduler subscribes again. It returns the record and its generation for
// the failover timer.
func (b *Books) adoptFramework(info *messages.FrameworkInfo) (*frameworkRecord, uint64) {
	f := &frameworkRecord{info: proto.Clone(info).(*messages.FrameworkInfo), gen: 1, tasks: map[string]*taskRecord{}, offers: map[string]*offerRecord{}, states: map[messages.TaskState]uint32{}}
	b.frameworks[info.GetId().GetValue()] = f
	return f, f.gen
}

// adoptTask records a task an agent reports that the books do not know. It
// takes t: a received message belongs to its receiver.
func (b *Books) adoptTask(f *frameworkRecord, a *agentRecord, t *messages.Task, res, rev policy.Resources, now time.Time) *taskRecord {
	task := t
	task.AgentId = a.info.Id
	task.FrameworkId = f.info.Id
	task.LatestStatus = &messages.TaskStatus{TaskId: t.TaskId, State: t.State, AgentId: a.info.Id, TimestampUnixNano: now.UnixNano()}
	rec := &taskRecord{task: task, res: res, rev: rev, launched: now}
	f.tasks[rec.id()] = rec
	f.used = f.used.Add(res)
	f.count(task.State, 1)
	b.tally(rec, true)
	a.tasks[taskKey{f.id(), rec.id()}] = rec
	return rec
}

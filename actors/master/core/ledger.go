package core

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

// The books' accounts of frameworks, offers and tasks. Every change of a
// task's state goes through setState, which refuses what the task state
// machine (messages.CanTransition) refuses.

// DefaultFailoverTimeout is how long a disconnected framework's tasks keep
// running when its FrameworkInfo names none. Mesos' default of 0 kills
// every task after a blip (Spark #18674); a week is what its docs advise.
const DefaultFailoverTimeout = 7 * 24 * time.Hour

// failoverTimeoutOf is the framework's failover timeout, or the default.
func failoverTimeoutOf(info *messages.FrameworkInfo) time.Duration {
	if info.FailoverTimeoutNanos > 0 {
		return time.Duration(info.FailoverTimeoutNanos)
	}
	return DefaultFailoverTimeout
}

// ValidRoleName reports whether messages.ValidateRoleName takes role.
func ValidRoleName(role string) bool { return messages.ValidateRoleName(role) == nil }

// ValidateFrameworkInfo checks a subscription's FrameworkInfo: name, roles
// (messages.ValidateRoleName), IDs, principal, hostname and sizes. Pure: a
// fuzz target may drive it.
func ValidateFrameworkInfo(info *messages.FrameworkInfo) error {
	if info == nil {
		return fmt.Errorf("%w: no FrameworkInfo", ErrInvalidFramework)
	}
	if info.Name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidFramework)
	}
	if len(info.Roles) == 0 {
		return fmt.Errorf("%w: no roles; subscribe with at least one, such as \"default\"", ErrInvalidFramework)
	}
	if len(info.Roles) > messages.MaxRolesPerFramework {
		return fmt.Errorf("%w: %d roles, over the limit of %d", ErrInvalidFramework, len(info.Roles), messages.MaxRolesPerFramework)
	}
	for _, r := range info.Roles {
		if err := messages.ValidateRoleName(r); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidFramework, err)
		}
	}
	if len(info.Name) > messages.MaxNameLength || len(info.User) > messages.MaxIDLength {
		return fmt.Errorf("%w: name or user too long (at most %d and %d bytes)", ErrInvalidFramework, messages.MaxNameLength, messages.MaxIDLength)
	}
	if id := info.GetId().GetValue(); id != "" {
		if err := messages.ValidateID("framework ID", id); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidFramework, err)
		}
	}
	if p := info.GetPrincipal(); p != "" {
		if err := messages.ValidateID("principal", p); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidFramework, err)
		}
	}
	if h := info.GetHostname(); h != "" {
		if err := messages.ValidateHostname(h); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidFramework, err)
		}
	}
	if info.FailoverTimeoutNanos < 0 {
		return fmt.Errorf("%w: negative failover timeout", ErrInvalidFramework)
	}
	if _, err := policy.FromMinAllocatable(info.MinAllocatable); err != nil {
		return fmt.Errorf("%w: min_allocatable: %w", ErrInvalidFramework, err)
	}
	if _, _, err := policy.FromMessages(info.GetPreferences().GetMinResources()); err != nil {
		return fmt.Errorf("%w: preferences: %w", ErrInvalidFramework, err)
	}
	return nil
}

// frameworkNumber reads the number of a framework ID this master issued.
func (b *Books) frameworkNumber(id string) (uint64, bool) {
	rest, ok := strings.CutPrefix(id, b.masterID+"-F")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// removed reports whether a framework was torn down for good.
func (b *Books) removed(id string) bool {
	if _, live := b.frameworks[id]; live {
		return false
	}
	if n, ours := b.frameworkNumber(id); ours {
		return n >= 1 && n <= b.nextFramework
	}
	return b.removedElsewhere.has(id)
}

// subscribeRetried reports whether a subscription with session is a retry
// of one taken.
func (b *Books) subscribeRetried(session string) bool {
	_, ok := b.frameworkSessions[session]
	return ok && session != ""
}

// subscribe admits a framework: a new one (no ID) gets "<master>-F<n>"; one
// with an ID is re-admitted (scheduler failover, or a new leader). It
// returns the framework's record and whether it was known.
func (b *Books) subscribe(info *messages.FrameworkInfo, session string) (*frameworkRecord, bool, error) {
	if err := ValidateFrameworkInfo(info); err != nil {
		return nil, false, err
	}
	info = proto.Clone(info).(*messages.FrameworkInfo)
	id := info.GetId().GetValue()
	if prior, ok := b.frameworkSessions[session]; ok && id == "" && session != "" {
		id = prior // a retry of a subscription already taken
		info.Id = &messages.FrameworkID{Value: id}
	}
	if id == "" {
		b.nextFramework++
		id = b.masterID + "-F" + strconv.FormatUint(b.nextFramework, 10)
		info.Id = &messages.FrameworkID{Value: id}
		if session != "" {
			b.frameworkSessions[session] = id
		}
		f := &frameworkRecord{info: info, tasks: map[string]*taskRecord{}, offers: map[string]*offerRecord{}, states: map[messages.TaskState]uint32{}, session: session}
		b.frameworks[id] = f
		return f, false, nil
	}
	if n, ours := b.frameworkNumber(id); ours && (n == 0 || n > b.nextFramework) {
		// This master hands out its framework IDs; one it never issued is
		// a made-up ID, which would otherwise block the framework that
		// later gets it.
		return nil, false, fmt.Errorf("%w: framework ID %s was never issued: subscribe without an ID to get one", ErrInvalidFramework, id)
	}
	if b.removed(id) {
		return nil, false, fmt.Errorf("framework %s: %w", id, ErrFrameworkRemoved)
	}
	if f, ok := b.frameworks[id]; ok {
		if f.tearingDown {
			return nil, false, fmt.Errorf("framework %s: %w", id, ErrFrameworkRemoved)
		}
		if !sameRoles(f.info.Roles, info.Roles) {
			return nil, false, fmt.Errorf("%w: framework %s cannot change its roles on re-subscription (had %v)", ErrInvalidFramework, id, f.info.Roles)
		}
		f.info = info
		return f, true, nil
	}
	f := &frameworkRecord{info: info, tasks: map[string]*taskRecord{}, offers: map[string]*offerRecord{}, states: map[messages.TaskState]uint32{}, session: session}
	b.frameworks[id] = f
	return f, false, nil
}

func sameRoles(a, b []string) bool {
	x, y := append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	return strings.Join(x, "\x00") == strings.Join(y, "\x00")
}

// framework returns a framework's record.
func (b *Books) framework(id string) (*frameworkRecord, error) {
	f, ok := b.frameworks[id]
	if !ok {
		if b.removed(id) {
			return nil, fmt.Errorf("framework %s: %w", id, ErrFrameworkRemoved)
		}
		return nil, fmt.Errorf("framework %s: %w", id, ErrUnknownFramework)
	}
	return f, nil
}

// removeFramework forgets a framework for good; its ID cannot come back.
func (b *Books) removeFramework(id string) {
	f, ok := b.frameworks[id]
	if !ok {
		return
	}
	for _, t := range f.tasks {
		if !messages.IsTerminal(t.task.State) {
			b.tally(t, false)
		}
	}
	if b.frameworkSessions[f.session] == id {
		delete(b.frameworkSessions, f.session)
	}
	b.dropExecutors("", id)
	delete(b.frameworks, id)
	if _, ours := b.frameworkNumber(id); !ours {
		b.removedElsewhere.add(id, RemovedFrameworks)
	}
}

// adoptFramework records a framework learned from an agent's
// re-registration (a new leader after failover): disconnected until its
// scheduler subscribes again.
func (b *Books) adoptFramework(info *messages.FrameworkInfo) *frameworkRecord {
	f := &frameworkRecord{info: proto.Clone(info).(*messages.FrameworkInfo), gen: 1, tasks: map[string]*taskRecord{}, offers: map[string]*offerRecord{}, states: map[messages.TaskState]uint32{}}
	b.frameworks[info.GetId().GetValue()] = f
	return f
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
	if r.tasks == 0 && r.executors == 0 {
		delete(b.roles, t.task.Role)
	}
}

// addOffer records a grant as an offer.
func (b *Books) addOffer(g policy.Grant, made, expires time.Time) *offerRecord {
	b.nextOffer++
	// masterID-O<n> built in one allocation (a concatenation with
	// FormatUint's string was two per offer).
	var buf [64]byte
	id := strconv.AppendUint(append(append(buf[:0], b.masterID...), "-O"...), b.nextOffer, 10)
	o := &offerRecord{
		id: string(id), frameworkID: g.FrameworkID, agentID: g.AgentID, role: g.Role,
		res: g.Resources, rev: g.Revocable, asRev: g.AsRevocable, made: made, expires: expires, resv: g.Reservation,
		seq: b.nextOffer,
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
// lie on one agent under one role. On error the valid offers named are
// still taken and returned, so the caller can give their resources back
// (Mesos does the same).
func (b *Books) takeOffers(frameworkID string, ids []*messages.OfferID, oneAgent bool) (taken []*offerRecord, err error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no offer IDs", ErrInvalidOffers)
	}
	seen := make(map[string]bool, len(ids))
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
	if len(problems) > maxProblems {
		// The answer stays small however many IDs a caller makes up.
		problems = append(problems[:maxProblems], fmt.Sprintf("and %d more", len(problems)-maxProblems))
	}
	if len(problems) > 0 {
		return taken, fmt.Errorf("%w: %s", ErrInvalidOffers, strings.Join(problems, "; "))
	}
	return taken, nil
}

// maxProblems bounds the problems an error lists.
const maxProblems = 10

// validateTask checks one task of an accept against what is left of the
// offered resources and returns its resources.
func validateTask(f *frameworkRecord, agentID string, t *messages.TaskInfo, launching map[string]bool, left policy.Resources) (res, rev, resv policy.Resources, resvRole string, err error) {
	if err := messages.ValidateTaskInfo(t); err != nil {
		return left, left, resv, "", err
	}
	id := t.GetTaskId().GetValue()
	switch {
	case f.tasks[id] != nil:
		return left, left, resv, "", fmt.Errorf("task ID %s is already used by a live task of this framework", id)
	case launching[id]:
		return left, left, resv, "", fmt.Errorf("task ID %s appears twice in this accept", id)
	case t.AgentId != nil && t.AgentId.Value != "" && t.AgentId.Value != agentID:
		return left, left, resv, "", fmt.Errorf("task names agent %s but the offers are on %s", t.AgentId.Value, agentID)
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
		return left, left, resv, "", errors.New("task has no command, container or executor: give one")
	}
	if t.Command != nil && t.Executor != nil {
		return left, left, resv, "", errors.New("task has both a command and an executor: give one")
	}
	res, rev, resv, resvRole, err = taskResources(t.Resources)
	if err != nil {
		return left, left, resv, "", err
	}
	if res.IsEmpty() && rev.IsEmpty() && resv.IsEmpty() {
		return left, left, resv, "", errors.New("task asks for no resources: give at least cpus or mem")
	}
	if !left.Contains(res) {
		return left, left, resv, "", fmt.Errorf("task asks for %s but only %s is left of the offers", res, left)
	}
	return res, rev, resv, resvRole, nil
}

// addTask records a launched task as STAGING.
func (b *Books) addTask(f *frameworkRecord, agentID, role string, info *messages.TaskInfo, res, rev policy.Resources, revocable bool, now time.Time) *taskRecord {
	aid := &messages.AgentID{Value: agentID}
	t := &taskRecord{
		task: &messages.Task{
			Name: info.Name, TaskId: &messages.TaskID{Value: info.TaskId.GetValue()}, FrameworkId: f.info.Id, AgentId: aid,
			ExecutorId: cloneExecutorID(info.GetExecutor().GetExecutorId()), State: messages.TaskState_TASK_STAGING,
			Resources: append(res.ToMessages(false), rev.ToMessages(true)...), Role: role, Revocable: revocable || !rev.IsEmpty(),
			LatestStatus: &messages.TaskStatus{TaskId: &messages.TaskID{Value: info.TaskId.GetValue()}, State: messages.TaskState_TASK_STAGING, AgentId: aid, TimestampUnixNano: now.UnixNano()},
		},
		res: res, rev: rev, launched: now,
	}
	t.task.Statuses = []*messages.TaskStatus{t.task.LatestStatus}
	f.tasks[t.id()] = t
	f.used = f.used.Add(res)
	f.count(messages.TaskState_TASK_STAGING, 1)
	b.tally(t, true)
	a := b.agents[agentID]
	a.hold(taskKey{f.id(), t.id()}, t)
	a.used = a.used.Add(res)
	return t
}

// setState is the only way a task's state changes: it refuses what the
// task state machine refuses (a late or duplicate update keeps what is
// known) and keeps the accounts: a task that ends gives its resources back
// to its framework's and role's tallies. It returns whether the state
// changed and whether the task ended with this change.
func (b *Books) setState(t *taskRecord, st *messages.TaskStatus) (changed, ended bool) {
	if !messages.CanTransition(t.task.State, st.State) {
		return false, false
	}
	f := b.frameworks[t.frameworkID()]
	wasTerminal := messages.IsTerminal(t.task.State)
	if f != nil {
		f.count(t.task.State, -1)
		f.count(st.State, 1)
	}
	if a, ok := b.agents[t.agentID()]; ok && a.tasks[taskKey{t.frameworkID(), t.id()}] == t {
		a.count(t.task.State, -1)
		a.count(st.State, 1)
	}
	if st.State != t.task.State {
		t.task.Statuses = appendStatus(t.task.Statuses, st)
	}
	t.task.State = st.State
	t.task.LatestStatus = st
	if !wasTerminal && messages.IsTerminal(st.State) {
		if f != nil {
			f.used = f.used.Sub(t.res)
		}
		b.tally(t, false)
		if a, ok := b.agents[t.agentID()]; ok {
			a.used = a.used.Sub(t.held())
			t.freed, t.moved = b.releaseShared(a, t)
		}
		return true, true
	}
	return true, false
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
		k := taskKey{t.frameworkID(), t.id()}
		if held, ok := a.tasks[k]; ok {
			if !messages.IsTerminal(t.task.State) {
				a.used = a.used.Sub(t.held())
			}
			a.count(held.task.State, -1)
		}
		delete(a.tasks, k)
	}
}

// adoptTask records a task an agent reports that the books do not know,
// in the next place of slab (nil: allocated on its own).
func (b *Books) adoptTask(f *frameworkRecord, a *agentRecord, reported *messages.Task, res, rev policy.Resources, now time.Time, slab *taskSlab) *taskRecord {
	rec, t, status, history := slab.take()
	fillAdopted(t, reported)
	t.AgentId = a.info.Id
	t.FrameworkId = f.info.Id
	status.TaskId, status.State, status.AgentId, status.TimestampUnixNano = t.TaskId, t.State, a.info.Id, now.UnixNano()
	t.LatestStatus = status
	// What the agent says of the task's past is not kept: the history
	// starts here, bounded by the master.
	history[0] = status
	t.Statuses = history
	rec.task, rec.res, rec.rev, rec.launched = t, res, rev, now
	f.tasks[rec.id()] = rec
	f.used = f.used.Add(res)
	f.count(t.State, 1)
	b.tally(rec, true)
	a.hold(taskKey{f.id(), rec.id()}, rec)
	if !messages.IsTerminal(t.State) {
		a.used = a.used.Add(res)
	}
	return rec
}

// reserveTask records that t draws resv from its agent's reservation for
// role: the agent's used then counts it too, as it counts t's regular
// resources.
func (b *Books) reserveTask(t *taskRecord, resv policy.Resources, role string) {
	t.resv, t.resvRole = resv, role
	if a, ok := b.agents[t.agentID()]; ok && !messages.IsTerminal(t.task.State) {
		a.used = a.used.Add(resv)
	}
}

// held is all a live task holds on its agent: its regular and revocable
// pools' share (res) and its reservation's (resv).
func (t *taskRecord) held() policy.Resources { return t.res.Add(t.resv) }

// MaxTaskStatuses bounds a task's history of state changes (Task.statuses)
// in the books: a task that flaps between RUNNING and UNREACHABLE keeps
// its first status and the newest ones.
const MaxTaskStatuses = 16

// appendStatus adds st to a task's history, dropping the second oldest
// when the history is full (the first says when the task was launched).
func appendStatus(h []*messages.TaskStatus, st *messages.TaskStatus) []*messages.TaskStatus {
	if len(h) >= MaxTaskStatuses {
		h = append(h[:1], h[2:]...)
	}
	return append(h, st)
}

// adoptedTask is the books' own Task for one an agent reported: a new Task
// whose parts (IDs, resources) are the report's. A deep copy (proto.Clone)
// was a third of a new leader's CPU per re-registering agent
// (BenchmarkReregisterAgents), and it is not needed: the books never change
// a task's parts, only its own fields (state, statuses), and a message's
// parts are not changed once sent, by its sender or its receiver, as the
// parts of what the master sends are its books' (testkit's agents share
// memory with the master). The report itself is left as it came.
// TestAdoptedTaskKeepsEveryField fails when Task gains a field this does
// not copy. The status history is the one slice the books change in place
// (appendStatus shifts a full one), so it is the books' own copy; the
// resources are clipped, so that an append can never write into the
// report's array.
func adoptedTask(t *messages.Task) *messages.Task {
	dst := &messages.Task{}
	fillAdopted(dst, t)
	return dst
}

// fillAdopted makes dst, a new Task, the books' own for t (adoptedTask).
func fillAdopted(dst, t *messages.Task) {
	dst.Name, dst.TaskId, dst.FrameworkId, dst.ExecutorId, dst.AgentId = t.Name, t.TaskId, t.FrameworkId, t.ExecutorId, t.AgentId
	dst.State, dst.Resources, dst.LatestStatus, dst.Role, dst.Revocable = t.State, slices.Clip(t.Resources), t.LatestStatus, t.Role, t.Revocable
	dst.Statuses = slices.Clone(t.Statuses)
}

// taskSlab holds the books' records of the tasks one re-registering agent
// reports, each kind in one allocation: a new leader adopts every task of
// every agent at once, and a record, its Task, its status and its history
// made one by one were 40 of the core's 95 allocations per agent with 10
// tasks (BenchmarkReregisterAgents), work for the garbage collector while
// the agents wait. The cost: a slab stays as long as one of its tasks is in
// the books (an agent's report is bounded by the network's message size).
type taskSlab struct {
	recs     []taskRecord
	tasks    []messages.Task
	statuses []messages.TaskStatus
	// history holds each task's first status history, one element each,
	// its capacity clipped: the first append to a history makes its own.
	history []*messages.TaskStatus
}

func newTaskSlab(n int) *taskSlab {
	if n == 0 {
		return nil
	}
	return &taskSlab{recs: make([]taskRecord, n), tasks: make([]messages.Task, n), statuses: make([]messages.TaskStatus, n),
		history: make([]*messages.TaskStatus, n)}
}

// take returns the next unused record, Task, status and one-element
// history; from a nil or used-up slab, new ones.
func (s *taskSlab) take() (*taskRecord, *messages.Task, *messages.TaskStatus, []*messages.TaskStatus) {
	if s == nil || len(s.recs) == 0 {
		return &taskRecord{}, &messages.Task{}, &messages.TaskStatus{}, make([]*messages.TaskStatus, 1)
	}
	rec, t, st, h := &s.recs[0], &s.tasks[0], &s.statuses[0], s.history[0:1:1]
	s.recs, s.tasks, s.statuses, s.history = s.recs[1:], s.tasks[1:], s.statuses[1:], s.history[1:]
	return rec, t, st, h
}

func cloneExecutorID(id *messages.ExecutorID) *messages.ExecutorID {
	if id == nil {
		return nil
	}
	return &messages.ExecutorID{Value: id.Value}
}

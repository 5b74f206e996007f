package core

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Books is the master's record of the cluster: agents, frameworks, offers
// and tasks. Nothing here is persisted: a new leader rebuilds the books
// from agents' re-registrations and schedulers' subscriptions. The Core
// decides; the books only keep accounts straight (a task's resources are
// counted by its framework, its role and its agent, or by none).
type Books struct {
	masterID  string
	nextAgent uint64
	agents    map[string]*agentRecord
	reachable int

	nextFramework uint64
	nextOffer     uint64
	frameworks    map[string]*frameworkRecord
	// removedElsewhere remembers frameworks removed that an earlier
	// master had registered (this master's own are told apart by their
	// number): bounded, oldest forgotten first.
	removedElsewhere recentSet
	// gone remembers agents an operator removed: their IDs may not
	// register again (bounded, oldest forgotten first).
	gone recentSet
	// sharedCharges counts the agents' shared volume charges, so that a
	// framework's removal walks the agents only when there are some.
	sharedCharges int
	offers        map[string]*offerRecord
	// bySession maps an agent process's session to the ID it registered
	// with, so that a retried registration is not a second agent.
	bySession map[string]string
	// byIdentity maps an identity's slot (identityKey) to the agents that
	// registered under it, reachable or not, so that the one reachable
	// agent per certificate check looks at those, not at every agent: a
	// walk of every agent per registration made a new leader's rebuild
	// O(agents^2) with TLS (43 % of its CPU at 10,000 agents).
	byIdentity map[string]map[string]struct{}
	// frameworkSessions does the same for scheduler processes subscribing
	// new frameworks; an entry goes with its framework.
	frameworkSessions map[string]string
	// roles tallies live tasks and executors by role.
	roles map[string]*roleTally
	// executors are the custom executors whose resources are charged
	// (executors.go), from their first task's launch to their exit.
	executors map[executorKey]*executorRecord
	// completed keeps the last CompletedTasks tasks whose end was
	// acknowledged, for operators (agora logs) to find them.
	completed     []*messages.Task
	completedNext int
}

// CompletedTasks is how many finished tasks the master remembers.
const CompletedTasks = 1000

// GoneAgents is how many agents removed by an operator are remembered
// (Mesos keeps its gone agents in the registry, up to 102,400).
const GoneAgents = 10_000

// RemovedFrameworks is how many removed frameworks of earlier masters are
// remembered (and refused should their schedulers come back).
const RemovedFrameworks = 10_000

// NewBooks returns empty books for the master with the given ID; agent IDs
// it assigns are "<masterID>-A<n>", framework IDs "<masterID>-F<n>".
func NewBooks(masterID string) *Books {
	return &Books{
		masterID: masterID, agents: map[string]*agentRecord{},
		frameworks: map[string]*frameworkRecord{}, removedElsewhere: newRecentSet(RemovedFrameworks), gone: newRecentSet(GoneAgents), offers: map[string]*offerRecord{},
		bySession: map[string]string{}, byIdentity: map[string]map[string]struct{}{}, frameworkSessions: map[string]string{}, roles: map[string]*roleTally{},
		executors: map[executorKey]*executorRecord{},
	}
}

// agentRecord is what the books know of one agent.
type agentRecord struct {
	info       *messages.AgentInfo
	endpoint   Endpoint
	registered time.Time
	lastSeen   time.Time
	// answered is when the master last sent it AgentRegistered: retries
	// of its registration within AnswerInFlight of it are not answered.
	answered        time.Time
	reachable       bool
	unreachableAt   time.Time
	reregistrations uint32
	tasks           map[taskKey]*taskRecord
	// shared is the one charge of each shared volume in use, by
	// sharedKey (volumes.go); its disk is in used.
	shared map[string]*sharedCharge
	// used is what its live (not terminal) tasks and its executors hold
	// (executors.go), kept as they change so that a snapshot does not
	// walk every task of every agent (issue 15: 8 % of the master's CPU).
	used policy.Resources
	// states counts its tasks by state, kept as they change like
	// a framework's (a snapshot shows them: agora agents, the web UI).
	// stateNames is the same as snapshots carry it, made when a snapshot
	// first needs it after a change and shared by the snapshots until the
	// next (never changed once made: they are read on other goroutines),
	// so that a snapshot of 10,000 agents allocates only for those whose
	// tasks changed.
	states     map[messages.TaskState]uint32
	stateNames map[string]uint32
	offers     map[string]*offerRecord
	// incarnation counts the agent's admissions to the allocator; grants
	// from an earlier one are stale.
	incarnation uint64
	// session is the agent process's session from its last registration.
	session string
	// principal and role are the identity the agent registered as (""
	// unless authenticated: RoleAgent, or RoleAgentHost for a test
	// harness's simulated agent); only it may act for the agent.
	principal, role string
	// identity is its slot in Books.byIdentity ("" unless authenticated).
	identity string
	// drain is set while an operator drains the agent; drainGen counts
	// drains and reactivations, so a stale deadline timer is ignored.
	drain    *drainRecord
	drainGen uint64
	// total is the agent's resources in all (reserved or not), as of
	// totalOf: agentTotal caches it until info is replaced.
	total   policy.Scalars
	totalOf *messages.AgentInfo
}

func (a *agentRecord) id() string { return a.info.GetId().GetValue() }

// hold puts t in the agent's tasks under k, counted by its state (one
// held before under k is uncounted).
func (a *agentRecord) hold(k taskKey, t *taskRecord) {
	if old := a.tasks[k]; old != nil {
		a.count(old.task.State, -1)
	}
	a.tasks[k] = t
	a.count(t.task.State, 1)
}

func (a *agentRecord) count(s messages.TaskState, delta int) {
	if a.states == nil {
		a.states = map[messages.TaskState]uint32{}
	}
	a.stateNames = nil
	n := int(a.states[s]) + delta
	if n <= 0 {
		delete(a.states, s)
		return
	}
	a.states[s] = uint32(n)
}

// taskCounts is states as a snapshot carries it (nil for no task).
func (a *agentRecord) taskCounts() map[string]uint32 {
	if a.stateNames == nil && len(a.states) > 0 {
		a.stateNames = make(map[string]uint32, len(a.states))
		for state, n := range a.states {
			a.stateNames[state.String()] = n
		}
	}
	return a.stateNames
}

type frameworkRecord struct {
	info        *messages.FrameworkInfo
	connected   bool
	tearingDown bool
	// conn is the connection of the scheduler that holds the framework
	// (zero while disconnected); calls from any other are refused.
	conn Endpoint
	// gen counts disconnections, so a stale failover timer is ignored.
	gen uint64
	// pending is what /state shows of why the framework waits.
	pending pendingRecord
	tasks   map[string]*taskRecord // live: not terminal, or terminal and unacknowledged
	offers  map[string]*offerRecord
	// offersSized is the size offers was last made for: a map emptied
	// by declines keeps its table, so it is made anew only for more.
	offersSized int
	used        policy.Resources // resources of live tasks and of executors
	// states counts tasks by state, kept as tasks change so that a state
	// snapshot does not walk every task.
	states  map[messages.TaskState]uint32
	session string
	// offerTimer is when the framework's armed offerTimeout fires (zero:
	// none armed).
	offerTimer time.Time
}

func (f *frameworkRecord) id() string { return f.info.GetId().GetValue() }

func (f *frameworkRecord) count(s messages.TaskState, delta int) {
	n := int(f.states[s]) + delta
	if n <= 0 {
		delete(f.states, s)
		return
	}
	f.states[s] = uint32(n)
}

// roleTally is what a role's live tasks hold, kept as tasks change.
type roleTally struct {
	used, revocable policy.Resources
	tasks           uint32
	// executors counts the role's executors, whose resources used holds
	// beside its tasks'.
	executors uint32
}

type offerRecord struct {
	id, frameworkID, agentID, role string
	res, rev                       policy.Resources
	// asRev: res is offered as revocable (policy.Grant.AsRevocable).
	asRev bool
	// resv: res is reserved for this role (policy.Grant.Reservation).
	resv    string
	made    time.Time
	expires time.Time
	seq     uint64 // the n of its ID: the order offers were made in
}

// pendingRecord counts a framework's offers and declines, and keeps the
// filters and suppressions it asked for, as the allocator applies them.
type pendingRecord struct {
	received, declined uint64
	lastOffer          time.Time
	filters            map[filterKey]time.Time // -> until
	suppressed         map[string]bool         // role
	// declines counts declined offers by the framework's reason: its
	// first messages.MaxDeclineReasons distinct reasons, then "other".
	declines map[string]uint64
	// demand is the framework's last stated demand units and which of
	// them fit no agent (demand.go); nil when it stated none.
	demand *demandRecord
}

// Decline reasons the master names itself.
const (
	// DeclineUnspecified counts declines that gave no reason (every Mesos
	// framework's, and an accept with no operations).
	DeclineUnspecified = "unspecified"
	// DeclineOther counts declines whose reason came after the
	// framework's first messages.MaxDeclineReasons distinct ones.
	DeclineOther = "other"
)

// countDeclines counts n offers declined for reason. A framework names at
// most messages.MaxDeclineReasons distinct reasons (the first it gives);
// the rest count as DeclineOther, so that no framework can grow the map.
// First come rather than the most frequent: keeping the top ones exactly
// would need counts of every reason ever given, which is the growth this
// bound is there to stop.
func (p *pendingRecord) countDeclines(reason string, n int) {
	if n == 0 {
		return
	}
	if reason == "" {
		reason = DeclineUnspecified
	}
	if p.declines == nil {
		p.declines = map[string]uint64{}
	}
	if _, known := p.declines[reason]; !known && reason != DeclineUnspecified && reason != DeclineOther {
		named := len(p.declines)
		for _, special := range []string{DeclineUnspecified, DeclineOther} {
			if _, ok := p.declines[special]; ok {
				named--
			}
		}
		if named >= messages.MaxDeclineReasons {
			reason = DeclineOther
		}
	}
	p.declines[reason] += uint64(n)
}

// declineCounts is declines as /state shows them: by count, highest
// first, then by reason.
func (p *pendingRecord) declineCounts() []*messages.DeclineCount {
	if len(p.declines) == 0 {
		return nil
	}
	out := make([]*messages.DeclineCount, 0, len(p.declines))
	for reason, n := range p.declines {
		out = append(out, &messages.DeclineCount{Reason: reason, Offers: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Offers != out[j].Offers {
			return out[i].Offers > out[j].Offers
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

type filterKey struct{ role, agent string }

// filter notes that agent is refused to the framework's role for refuse
// (< 0: the allocator's default) from now.
func (p *pendingRecord) filter(role, agent string, refuse time.Duration, now time.Time) {
	if refuse < 0 {
		refuse = policy.DefaultRefuse
	}
	if refuse == 0 {
		return
	}
	if p.filters == nil {
		p.filters = map[filterKey]time.Time{}
	}
	k := filterKey{role, agent}
	if until := now.Add(refuse); until.After(p.filters[k]) {
		p.filters[k] = until
	}
}

// filterExamples bounds the filters /state names one by one: a framework
// that declined for an hour filters every agent, and 10,000 agents times
// 20 UI streams made a 25 MB snapshot of them (issue 16). The rest are
// counted in FrameworkPending.filter_summaries.
const filterExamples = 10

// state is the record as /state shows it; expired filters are dropped.
// It names the filterExamples filters that expire soonest and counts all
// of them per role, in one pass without sorting them.
func (p *pendingRecord) state(now time.Time) *messages.FrameworkPending {
	out := &messages.FrameworkPending{OffersReceived: p.received, OffersDeclined: p.declined}
	if !p.lastOffer.IsZero() {
		out.LastOfferUnixNano = p.lastOffer.UnixNano()
	}
	var examples []filterExample
	byRole := map[string]*messages.FilterSummary{}
	for k, until := range p.filters {
		if !until.After(now) {
			delete(p.filters, k)
			continue
		}
		u := until.UnixNano()
		s := byRole[k.role]
		if s == nil {
			s = &messages.FilterSummary{Role: k.role, SoonestUntilUnixNano: u, LatestUntilUnixNano: u}
			byRole[k.role] = s
		}
		s.Agents++
		s.SoonestUntilUnixNano = min(s.SoonestUntilUnixNano, u)
		s.LatestUntilUnixNano = max(s.LatestUntilUnixNano, u)
		examples = keepSoonest(examples, filterExample{k, u}, filterExamples)
	}
	for _, e := range examples {
		out.Filters = append(out.Filters, &messages.FilterState{AgentId: e.key.agent, Role: e.key.role, UntilUnixNano: e.until})
	}
	for _, role := range slices.Sorted(maps.Keys(byRole)) {
		out.FilterSummaries = append(out.FilterSummaries, byRole[role])
	}
	for role := range p.suppressed {
		out.SuppressedRoles = append(out.SuppressedRoles, role)
	}
	sort.Strings(out.SuppressedRoles)
	out.Declines = p.declineCounts()
	out.DemandUnfit = p.demand.state()
	return out
}

type filterExample struct {
	key   filterKey
	until int64
}

// before orders filters by expiry, then role and agent, so the examples
// do not depend on map order.
func (e filterExample) before(o filterExample) bool {
	if e.until != o.until {
		return e.until < o.until
	}
	if e.key.role != o.key.role {
		return e.key.role < o.key.role
	}
	return e.key.agent < o.key.agent
}

// keepSoonest inserts e into the sorted list if it is among the n first,
// dropping the last past n: O(n) for the few that enter, O(1) for the rest.
func keepSoonest(list []filterExample, e filterExample, n int) []filterExample {
	if len(list) == n && !e.before(list[n-1]) {
		return list
	}
	i := sort.Search(len(list), func(i int) bool { return e.before(list[i]) })
	if len(list) < n {
		list = append(list, filterExample{})
	}
	copy(list[i+1:], list[i:len(list)-1])
	list[i] = e
	return list
}

type taskRecord struct {
	task *messages.Task
	// res is taken from the agent's regular pool (also when it was offered
	// as revocable: task.Revocable), rev from its revocable pool.
	res, rev policy.Resources
	// resv is taken from the agent's reservation for resvRole.
	resv     policy.Resources
	resvRole string
	launched time.Time
	// freed are the shared volumes' charges its end released (it was
	// their last user): freeTask gives them back to the allocator.
	freed []*sharedCharge
	// moved are the shared volumes' charges its end moved to another
	// user (it was its holder's last task on them): freeTask tells the
	// allocator.
	moved []chargeMove
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
// on one thread is then replayed message for message from its seed, and a
// golden trace reads the same every run.
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

// AgentCount is the number of agents known (reachable or not).
func (b *Books) AgentCount() int { return len(b.agents) }

// ReachableCount is the number of reachable agents.
func (b *Books) ReachableCount() int { return b.reachable }

// ValidateAgentInfo checks what an agent announces: its hostname, ID,
// resources (messages.ValidateResources) and the sizes of the rest. Pure:
// a fuzz target may drive it.
func ValidateAgentInfo(info *messages.AgentInfo) error {
	if info == nil {
		return fmt.Errorf("%w: no AgentInfo", ErrInvalidAgent)
	}
	if err := messages.ValidateHostname(info.Hostname); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAgent, err)
	}
	if id := info.GetId().GetValue(); id != "" {
		if err := messages.ValidateID("agent ID", id); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidAgent, err)
		}
	}
	if err := messages.ValidateResources(info.Resources); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAgent, err)
	}
	// What the allocator would refuse (amounts beyond its fixed point,
	// names it does not allocate) is refused here, to the agent: admitted
	// by the master and unknown to the allocator, the agent's books and
	// the allocator's would disagree.
	if _, _, _, err := policy.FromMessagesReserved(info.Resources); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAgent, err)
	}
	if len(info.Attributes) > messages.MaxAttributes {
		return fmt.Errorf("%w: %d attributes, over the limit of %d", ErrInvalidAgent, len(info.Attributes), messages.MaxAttributes)
	}
	for _, at := range info.Attributes {
		if len(at.GetName()) > messages.MaxLabelKey || len(at.GetText()) > messages.MaxLabelValue {
			return fmt.Errorf("%w: attribute %.64q: names take at most %d bytes, values %d", ErrInvalidAgent, at.GetName(), messages.MaxLabelKey, messages.MaxLabelValue)
		}
	}
	if len(info.Version) > messages.MaxNameLength || len(info.HttpAddress) > messages.MaxNameLength {
		return fmt.Errorf("%w: version or HTTP address over %d bytes", ErrInvalidAgent, messages.MaxNameLength)
	}
	return nil
}

// retried reports whether a registration with session is a retry of one
// taken: the agent it registered is still reachable.
func (b *Books) retried(session string) bool {
	id, ok := b.bySession[session]
	return ok && session != "" && b.agents[id] != nil && b.agents[id].reachable
}

// register admits a new agent and returns its new AgentID. A retry from
// the same agent process (same session) gets the ID it was given, and
// known is true.
func (b *Books) register(info *messages.AgentInfo, at Endpoint, session string, now time.Time) (id string, known bool, err error) {
	if err := ValidateAgentInfo(info); err != nil {
		return "", false, err
	}
	if id, ok := b.bySession[session]; ok && session != "" {
		if a, ok := b.agents[id]; ok && a.reachable {
			return id, true, nil
		}
	}
	b.nextAgent++
	id = b.masterID + "-A" + strconv.FormatUint(b.nextAgent, 10)
	info = proto.Clone(info).(*messages.AgentInfo)
	info.Id = &messages.AgentID{Value: id}
	b.agents[id] = &agentRecord{info: info, endpoint: at, registered: now, lastSeen: now, reachable: true,
		tasks: map[taskKey]*taskRecord{}, offers: map[string]*offerRecord{}, session: session}
	if session != "" {
		b.bySession[session] = id
	}
	b.reachable++
	return id, false, nil
}

// reregister admits an agent that already has an ID: one that restarted,
// was unreachable, or registered with an earlier leader. It returns whether
// the books already knew the agent.
func (b *Books) reregister(info *messages.AgentInfo, at Endpoint, session string, now time.Time) (known bool, err error) {
	if err := ValidateAgentInfo(info); err != nil {
		return false, err
	}
	id := info.GetId().GetValue()
	if id == "" {
		return false, fmt.Errorf("%w: re-registration without an AgentID", ErrInvalidAgent)
	}
	info = proto.Clone(info).(*messages.AgentInfo)
	rec, known := b.agents[id]
	if !known {
		rec = &agentRecord{registered: now, tasks: map[taskKey]*taskRecord{}, offers: map[string]*offerRecord{}}
		b.agents[id] = rec
	} else {
		rec.reregistrations++
	}
	if !rec.reachable {
		b.reachable++
	}
	if rec.session != "" && rec.session != session && b.bySession[rec.session] == id {
		delete(b.bySession, rec.session)
	}
	rec.info, rec.endpoint, rec.lastSeen, rec.reachable, rec.unreachableAt, rec.session = info, at, now, true, time.Time{}, session
	return known, nil
}

// heartbeat records that a reachable agent is alive. An unknown or
// unreachable agent gets ErrUnknownAgent: it must re-register.
func (b *Books) heartbeat(id string, now time.Time) (*agentRecord, error) {
	rec, ok := b.agents[id]
	if !ok || !rec.reachable {
		return nil, fmt.Errorf("agent %s: %w", id, ErrUnknownAgent)
	}
	rec.lastSeen = now
	return rec, nil
}

// markUnreachable records that an agent missed too many heartbeats. It
// returns false if the agent was unknown or already unreachable.
func (b *Books) markUnreachable(id string, now time.Time) bool {
	rec, ok := b.agents[id]
	if !ok || !rec.reachable {
		return false
	}
	rec.reachable, rec.unreachableAt = false, now
	b.reachable--
	return true
}

// removeAgent forgets an agent (it unregistered).
func (b *Books) removeAgent(id string) bool {
	rec, ok := b.agents[id]
	if !ok {
		return false
	}
	if rec.reachable {
		b.reachable--
	}
	if b.bySession[rec.session] == id {
		delete(b.bySession, rec.session)
	}
	b.setIdentity(rec, "", "")
	b.dropExecutors(id, "")
	delete(b.agents, id)
	return true
}

// identityKey is the slot an identity holds one reachable agent in: an
// agent certificate's name, or an agent-host certificate's name and the
// hostname (its set is of hostnames); "" for an unauthenticated one.
func identityKey(role, principal, hostname string) string {
	switch {
	case role == "":
		return ""
	case role == RoleAgentHost:
		return role + "/" + principal + "/" + hostname
	}
	return role + "/" + principal
}

// setIdentity records that the agent registered (last) as role and
// principal, under its hostname as the record holds it now.
func (b *Books) setIdentity(a *agentRecord, role, principal string) {
	a.role, a.principal = role, principal
	key := identityKey(role, principal, a.info.GetHostname())
	if key == a.identity {
		return
	}
	if ids := b.byIdentity[a.identity]; ids != nil {
		delete(ids, a.id())
		if len(ids) == 0 {
			delete(b.byIdentity, a.identity)
		}
	}
	a.identity = key
	if key == "" {
		return
	}
	ids := b.byIdentity[key]
	if ids == nil {
		ids = map[string]struct{}{}
		b.byIdentity[key] = ids
	}
	ids[a.id()] = struct{}{}
}

// reachableAs is the least ID of a reachable agent that registered in
// the identity slot key ("" when none; the least, for an answer that does
// not depend on map order).
func (b *Books) reachableAs(key string) string {
	held := ""
	for id := range b.byIdentity[key] {
		if a := b.agents[id]; a != nil && a.reachable && (held == "" || id < held) {
			held = id
		}
	}
	return held
}

// remember keeps a finished task for operators, the oldest dropped first.
func (b *Books) remember(t *messages.Task) {
	if len(b.completed) < CompletedTasks {
		b.completed = append(b.completed, t)
		return
	}
	b.completed[b.completedNext] = t
	b.completedNext = (b.completedNext + 1) % CompletedTasks
}

// findTask returns a live or recently finished task; frameworkID may be
// empty.
func (b *Books) findTask(frameworkID, taskID string) *messages.Task {
	for id, f := range b.frameworks {
		if frameworkID != "" && id != frameworkID {
			continue
		}
		if t, ok := f.tasks[taskID]; ok {
			return t.task
		}
	}
	for i := len(b.completed) - 1; i >= 0; i-- {
		t := b.completed[i]
		if t.GetTaskId().GetValue() == taskID && (frameworkID == "" || t.GetFrameworkId().GetValue() == frameworkID) {
			return t
		}
	}
	return nil
}

// task finds a live task (or a terminal one not yet acknowledged).
func (b *Books) task(key taskKey) *taskRecord {
	if f, ok := b.frameworks[key.framework]; ok {
		return f.tasks[key.task]
	}
	return nil
}

// regularTotal is the regular resources of the reachable agents.
func (b *Books) regularTotal() policy.Scalars {
	var total policy.Scalars
	for _, a := range b.agents {
		if a.reachable {
			r, _, _, _ := policy.FromMessagesReserved(a.info.Resources)
			total = total.Add(r.Scalars)
		}
	}
	return total
}

// Agents returns the state of every agent, ordered by ID.
func (b *Books) Agents() []*messages.AgentState {
	out := make([]*messages.AgentState, 0, len(b.agents))
	for _, rec := range b.agents {
		st := &messages.AgentState{
			Info:               rec.info,
			Address:            rec.endpoint.Address,
			Reachable:          rec.reachable,
			RegisteredUnixNano: rec.registered.UnixNano(),
			LastSeenUnixNano:   rec.lastSeen.UnixNano(),
			Reregistrations:    rec.reregistrations,
			Drain:              rec.drainInfo(),
		}
		st.Tasks = rec.taskCounts()
		if !rec.unreachableAt.IsZero() {
			st.UnreachableUnixNano = rec.unreachableAt.UnixNano()
		}
		st.Used = rec.used.ToMessages(false)
		var offered policy.Resources
		for _, o := range rec.offers {
			offered = offered.Add(o.res)
		}
		st.Offered = offered.ToMessages(false)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info.Id.Value < out[j].Info.Id.Value })
	return out
}

// Frameworks returns the state of every framework, ordered by ID.
func (b *Books) Frameworks(now time.Time) []*messages.FrameworkState {
	out := make([]*messages.FrameworkState, 0, len(b.frameworks))
	for _, f := range b.frameworks {
		st := &messages.FrameworkState{Info: f.info, Connected: f.connected, TearingDown: f.tearingDown,
			Tasks: map[string]uint32{}, Used: f.used.ToMessages(false), OutstandingOffers: uint32(len(f.offers))}
		for state, n := range f.states {
			st.Tasks[state.String()] = n
		}
		var offered policy.Resources
		for _, o := range f.offers {
			offered = offered.Add(o.res)
		}
		st.Offered = offered.ToMessages(false)
		st.Pending = f.pending.state(now)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info.Id.Value < out[j].Info.Id.Value })
	return out
}

// recentSet remembers the last n strings added.
type recentSet struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newRecentSet(n int) recentSet {
	return recentSet{set: map[string]struct{}{}, ring: make([]string, 0, min(n, 1024)), next: 0}
}

func (r *recentSet) has(s string) bool { _, ok := r.set[s]; return ok }

func (r *recentSet) add(s string, limit int) {
	if r.has(s) {
		return
	}
	r.set[s] = struct{}{}
	if len(r.ring) < limit {
		r.ring = append(r.ring, s)
		return
	}
	delete(r.set, r.ring[r.next])
	r.ring[r.next] = s
	r.next = (r.next + 1) % limit
}

// cloneStatus copies a status before it is changed (a reconciliation
// answer): statuses the books keep are never changed in place.
func cloneStatus(st *messages.TaskStatus) *messages.TaskStatus {
	return messages.CloneTaskStatus(st)
}

func cloneTask(t *messages.Task) *messages.Task { return proto.Clone(t).(*messages.Task) }

package master

import (
	"errors"
	"fmt"
	"sort"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// Sentinel errors of the master's books, checked with errors.Is.
var (
	// ErrUnknownAgent: the agent is not registered (or was marked
	// unreachable); it must register again.
	ErrUnknownAgent = errors.New("unknown agent: register again")
	// ErrInvalidAgent: the registration names impossible resources or
	// lacks required fields.
	ErrInvalidAgent = errors.New("invalid agent registration")
)

// LivenessPolicy says how often agents heartbeat and how many heartbeats may
// be missed before an agent is unreachable.
type LivenessPolicy struct {
	// Interval is a fixed heartbeat interval; 0 means auto: the interval
	// grows with the number of agents so the master receives at most
	// MaxRate heartbeats per second, and never drops below MinInterval.
	Interval    time.Duration
	MinInterval time.Duration
	MaxRate     float64
	// MaxMisses heartbeats missed in a row make an agent unreachable.
	MaxMisses int
}

// DefaultLiveness: heartbeat every 5 s (more on big clusters, at most 500
// heartbeats/s), unreachable after 3 missed: 15 s on a small cluster, where
// Mesos waits 75 s (15 s x 5). 10,000 agents heartbeat every 20 s.
var DefaultLiveness = LivenessPolicy{MinInterval: 5 * time.Second, MaxRate: 500, MaxMisses: 3}

// HeartbeatInterval is the interval for a cluster of n agents.
func (p LivenessPolicy) HeartbeatInterval(n int) time.Duration {
	if p.Interval > 0 {
		return p.Interval
	}
	d := p.MinInterval
	if p.MaxRate > 0 {
		if scaled := time.Duration(float64(n) / p.MaxRate * float64(time.Second)); scaled > d {
			d = scaled
		}
	}
	return d
}

// agentRecord is what the books know of one agent.
type agentRecord struct {
	info            *messages.AgentInfo
	address         string
	actorID         string // with address, the agent actor's PID
	registered      time.Time
	lastSeen        time.Time
	reachable       bool
	unreachableAt   time.Time
	reregistrations uint32
	tasks           map[taskKey]*taskRecord
	offers          map[string]*offerRecord
	// incarnation counts the agent's admissions to the allocator; grants
	// from an earlier one are stale.
	incarnation uint64
	// session is the agent process's session from its last re-registration.
	session string
}

// Books is the master's record of the cluster. It is plain data: the master
// actor calls it with messages and the current time and carries out what it
// returns. Nothing here is persisted: a new leader rebuilds the books from
// agents' re-registrations.
type Books struct {
	masterID  string
	nextAgent uint64
	agents    map[string]*agentRecord
	reachable int

	nextFramework     uint64
	nextOffer         uint64
	frameworks        map[string]*frameworkRecord
	removedFrameworks map[string]bool
	offers            map[string]*offerRecord
	// bySession maps an agent process's session to the ID it registered
	// with, so that a retried registration is not a second agent.
	bySession map[string]string
	// frameworkSessions does the same for scheduler processes subscribing
	// new frameworks.
	frameworkSessions map[string]string
	// roles tallies live tasks by role.
	roles map[string]*roleTally
	// completed keeps the last CompletedTasks tasks whose end was
	// acknowledged, for operators (agora logs) to find them.
	completed     []*messages.Task
	completedNext int
}

// CompletedTasks is how many finished tasks the master remembers.
const CompletedTasks = 1000

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

// NewBooks returns empty books for the master with the given ID; agent IDs
// it assigns are "<masterID>-A<n>", unique across masters.
func NewBooks(masterID string) *Books {
	return &Books{
		masterID: masterID, agents: map[string]*agentRecord{},
		frameworks: map[string]*frameworkRecord{}, removedFrameworks: map[string]bool{}, offers: map[string]*offerRecord{},
		bySession: map[string]string{}, frameworkSessions: map[string]string{}, roles: map[string]*roleTally{},
	}
}

// AgentCount is the number of agents known (reachable or not).
func (b *Books) AgentCount() int { return len(b.agents) }

// ReachableCount is the number of reachable agents.
func (b *Books) ReachableCount() int { return b.reachable }

func validateAgentInfo(info *messages.AgentInfo) error {
	if info == nil {
		return fmt.Errorf("%w: no AgentInfo", ErrInvalidAgent)
	}
	if info.Hostname == "" {
		return fmt.Errorf("%w: empty hostname", ErrInvalidAgent)
	}
	if err := messages.ValidateResources(info.Resources); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAgent, err)
	}
	return nil
}

// Register admits a new agent and returns its new AgentID. A retry from
// the same agent process (same session) gets the ID it was given, and
// known is true.
func (b *Books) Register(info *messages.AgentInfo, address, actorID, session string, now time.Time) (id string, known bool, err error) {
	if err := validateAgentInfo(info); err != nil {
		return "", false, err
	}
	if id, ok := b.bySession[session]; ok && session != "" {
		if a, ok := b.agents[id]; ok && a.reachable {
			return id, true, nil
		}
	}
	b.nextAgent++
	id = fmt.Sprintf("%s-A%d", b.masterID, b.nextAgent)
	info = proto.Clone(info).(*messages.AgentInfo)
	info.Id = &messages.AgentID{Value: id}
	b.agents[id] = &agentRecord{info: info, address: address, actorID: actorID, registered: now, lastSeen: now, reachable: true,
		tasks: map[taskKey]*taskRecord{}, offers: map[string]*offerRecord{}, session: session}
	if session != "" {
		b.bySession[session] = id
	}
	b.reachable++
	return id, false, nil
}

// Reregister admits an agent that already has an ID: one that restarted,
// was unreachable, or registered with an earlier leader. It returns whether
// the books already knew the agent.
func (b *Books) Reregister(info *messages.AgentInfo, address, actorID string, now time.Time) (known bool, err error) {
	if err := validateAgentInfo(info); err != nil {
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
	rec.info, rec.address, rec.actorID, rec.lastSeen, rec.reachable, rec.unreachableAt = info, address, actorID, now, true, time.Time{}
	return known, nil
}

// Heartbeat records that a reachable agent is alive. An unknown or
// unreachable agent gets ErrUnknownAgent: it must re-register.
func (b *Books) Heartbeat(id string, now time.Time) error {
	rec, ok := b.agents[id]
	if !ok || !rec.reachable {
		return fmt.Errorf("agent %s: %w", id, ErrUnknownAgent)
	}
	rec.lastSeen = now
	return nil
}

// MarkUnreachable records that an agent missed too many heartbeats. It
// returns false if the agent was unknown or already unreachable.
func (b *Books) MarkUnreachable(id string, now time.Time) bool {
	rec, ok := b.agents[id]
	if !ok || !rec.reachable {
		return false
	}
	rec.reachable, rec.unreachableAt = false, now
	b.reachable--
	return true
}

// Remove forgets an agent (it unregistered).
func (b *Books) Remove(id string) bool {
	rec, ok := b.agents[id]
	if !ok {
		return false
	}
	if rec.reachable {
		b.reachable--
	}
	delete(b.agents, id)
	return true
}

// Agents returns the state of every agent, ordered by ID.
func (b *Books) Agents() []*messages.AgentState {
	out := make([]*messages.AgentState, 0, len(b.agents))
	for _, rec := range b.agents {
		st := &messages.AgentState{
			Info:               rec.info,
			Address:            rec.address,
			Reachable:          rec.reachable,
			RegisteredUnixNano: rec.registered.UnixNano(),
			LastSeenUnixNano:   rec.lastSeen.UnixNano(),
			Reregistrations:    rec.reregistrations,
		}
		if !rec.unreachableAt.IsZero() {
			st.UnreachableUnixNano = rec.unreachableAt.UnixNano()
		}
		var used policy.Resources
		for _, t := range rec.tasks {
			if !messages.IsTerminal(t.task.State) {
				used = used.Add(t.res)
			}
		}
		st.Used = used.ToMessages(false)
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info.Id.Value < out[j].Info.Id.Value })
	return out
}

// Frameworks returns the state of every framework, ordered by ID.
func (b *Books) Frameworks() []*messages.FrameworkState {
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
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Info.Id.Value < out[j].Info.Id.Value })
	return out
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
			r, _, _ := policy.FromMessages(a.info.Resources)
			total = total.Add(r.Scalars)
		}
	}
	return total
}

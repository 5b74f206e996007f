// Package sim runs workload files on simulated clusters: the real master,
// allocator, agent and scheduler actors of Agora in one process, with
// simulated tasks, frameworks that submit jobs on an arrival process, and a
// timeline of faults. It is what `agora sim FILE` runs.
//
// On the virtual clock (the default) every actor runs on one serial
// dispatcher and the clock jumps from timer to timer whenever no actor has
// work left, so half an hour of a 10,000-agent cluster takes minutes, and the
// same seed gives the same report. On the real clock actors run as they
// would in a node, and time passes as it does.
package sim

import (
	"container/heap"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
)

// Options are how a workload runs, beside what the workload says.
type Options struct {
	// Progress, if set, is called as simulated time passes (on every
	// sample) with the time simulated so far and the total.
	Progress func(done, total time.Duration)
	// Logger gets Agora's own logs; nil discards them.
	Logger *slog.Logger
}

// run is one simulation in progress. Its mutex guards everything the
// frameworks and the sampler share (on the virtual clock there is one
// goroutine anyway; on the real clock schedulers run on their own).
type run struct {
	w     *Workload
	c     *testkit.Cluster
	clock clockwork.Clock
	start time.Time

	mu         sync.Mutex
	frameworks []*framework
	byID       map[string]*framework
	stats      Counters
	ended      map[string]int
	waits      []time.Duration
	series     Series
	failovers  []Failover
	open       *Failover // a failover whose successor has not offered yet
	epoch      uint64
	total      map[string]float64
	agents     []*simAgent
	byHost     map[string]*simAgent
	msgFaults  []*messageFault
	faultRand  *rand.Rand
	jainSum    float64
	jainN      int
	// Sums over the samples with demand (jainN of them) of the mean and
	// the least share met, and per role of its fair share (fairness.go).
	metSum, worstSum float64
	fairSums         map[string]float64
	admitted         int
	unreached        int
	shareSums        map[string]float64
	utilSums         map[string]float64
	samples          int
	// Counted in sender middleware, which may run while a framework
	// holds mu.
	dropped, delayed atomic.Int64
	// err ends the run early: a fault could not be carried out.
	err error
	// line delays messages by the network's latency on the virtual
	// clock (nil on the real clock, or without latency).
	line *testkit.DelayLine
	// kinds maps the actor IDs of agents and schedulers to "agents" and
	// "schedulers", for message faults aimed at them and the network's
	// latency: read on every message sent, written as actors start (a
	// plain map under a read lock: a sync.Map's lookups were 3 % of the
	// 10,000-agent scenario's CPU).
	kindsMu sync.RWMutex
	kinds   map[string]string
}

type simAgent struct {
	spec      testkit.AgentSpec
	runtime   *agentRuntime
	pid       *actor.PID
	id        string
	partition *testkit.Partition
	down      bool // rebooting or partitioned: not picked for another fault
}

// Run runs w and returns its report.
func Run(w *Workload, opts Options) (*Report, error) {
	var clock clockwork.Clock = clockwork.NewRealClock()
	var line *testkit.DelayLine
	if w.Clock == "virtual" {
		fake := testkit.NewFakeClock()
		if d := w.Network.Latency.D(); d > 0 {
			line = fake.DelayLine(d)
		}
		clock = fake
	}
	r := &run{line: line, kinds: map[string]string{}, w: w, clock: clock, ended: map[string]int{}, byID: map[string]*framework{}, total: map[string]float64{}, byHost: map[string]*simAgent{},
		faultRand: rand.New(rand.NewPCG(w.Seed, 0xfa017)), shareSums: map[string]float64{}, fairSums: map[string]float64{}, utilSums: map[string]float64{}}
	for _, f := range w.Faults {
		if f.Kind == "drop-messages" || f.Kind == "delay-messages" {
			r.msgFaults = append(r.msgFaults, &messageFault{spec: f, r: r, rng: rand.New(rand.NewPCG(w.Seed, uint64(len(r.msgFaults))+0xd20))})
		}
	}
	c, err := r.newCluster(opts)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	r.c, r.start, r.epoch = c, clock.Now(), 1
	r.addAgents()
	r.startFrameworks()
	r.drive(opts)
	if r.err != nil {
		return nil, r.err
	}
	return r.report(), nil
}

// newCluster starts the master (with the workload's roles and tuning) on
// the run's clock; on the virtual clock every actor runs serially.
func (r *run) newCluster(opts Options) (*testkit.Cluster, error) {
	w := r.w
	roles := &messages.RoleConfig{}
	for _, rs := range w.Roles {
		set := &messages.RoleSettings{Role: rs.Name, Weight: rs.Weight}
		g, _ := messages.ParseResources(rs.Guarantee)
		l, _ := messages.ParseResources(rs.Limit)
		if len(g)+len(l) > 0 {
			set.Quota = &messages.RoleQuota{Guarantee: g, Limit: l}
		}
		roles.Roles = append(roles.Roles, set)
	}
	reregister := w.Master.AgentReregisterTimeout.D()
	if reregister == 0 {
		reregister = 2 * time.Minute // agora node's default
	}
	return testkit.New(testkit.Options{
		Clock:                  r.clock, // a FakeClock runs every actor on testkit's Serial dispatcher
		Logger:                 opts.Logger,
		Roles:                  roles,
		AllocationInterval:     w.Master.AllocationInterval.D(),
		OfferTimeout:           w.Master.OfferTimeout.D(),
		ReclaimInterval:        w.Master.ReclaimInterval.D(),
		PreemptionGrace:        w.Master.PreemptionGrace.D(),
		AgentReregisterTimeout: reregister,
		// Snapshots are for operators; a simulation reads its own books.
		PublishInterval: time.Minute,
		NewPolicy: func() policy.Allocator {
			p, _ := policy.New(w.Master.Allocator, policy.Options{Seed: int64(w.Seed)}) // checked when loaded
			return p
		},
		Record:                 r.observe,
		MasterSenderMiddleware: r.middleware("master"),
	})
}

// addAgents starts the workload's agents, each with its own simulated
// containerizer and seeded jitter (and a partition switch if the timeline
// partitions agents).
func (r *run) addAgents() {
	partitions := false
	for _, f := range r.w.Faults {
		partitions = partitions || f.Kind == "partition-agents"
	}
	n := 0
	for _, g := range r.w.Agents {
		res, _ := messages.ParseResources(g.Resources)
		var attrs []*messages.Attribute
		for _, k := range slices.Sorted(maps.Keys(g.Attributes)) {
			attrs = append(attrs, &messages.Attribute{Name: k, Value: &messages.Attribute_Text{Text: g.Attributes[k]}})
		}
		for i := 0; i < g.Count; i++ {
			rt := &agentRuntime{r: r, sim: testkit.SimContainerizer{Clock: r.clock, Duration: taskRunTime}, live: map[string]containerizer.Container{}}
			a := &simAgent{runtime: rt, spec: testkit.AgentSpec{Hostname: fmt.Sprintf("sim-%05d", n), Resources: res, Attributes: attrs, Containerizer: rt,
				Rand: rand.New(rand.NewPCG(r.w.Seed, uint64(n)+1<<32)), SenderMiddleware: r.middleware("agents")}}
			if partitions {
				a.partition = &testkit.Partition{}
				a.spec.Partition = a.partition
			}
			// On the real clock the master already observes agents
			// registering (r.observe) while more are added.
			r.mu.Lock()
			for _, rs := range res {
				r.total[rs.Name] += rs.Scalar
			}
			r.agents = append(r.agents, a)
			r.byHost[a.spec.Hostname] = a
			r.mu.Unlock()
			a.pid = r.c.AddAgent(a.spec)
			r.setKind(a.pid, "agents")
			n++
		}
		// Let each group register before the next is spawned: the
		// mailboxes of 10,000 agents registering at once are the
		// simulation's memory peak otherwise.
		r.c.Drain()
	}
}

// startFrameworks builds each framework's model (its arrivals drawn from
// its own seeded source) and starts its scheduler.
func (r *run) startFrameworks() {
	for i := range r.w.Frameworks {
		spec := &r.w.Frameworks[i]
		for k := 1; k <= spec.Count; k++ {
			rng := rand.New(rand.NewPCG(r.w.Seed, uint64(len(r.frameworks))+1))
			f := newFramework(r, spec.Instance(k), spec, rng, r.w.Duration.D())
			r.mu.Lock()
			f.index = len(r.frameworks)
			r.frameworks = append(r.frameworks, f)
			r.mu.Unlock()
			r.startScheduler(f, "")
		}
	}
}

// drive runs the cluster to the end of the workload: samples and faults
// come from the run's agenda; on the virtual clock, every actor runs until
// none has work before the clock moves to the next timer or agenda item,
// whichever is first (timers first on a tie).
func (r *run) drive(opts Options) {
	w, clock := r.w, r.clock
	ag := &agenda{}
	end := r.start.Add(w.Duration.D())
	var sample func()
	sample = func() {
		r.sample()
		if opts.Progress != nil {
			opts.Progress(clock.Since(r.start), w.Duration.D())
		}
		if next := clock.Now().Add(w.Sample.D()); next.Before(end) {
			ag.push(next, sample)
		}
	}
	ag.push(r.start, sample)
	for _, f := range w.Faults {
		for k := 0; k < f.Count; k++ {
			at := r.start.Add(f.At.D() + time.Duration(k)*f.Every.D())
			if at.Before(end) {
				ag.push(at, func() { r.fault(ag, f) })
			}
		}
	}
	done := false
	ag.push(end, func() { done = true })

	fake, _ := clock.(*testkit.FakeClock)
	for !done && r.err == nil {
		r.c.Drain()
		next := ag.next()
		if fake != nil {
			if t, ok := fake.NextTimer(); ok && !t.After(next) {
				fake.AdvanceToNext()
				continue
			}
			if d := next.Sub(fake.Now()); d > 0 {
				fake.Advance(d)
			}
		} else if d := clock.Until(next); d > 0 {
			clock.Sleep(d)
		}
		ag.pop().fn()
	}
	r.c.Drain()
	r.sample()
	if opts.Progress != nil {
		opts.Progress(w.Duration.D(), w.Duration.D())
	}
}

// fail stops the run with err (a fault it could not carry out).
func (r *run) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// startScheduler starts f's scheduler actor; id re-subscribes as an
// existing framework (failover of a crashed scheduler).
func (r *run) startScheduler(f *framework, id string) {
	info := &messages.FrameworkInfo{Name: f.name, Roles: []string{f.role},
		// A crashed scheduler comes back: its tasks must wait for it.
		FailoverTimeoutNanos: int64(7 * 24 * time.Hour),
		// It waits out TASK_UNREACHABLE (framework.status); without the
		// capability the master would say TASK_LOST and it would run the
		// task a second time.
		Capabilities: []messages.Capability{messages.Capability_PARTITION_AWARE}}
	if !f.spec.NoHints {
		// An offer that cannot hold one of its tasks is of no use to it
		// (Mesos' offer_filters.min_allocatable_resources).
		info.MinAllocatable = &messages.MinAllocatable{Quantities: []*messages.ResourceQuantities{{Resources: f.shape}}}
	}
	if id != "" {
		info.Id = &messages.FrameworkID{Value: id}
	}
	pid := r.c.StartScheduler(info, f, func(cfg *scheduler.Config) {
		f.restarts++
		cfg.Rand = rand.New(rand.NewPCG(r.w.Seed, uint64(f.index)<<16|uint64(f.restarts)))
		cfg.ActorOptions = append(cfg.ActorOptions, actor.WithSenderMiddleware(r.middleware("schedulers")...))
	})
	r.setKind(pid, "schedulers")
}

// observe is the cluster's event filter: it keeps nothing, and notes what
// the report counts.
func (r *run) observe(ev any) bool {
	switch ev := ev.(type) {
	case master.AgentAdmitted:
		r.mu.Lock()
		r.admitted++
		if a := r.byHost[ev.Hostname]; a != nil {
			a.id = ev.AgentID
		}
		r.mu.Unlock()
	case master.AgentMarkedUnreachable:
		r.mu.Lock()
		r.unreached++
		r.mu.Unlock()
	}
	return false
}

// offersSeen closes an open failover at the new leader's first offer.
// Called with r.mu held.
func (r *run) offersSeen(epoch uint64, now time.Time) {
	if r.open != nil && epoch >= r.epoch {
		r.open.FirstOfferAfter = SecondsOf(now.Sub(r.open.at))
		r.failovers = append(r.failovers, *r.open)
		r.open = nil
	}
}

// sample records utilization, each role's dominant share and Jain's
// fairness index over the roles with demand.
func (r *run) sample() {
	r.mu.Lock()
	defer r.mu.Unlock()
	used := map[string]map[string]float64{}   // role -> resource -> used
	wanted := map[string]map[string]float64{} // role -> resource -> used and pending
	demand := map[string]bool{}
	for _, f := range r.frameworks {
		if used[f.role] == nil {
			used[f.role], wanted[f.role] = map[string]float64{}, map[string]float64{}
		}
		for k, v := range f.used {
			used[f.role][k] += v
			wanted[f.role][k] += v
		}
		for k, v := range f.scalars {
			wanted[f.role][k] += v * float64(len(f.pending))
		}
		if len(f.pending) > 0 || len(f.live) > 0 {
			demand[f.role] = true
		}
	}
	s := &r.series
	s.T = append(s.T, SecondsOf(r.clock.Since(r.start)))
	if s.Utilization == nil {
		s.Utilization, s.DominantShare = map[string][]float64{}, map[string][]float64{}
	}
	for _, res := range slices.Sorted(maps.Keys(r.total)) {
		u := 0.0
		for _, role := range slices.Sorted(maps.Keys(used)) {
			u += used[role][res]
		}
		u /= r.total[res]
		s.Utilization[res] = append(s.Utilization[res], round(u))
		r.utilSums[res] += u
	}
	var xs []float64
	var demanding []string
	var held, weights []float64
	var wants [][]float64
	resources := slices.Sorted(maps.Keys(r.total))
	for _, role := range slices.Sorted(maps.Keys(used)) {
		share := 0.0
		for res, v := range used[role] {
			if t := r.total[res]; t > 0 {
				share = max(share, v/t)
			}
		}
		s.DominantShare[role] = append(s.DominantShare[role], round(share))
		r.shareSums[role] += share
		if demand[role] {
			xs = append(xs, share/r.weight(role))
			want := make([]float64, len(resources))
			for k, res := range resources {
				if t := r.total[res]; t > 0 {
					want[k] = wanted[role][res] / t
				}
			}
			demanding = append(demanding, role)
			held = append(held, share)
			weights = append(weights, r.weight(role))
			wants = append(wants, want)
		}
	}
	j := jain(xs)
	s.Jain = append(s.Jain, round(j))
	if len(xs) > 0 {
		r.jainSum += j
		r.jainN++
	}
	// Each role with demand against its demand-capped weighted fair share.
	met, worst := 1.0, 1.0
	if len(demanding) > 0 {
		fair := fairShares(wants, weights)
		sum := 0.0
		for i, role := range demanding {
			m := shareMet(held[i], fair[i])
			sum += m
			worst = min(worst, m)
			r.fairSums[role] += fair[i]
		}
		met = sum / float64(len(demanding))
		r.metSum += met
		r.worstSum += worst
	}
	s.ShareMet = append(s.ShareMet, round(met))
	s.ShareMetWorst = append(s.ShareMetWorst, round(worst))
	r.samples++
}

func (r *run) weight(role string) float64 {
	for _, rs := range r.w.Roles {
		if rs.Name == role && rs.Weight > 0 {
			return rs.Weight
		}
	}
	return 1
}

// jain is Jain's fairness index of xs: 1 when all are equal, 1/n when one
// holds everything; 1 for no demand at all.
func jain(xs []float64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 1
	}
	return sum * sum / (float64(len(xs)) * sq)
}

// fault carries out one fault of the timeline, and arms its end.
func (r *run) fault(ag *agenda, f FaultSpec) {
	now := r.clock.Now()
	switch f.Kind {
	case "master-failover":
		r.mu.Lock()
		if r.open != nil { // the previous one never got to offer
			r.failovers = append(r.failovers, *r.open)
			r.open = nil
		}
		r.mu.Unlock()
		if err := r.c.StopLeader(); err != nil {
			r.fail(fmt.Errorf("fault at %v: stop the leader: %w", now.Sub(r.start), err))
			return
		}
		ag.push(now.Add(f.Election.D()), func() {
			epoch, err := r.c.StartLeader()
			if err != nil {
				r.fail(fmt.Errorf("fault at %v: start a new leader: %w", now.Sub(r.start), err))
				return
			}
			r.mu.Lock()
			r.epoch = epoch
			r.open = &Failover{At: SecondsOf(now.Sub(r.start)), LeaderAfter: SecondsOf(f.Election.D()), Epoch: epoch, at: now}
			r.mu.Unlock()
		})
	case "partition-agents":
		for _, a := range r.pickAgents(f.Agents) {
			a.down = true
			a.partition.Cut()
			ag.push(now.Add(f.For.D()), func() {
				a.partition.Heal()
				a.down = false
				// Its leader detection tells it who leads (again).
				r.c.AnnounceLeaderTo(a.pid)
			})
		}
		r.mu.Lock()
		r.stats.Partitions += f.Agents
		r.mu.Unlock()
	case "reboot-agents":
		for _, a := range r.pickAgents(f.Agents) {
			a.down = true
			r.c.StopAgent(a.pid)
			a.runtime.killAll() // a reboot ends its tasks' processes too
			ag.push(now.Add(f.For.D()), func() {
				spec := a.spec
				r.mu.Lock()
				spec.ID = a.id
				r.mu.Unlock()
				spec.Partition = a.partition
				a.pid = r.c.AddAgent(spec)
				r.setKind(a.pid, "agents")
				a.down = false
			})
		}
		r.mu.Lock()
		r.stats.Reboots += f.Agents
		r.mu.Unlock()
	case "crash-scheduler":
		var target *framework
		for _, fw := range r.frameworks {
			if fw.name == f.Framework {
				target = fw
			}
		}
		if target == nil {
			r.fail(fmt.Errorf("crash-scheduler: no framework %q in this workload", f.Framework))
			return
		}
		for _, pid := range r.c.Schedulers(target.name) {
			r.c.System.Root.Stop(pid)
		}
		r.c.Drain()
		ag.push(now.Add(f.For.D()), func() {
			r.mu.Lock()
			id := target.id
			r.mu.Unlock()
			r.startScheduler(target, id)
		})
		r.mu.Lock()
		r.stats.SchedulerCrashes++
		r.mu.Unlock()
	case "drop-messages", "delay-messages":
		// Installed from the start; they act during [at, at+for).
	}
}

// pickAgents chooses n agents not already down, from the seeded source.
func (r *run) pickAgents(n int) []*simAgent {
	var up []*simAgent
	for _, a := range r.agents {
		if !a.down {
			up = append(up, a)
		}
	}
	r.faultRand.Shuffle(len(up), func(i, j int) { up[i], up[j] = up[j], up[i] })
	return up[:min(n, len(up))]
}

// agenda is the simulation's own timeline (samples, faults, the end), in
// time order, ties in the order pushed.
type agenda struct {
	items agendaHeap
	seq   int
}

type agendaItem struct {
	at  time.Time
	seq int
	fn  func()
}

func (a *agenda) push(at time.Time, fn func()) {
	a.seq++
	heap.Push(&a.items, &agendaItem{at: at, seq: a.seq, fn: fn})
}

func (a *agenda) next() time.Time { return a.items[0].at }

func (a *agenda) pop() *agendaItem { return heap.Pop(&a.items).(*agendaItem) }

type agendaHeap []*agendaItem

func (a agendaHeap) Len() int { return len(a) }
func (a agendaHeap) Less(i, j int) bool {
	if !a[i].at.Equal(a[j].at) {
		return a[i].at.Before(a[j].at)
	}
	return a[i].seq < a[j].seq
}
func (a agendaHeap) Swap(i, j int) { a[i], a[j] = a[j], a[i] }
func (a *agendaHeap) Push(x any)   { *a = append(*a, x.(*agendaItem)) }
func (a *agendaHeap) Pop() any {
	old := *a
	it := old[len(old)-1]
	*a = old[:len(old)-1]
	return it
}

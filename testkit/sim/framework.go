package sim

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
)

// A simulated framework: a scheduler handler that submits jobs on its
// arrival schedule and launches their tasks on offers, elastic or gang.
// Its state survives its scheduler actor (crash-scheduler restarts the
// actor, not the model), as a framework that keeps its queue in a store.

type (
	// arrive is the next job's arrival (a timer to the scheduler actor);
	// gen drops one armed by a scheduler actor since replaced.
	arrive struct{ gen int }
	// releaseHeld ends a gang framework's wait for more offers.
	releaseHeld struct{ gen int }
	// reconcileTick asks the master about tasks launched but not heard of.
	reconcileTick struct{}
)

type job struct {
	id    int
	waves [][]time.Duration // each task's run time, wave by wave
	wave  int
	left  int // tasks of the current wave not yet finished
}

type simTask struct {
	id        string
	job       *job
	run       time.Duration
	submitted time.Time
	started   bool // an agent reported it: its launch reached one
	running   bool
}

type framework struct {
	r        *run
	name     string
	index    int // in the workload, for seeding
	restarts int // scheduler actors started
	role     string
	spec     *FrameworkSpec
	shape    []*messages.Resource
	scalars  map[string]float64
	id       string
	jitter   *rand.Rand      // for decisions as it runs (its schedule is drawn up front)
	arrivals []time.Duration // job arrival offsets from the start
	jobs     []*job          // drawn with the arrivals

	next        int // next job to arrive
	gen         int
	holdGen     int
	holding     bool
	suppressed  bool
	reconciling bool // a reconcileTick is armed
	pending     []*simTask
	live        map[string]*simTask
	held        []*messages.Offer
	used        map[string]float64 // held by its tasks on agents (agentRuntime)
	seq         int
	// What it saw and did, for the report's per-role lines.
	offers, declines, launched int
}

// newFramework draws the framework's whole arrival schedule and task run
// times up front from its own seeded source, so that they do not depend on
// the order in which the simulation runs things.
func newFramework(r *run, name string, spec *FrameworkSpec, rng *rand.Rand, horizon time.Duration) *framework {
	shape, _ := messages.ParseResources(spec.Task)
	f := &framework{r: r, name: name, role: spec.Role, spec: spec, shape: shape, scalars: map[string]float64{},
		live: map[string]*simTask{}, used: map[string]float64{}, jitter: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))}
	for _, res := range shape {
		f.scalars[res.Name] += res.Scalar
	}
	at := spec.Arrival.Start.D()
	for n := 0; at < horizon && (spec.Arrival.Jobs == 0 || n < spec.Arrival.Jobs); n++ {
		j := &job{id: n + 1}
		for w := 0; w < spec.Waves; w++ {
			runs := make([]time.Duration, spec.Tasks)
			for i := range runs {
				runs[i] = sample(spec.Duration, rng)
			}
			j.waves = append(j.waves, runs)
		}
		f.arrivals = append(f.arrivals, at)
		f.jobs = append(f.jobs, j)
		switch spec.Arrival.Process {
		case "fixed":
			at += spec.Arrival.Every.D()
		case "poisson":
			at += time.Duration(rng.ExpFloat64() * float64(spec.Arrival.Every))
		}
	}
	return f
}

// sample draws one duration from d, at least a millisecond.
func sample(d DistSpec, rng *rand.Rand) time.Duration {
	var v float64
	switch d.Dist {
	case "constant":
		v = float64(d.Mean)
	case "exponential":
		v = rng.ExpFloat64() * float64(d.Mean)
	case "uniform":
		v = float64(d.Min) + rng.Float64()*float64(d.Max-d.Min)
	case "lognormal":
		v = float64(d.Mean) * math.Exp(d.Sigma*rng.NormFloat64())
	}
	if d.Max > 0 && v > float64(d.Max) {
		v = float64(d.Max)
	}
	return max(time.Duration(v), time.Millisecond)
}

// Receive implements scheduler.Handler.
func (f *framework) Receive(d *scheduler.Driver, ev any) {
	r := f.r
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	switch ev := ev.(type) {
	case *messages.FrameworkSubscribed:
		f.id = ev.FrameworkId.GetValue()
		r.byID[f.id] = f
		// A new scheduler actor (after a crash) or a new master: the
		// arrival timer may have been the old actor's; arm it again.
		f.gen++
		f.armArrival(d, now)
		// Launches sent to a master that crashed never happened; ask
		// about every task (as a framework does after a failover).
		f.reconcile(d)
		// A new master knows nothing of its suppression (as Mesos'
		// SUBSCRIBE without suppressed_roles): say it again, or it is
		// offered every free agent it is first in line for.
		if len(f.pending) > 0 {
			f.revive(d)
		} else {
			f.suppressed = false
			f.suppressIfIdle(d)
		}
	case arrive:
		if ev.gen != f.gen || f.next >= len(f.jobs) {
			return
		}
		j := f.jobs[f.next]
		f.next++
		r.stats.JobsSubmitted++
		f.submitWave(d, j, now)
		f.armArrival(d, now)
	case *messages.Offers:
		r.offersSeen(ev.MasterEpoch, now)
		r.stats.Offers += len(ev.Offers)
		f.offers += len(ev.Offers)
		if f.spec.Kind == "gang" {
			f.held = append(f.held, ev.Offers...)
			f.placeGangs(d)
			return
		}
		for _, o := range ev.Offers {
			f.placeElastic(d, o)
		}
		f.suppressIfIdle(d)
	case releaseHeld:
		if ev.gen == f.holdGen && f.holding {
			f.holding = false
			f.declineHeld(d, time.Second)
		}
	case *messages.RescindOffer:
		r.stats.Rescinds++
		for i, o := range f.held {
			if o.Id.GetValue() == ev.OfferId.GetValue() {
				f.held = append(f.held[:i], f.held[i+1:]...)
				break
			}
		}
	case *messages.StatusUpdate:
		f.status(d, ev.Status, now)
	case *messages.Error:
		// A call refused (the master changed under it, say): the
		// launches it carried may be gone; reconcile soon.
		if !f.reconciling {
			f.reconciling = true
			d.After(5*time.Second, reconcileTick{})
		}
	case reconcileTick:
		f.reconciling = false
		f.reconcile(d)
	}
}

// reconcile asks for the state of every task launched and not yet heard
// from an agent; the master answers TASK_UNKNOWN for launches it never got.
func (f *framework) reconcile(d *scheduler.Driver) {
	var tasks []*messages.Reconcile_Task
	for _, id := range slices.Sorted(maps.Keys(f.live)) {
		if !f.live[id].started {
			tasks = append(tasks, &messages.Reconcile_Task{TaskId: &messages.TaskID{Value: id}})
		}
	}
	if len(tasks) > 0 {
		d.Reconcile(tasks...)
	}
}

func (f *framework) armArrival(d *scheduler.Driver, now time.Time) {
	if f.next >= len(f.arrivals) {
		return
	}
	d.After(max(0, f.r.start.Add(f.arrivals[f.next]).Sub(now)), arrive{gen: f.gen})
}

func (f *framework) submitWave(d *scheduler.Driver, j *job, now time.Time) {
	runs := j.waves[j.wave]
	j.left = len(runs)
	for _, run := range runs {
		f.enqueue(j, run, now)
	}
	// Revive even if not suppressed: the demand it stated grew.
	f.revive(d)
}

// revive resumes offers and states what the framework now waits for: its
// pending tasks (messages.Revive.demand), so that it is offered about
// that much per allocation interval instead of every free agent.
func (f *framework) revive(d *scheduler.Driver) {
	f.suppressed = false
	if f.spec.NoHints {
		d.Revive()
		return
	}
	n := float64(len(f.pending))
	var demand []*messages.Resource
	for _, res := range f.shape {
		if res.Scalar > 0 {
			demand = append(demand, &messages.Resource{Name: res.Name, Scalar: min(res.Scalar*n, messages.MaxScalar)})
		}
	}
	d.ReviveFor(demand)
}

func (f *framework) enqueue(j *job, run time.Duration, submitted time.Time) {
	f.seq++
	f.pending = append(f.pending, &simTask{id: fmt.Sprintf("%s-%d", f.name, f.seq), job: j, run: run, submitted: submitted})
	f.r.stats.TasksSubmitted++
}

// placeElastic launches as many pending tasks as fit in o, first come
// first served, and declines o when none does.
func (f *framework) placeElastic(d *scheduler.Driver, o *messages.Offer) {
	left := scalarsOf(o.Resources)
	var tasks []*messages.TaskInfo
	for len(f.pending) > 0 && left.take(f.scalars) {
		t := f.pending[0]
		f.pending = f.pending[1:]
		tasks = append(tasks, f.launch(t))
	}
	if len(tasks) == 0 {
		f.r.stats.Declines++
		f.declines++
		d.Decline([]*messages.OfferID{o.Id}, f.spec.Refuse.D().Seconds())
		return
	}
	d.Launch([]*messages.Offer{o}, tasks...)
}

// placeGangs starts the jobs at the head of the queue whose current wave
// fits, all of it at once, in the offers held; the rest wait for more
// offers until Hold passes.
func (f *framework) placeGangs(d *scheduler.Driver) {
	for len(f.pending) > 0 {
		head := f.pending[0].job
		n := 0
		for n < len(f.pending) && f.pending[n].job == head {
			n++
		}
		// What all held offers add up to must hold the wave before
		// placing is worth trying (offers arrive by the thousand).
		total := scalars{}
		left := make([]scalars, len(f.held))
		for i, o := range f.held {
			left[i] = scalarsOf(o.Resources)
			for k, v := range left[i] {
				total[k] += v
			}
		}
		if !total.holds(f.scalars, n) {
			break
		}
		where := make([]int, n)
		placed, from := 0, 0
		for k := 0; k < n; k++ {
			for i := from; i < len(left); i++ {
				if left[i].take(f.scalars) {
					where[k] = i
					placed++
					break
				}
				from = i + 1 // first fit: a full offer stays full
			}
		}
		if placed < n {
			break
		}
		byOffer := map[int][]*messages.TaskInfo{}
		for k, t := range f.pending[:n] {
			byOffer[where[k]] = append(byOffer[where[k]], f.launch(t))
		}
		f.pending = f.pending[n:]
		var keep []*messages.Offer
		for i, o := range f.held {
			if tasks, ok := byOffer[i]; ok {
				d.Launch([]*messages.Offer{o}, tasks...)
			} else {
				keep = append(keep, o)
			}
		}
		f.held = keep
		f.r.stats.GangsStarted++
	}
	switch {
	case len(f.held) == 0:
	case len(f.pending) == 0:
		f.declineHeld(d, f.spec.Refuse.D())
		f.suppressIfIdle(d)
	case !f.holding:
		// Hoarding gangs that hold part of what each needs would wait
		// on each other for ever if they let go in step: each holds
		// for Hold, give or take half.
		f.holding = true
		f.holdGen++
		d.After(time.Duration(float64(f.spec.Hold)*(0.5+f.jitter.Float64())), releaseHeld{gen: f.holdGen})
	}
}

func (f *framework) declineHeld(d *scheduler.Driver, refuse time.Duration) {
	if len(f.held) == 0 {
		return
	}
	f.r.stats.Declines += len(f.held)
	f.declines += len(f.held)
	d.Decline(scheduler.OfferIDs(f.held), refuse.Seconds())
	f.held = nil
}

// suppressIfIdle stops offers while nothing is pending (Mesos' SUPPRESS);
// an arrival revives them.
func (f *framework) suppressIfIdle(d *scheduler.Driver) {
	if len(f.pending) == 0 && !f.suppressed {
		f.suppressed = true
		d.Suppress()
	}
}

func (f *framework) launch(t *simTask) *messages.TaskInfo {
	f.live[t.id] = t
	f.r.stats.TasksLaunched++
	f.launched++
	return scheduler.Command(t.id, fmt.Sprintf("sleep %.3f", t.run.Seconds()), f.shape)
}

func (f *framework) status(d *scheduler.Driver, st *messages.TaskStatus, now time.Time) {
	t, ok := f.live[st.TaskId.GetValue()]
	if !ok {
		return
	}
	r := f.r
	switch st.State {
	case messages.TaskState_TASK_STARTING, messages.TaskState_TASK_RUNNING, messages.TaskState_TASK_KILLING, messages.TaskState_TASK_FINISHED:
		// States only an agent reports (an agent sends STARTING first,
		// whatever happens next): the launch reached one.
		t.started = true
	}
	switch {
	case st.State == messages.TaskState_TASK_RUNNING:
		if !t.running {
			t.running = true
			r.waits = append(r.waits, now.Sub(t.submitted))
		}
		return
	case st.State == messages.TaskState_TASK_UNREACHABLE:
		r.stats.Unreachable++
		return
	case !messages.IsTerminal(st.State) && st.State != messages.TaskState_TASK_UNKNOWN:
		// TASK_UNKNOWN (a partition-aware framework's answer to
		// reconciling a launch the master never got) ends it as LOST does.
		return
	}
	delete(f.live, t.id)
	r.ended[st.State.String()]++
	switch {
	case st.State == messages.TaskState_TASK_FINISHED:
		r.stats.TasksFinished++
		t.job.left--
		if t.job.left == 0 {
			t.job.wave++
			if t.job.wave < len(t.job.waves) {
				f.submitWave(d, t.job, now)
			} else {
				r.stats.JobsFinished++
			}
		}
		return
	case st.State == messages.TaskState_TASK_KILLED && st.Reason == messages.TaskStatusReason_REASON_PREEMPTED:
		r.stats.Preempted++
	case !t.started:
		// Its launch never reached an agent (sent to a master that
		// crashed, or refused): not a task the cluster lost.
		r.stats.LaunchesLost++
	default:
		r.stats.Lost++
	}
	// Run it again, as a real framework would: resubmitted now.
	r.stats.TasksSubmitted--
	f.enqueue(t.job, t.run, now)
	if f.suppressed {
		f.revive(d)
	}
}

// scalars are resources by name: what placement needs of an offer (task
// shapes in workloads are scalars), without the allocations of the SDK's
// general helpers, which a 10,000-agent simulation would spend its time in.
type scalars map[string]float64

func scalarsOf(rs []*messages.Resource) scalars {
	s := scalars{}
	for _, r := range rs {
		s[r.Name] += r.Scalar
	}
	return s
}

// take subtracts want if it fits, and reports whether it did.
func (s scalars) take(want map[string]float64) bool {
	if !s.holds(want, 1) {
		return false
	}
	for k, v := range want {
		s[k] -= v
	}
	return true
}

// holds reports whether n of want fit in s.
func (s scalars) holds(want map[string]float64, n int) bool {
	for k, v := range want {
		if s[k]+1e-9 < v*float64(n) {
			return false
		}
	}
	return true
}

// taskRunTime reads a simulated task's run time from its command, "sleep
// SECONDS": the same task would run as long on a real agent.
func taskRunTime(spec containerizer.LaunchSpec) time.Duration {
	fields := strings.Fields(spec.Command.GetValue())
	if len(fields) != 2 || fields[0] != "sleep" {
		return 0
	}
	secs, err := strconv.ParseFloat(fields[1], 64)
	if err != nil {
		return 0
	}
	return time.Duration(secs * float64(time.Second))
}

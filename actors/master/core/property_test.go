package core

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"pgregory.net/rapid"
)

// TestCoreAndAllocatorAgree drives a core with random inputs (agents that
// come, go unreachable and return; schedulers that subscribe, fail over,
// disconnect and tear down; offers accepted with valid and invalid tasks,
// declined, timed out; tasks that run, end and are acknowledged) and feeds
// everything it tells the allocator to a real allocation policy, whose
// grants come back to the core. After every step:
//   - the policy refused nothing (the master's and the allocator's books
//     agree, so nothing is offered twice or lost);
//   - on every agent, what live tasks hold plus what is offered fits in
//     its total;
//   - the per-framework and per-role accounts equal a recount.
func TestCoreAndAllocatorAgree(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		w := newWorld(rt)
		// A cluster to start from: the actions below then mostly act.
		for _, step := range []func(*rapid.T){w.register, w.register, w.subscribe, w.subscribe, w.allocate} {
			step(rt)
		}
		rt.Repeat(map[string]func(*rapid.T){
			"register":    w.register,
			"unreachable": w.unreachable,
			"reregister":  w.reregister,
			"subscribe":   w.subscribe,
			"disconnect":  w.disconnect,
			"teardown":    w.teardown,
			"allocate":    w.allocate,
			"accept":      w.accept,
			"decline":     w.decline,
			"status":      w.status,
			"ack":         w.ack,
			"kill":        w.kill,
			"tick":        w.tick,
			"":            w.check,
		})
	})
}

// world is a core, a policy playing the allocator, and what the agents and
// schedulers would know: tasks each agent runs, offers and updates each
// scheduler holds.
type world struct {
	c   *Core
	pol policy.Allocator
	now time.Time
	t   interface{ Fatalf(string, ...any) } // rapid's, or a fuzz target's

	// timers the core armed, in order.
	timers []armed
	// agents by name: its ID (once registered) and the tasks it runs
	// (framework/task -> RunTask).
	agentIDs  map[string]string
	agentRuns map[string]map[string]*messages.RunTask
	// schedulers by name: the framework ID, its connection, offers and
	// unacknowledged updates it holds.
	fwIDs   map[string]string
	conns   map[string]Endpoint
	offers  map[string][]*messages.Offer
	updates map[string][]*messages.TaskStatus
	nextGen int
	nextTID int
	uuid    int
	// transfers counts the charges the core moved (AllocatorTransfer).
	transfers int
}

func newWorld(t *rapid.T) *world {
	pol, _ := policy.New("drf", policy.Options{Seed: 1})
	w := &world{t: t, pol: pol, now: traceT0, agentIDs: map[string]string{}, agentRuns: map[string]map[string]*messages.RunTask{},
		fwIDs: map[string]string{}, conns: map[string]Endpoint{}, offers: map[string][]*messages.Offer{}, updates: map[string][]*messages.TaskStatus{}}
	w.c = New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}, Liveness: LivenessPolicy{Interval: 5 * time.Second, MaxMisses: 3},
		OfferTimeout: 30 * time.Second, FrameworkHeartbeat: 15 * time.Second})
	w.run(w.c.Start(w.now))
	return w
}

// run carries out a Ready: allocator messages go to the policy (which must
// take them), messages to agents and schedulers to their models.
func (w *world) run(r Ready) {
	// A copy: delivering can make an agent answer at once, a call into the
	// core that reuses the Ready's storage.
	for _, e := range slices.Clone(r.Effects) {
		switch e := e.(type) {
		case ToAllocator:
			if _, ok := e.Msg.(*messages.AllocatorCheckShortfalls); ok {
				continue
			}
			if _, ok := e.Msg.(*messages.AllocatorTransfer); ok {
				w.transfers++
			}
			if _, err := policy.Apply(w.pol, e.Msg, w.now); err != nil {
				w.t.Fatalf("the allocator refused %T from the core: %v", e.Msg, err)
			}
		case Arm:
			w.timers = append(w.timers, armed{at: w.now.Add(e.After), timer: e.Timer, seq: len(w.timers)})
		case Send:
			w.deliver(e.To, e.Msg)
		}
	}
}

func (w *world) deliver(to Endpoint, msg any) {
	switch m := msg.(type) {
	case *messages.RunTask:
		runs := w.agentRuns[to.ID]
		if runs != nil {
			runs[m.Framework.Id.Value+"/"+m.Task.TaskId.Value] = m
		}
	case *messages.KillTask:
		// The agent ends a task it runs when told to.
		if runs := w.agentRuns[to.ID]; runs != nil {
			if rt, ok := runs[m.FrameworkId.Value+"/"+m.TaskId.Value]; ok {
				w.report(to.ID, rt, messages.TaskState_TASK_KILLED)
			}
		}
	case *messages.Offers:
		w.offers[to.ID] = append(w.offers[to.ID], m.Offers...)
	case *messages.RescindOffer:
		w.offers[to.ID] = slices.DeleteFunc(w.offers[to.ID], func(o *messages.Offer) bool { return o.Id.Value == m.OfferId.Value })
	case *messages.StatusUpdate:
		if len(m.Status.Uuid) > 0 {
			w.updates[to.ID] = append(w.updates[to.ID], m.Status)
		}
	}
}

// report is an agent sending a status update for a task it runs; a
// terminal one ends the run.
func (w *world) report(agent string, rt *messages.RunTask, state messages.TaskState) {
	w.uuid++
	st := &messages.TaskStatus{TaskId: rt.Task.TaskId, AgentId: &messages.AgentID{Value: w.agentIDs[agent]}, State: state, Uuid: []byte(fmt.Sprint("u", w.uuid))}
	if messages.IsTerminal(state) {
		delete(w.agentRuns[agent], rt.Framework.Id.Value+"/"+rt.Task.TaskId.Value)
	}
	w.run(w.c.StatusUpdate(Peer{Endpoint: Endpoint{"h:1", agent}}, &messages.StatusUpdate{FrameworkId: rt.Framework.Id, Status: st}, w.now))
}

func pick[T any](t *rapid.T, label string, xs []T) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	return xs[rapid.IntRange(0, len(xs)-1).Draw(t, label)], true
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (w *world) register(t *rapid.T) {
	name := rapid.SampledFrom([]string{"a1", "a2", "a3"}).Draw(t, "agent")
	if _, ok := w.agentIDs[name]; ok {
		return
	}
	res, _ := messages.ParseResources("cpus:4;mem:4096")
	r := w.c.RegisterAgent(Peer{Endpoint: Endpoint{"h:1", name}}, &messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: name, Resources: res}}, w.now)
	for _, e := range r.Effects {
		if s, ok := e.(Send); ok {
			if reg, ok := s.Msg.(*messages.AgentRegistered); ok {
				w.agentIDs[name] = reg.AgentId.Value
				w.agentRuns[name] = map[string]*messages.RunTask{}
			}
		}
	}
	w.run(r)
}

func (w *world) unreachable(t *rapid.T) {
	name, ok := pick(t, "agent", keys(w.agentIDs))
	if ok {
		w.run(w.c.AgentUnreachable(w.agentIDs[name], w.now))
	}
}

// reregister is an agent coming back with the tasks it runs.
func (w *world) reregister(t *rapid.T) {
	name, ok := pick(t, "agent", keys(w.agentIDs))
	if !ok {
		return
	}
	res, _ := messages.ParseResources("cpus:4;mem:4096")
	msg := &messages.ReregisterAgent{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: w.agentIDs[name]}, Hostname: name, Resources: res}}
	seen := map[string]bool{}
	for _, k := range keys(w.agentRuns[name]) {
		rt := w.agentRuns[name][k]
		msg.Tasks = append(msg.Tasks, &messages.Task{TaskId: rt.Task.TaskId, FrameworkId: rt.Framework.Id, State: messages.TaskState_TASK_RUNNING,
			Resources: rt.Task.Resources, Role: rt.Role})
		if !seen[rt.Framework.Id.Value] {
			seen[rt.Framework.Id.Value] = true
			msg.Frameworks = append(msg.Frameworks, rt.Framework)
		}
	}
	w.run(w.c.ReregisterAgent(Peer{Endpoint: Endpoint{"h:1", name}}, msg, w.now))
}

func (w *world) subscribe(t *rapid.T) {
	name := rapid.SampledFrom([]string{"f1", "f2"}).Draw(t, "framework")
	info := &messages.FrameworkInfo{Name: name, Roles: []string{"r-" + name}}
	if id, ok := w.fwIDs[name]; ok {
		info.Id = &messages.FrameworkID{Value: id}
	}
	w.subscribeAs(name, info)
}

// subscribeAs is scheduler name subscribing info on a new connection; the
// world learns its framework ID and connection when the core accepts it.
func (w *world) subscribeAs(name string, info *messages.FrameworkInfo) {
	w.nextGen++
	conn := Endpoint{"s:1", fmt.Sprintf("%s.%d", name, w.nextGen)}
	r := w.c.Subscribe(Peer{Endpoint: conn}, &messages.SubscribeFramework{Info: info}, w.now)
	for _, e := range r.Effects {
		if s, ok := e.(Send); ok {
			if sub, ok := s.Msg.(*messages.FrameworkSubscribed); ok {
				w.fwIDs[name] = sub.FrameworkId.Value
				w.conns[name] = conn
			}
		}
	}
	w.run(r)
}

func (w *world) disconnect(t *rapid.T) {
	name, ok := pick(t, "framework", keys(w.conns))
	if ok {
		w.run(w.c.SchedulerLost(w.fwIDs[name], w.conns[name], w.now))
	}
}

func (w *world) teardown(t *rapid.T) {
	name, ok := pick(t, "framework", keys(w.conns))
	if ok {
		w.run(w.c.Teardown(Peer{Endpoint: w.conns[name]}, &messages.Teardown{FrameworkId: &messages.FrameworkID{Value: w.fwIDs[name]}}, w.now))
	}
}

func (w *world) allocate(t *rapid.T) {
	if grants := w.pol.Allocate(w.now); len(grants) > 0 {
		w.run(w.c.Allocated(policy.EncodeGrants(grants), w.now))
	}
}

// schedulerOffers is a scheduler's offers, with their holder's name.
func (w *world) schedulerOffer(t *rapid.T) (string, *messages.Offer, bool) {
	name, ok := pick(t, "framework", keys(w.conns))
	if !ok {
		return "", nil, false
	}
	o, ok := pick(t, "offer", w.offers[w.conns[name].ID])
	return name, o, ok
}

func (w *world) accept(t *rapid.T) {
	name, o, ok := w.schedulerOffer(t)
	if !ok {
		return
	}
	var tasks []*messages.TaskInfo
	for i := 0; i < rapid.IntRange(0, 3).Draw(t, "tasks"); i++ {
		w.nextTID++
		res, _ := messages.ParseResources(fmt.Sprintf("cpus:%d;mem:%d", rapid.IntRange(1, 3).Draw(t, "cpus"), 256*rapid.IntRange(1, 6).Draw(t, "mem")))
		tasks = append(tasks, &messages.TaskInfo{Name: "t", TaskId: &messages.TaskID{Value: fmt.Sprint("t", w.nextTID)}, Resources: res,
			Command: &messages.CommandInfo{Value: "true"}, AgentId: o.AgentId})
	}
	msg := &messages.Accept{FrameworkId: &messages.FrameworkID{Value: w.fwIDs[name]}, OfferIds: []*messages.OfferID{o.Id}}
	if len(tasks) > 0 {
		msg.Operations = []*messages.Operation{{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: tasks}}}}
	}
	w.forgetOffer(name, o)
	w.run(w.c.Accept(Peer{Endpoint: w.conns[name]}, msg, w.now))
}

func (w *world) forgetOffer(name string, o *messages.Offer) {
	id := w.conns[name].ID
	w.offers[id] = slices.DeleteFunc(w.offers[id], func(x *messages.Offer) bool { return x.Id.Value == o.Id.Value })
}

func (w *world) decline(t *rapid.T) {
	name, o, ok := w.schedulerOffer(t)
	if !ok {
		return
	}
	w.forgetOffer(name, o)
	refuse := float64(rapid.IntRange(0, 10).Draw(t, "refuse"))
	w.run(w.c.Decline(Peer{Endpoint: w.conns[name]}, &messages.Decline{FrameworkId: &messages.FrameworkID{Value: w.fwIDs[name]},
		OfferIds: []*messages.OfferID{o.Id}, Filters: &messages.Filters{RefuseSeconds: &refuse}}, w.now))
}

func (w *world) status(t *rapid.T) {
	agent, ok := pick(t, "agent", keys(w.agentRuns))
	if !ok {
		return
	}
	k, ok := pick(t, "task", keys(w.agentRuns[agent]))
	if !ok {
		return
	}
	state := rapid.SampledFrom([]messages.TaskState{messages.TaskState_TASK_RUNNING, messages.TaskState_TASK_FINISHED, messages.TaskState_TASK_FAILED}).Draw(t, "state")
	w.report(agent, w.agentRuns[agent][k], state)
}

func (w *world) ack(t *rapid.T) {
	name, ok := pick(t, "framework", keys(w.conns))
	if !ok {
		return
	}
	conn := w.conns[name]
	st, ok := pick(t, "update", w.updates[conn.ID])
	if !ok {
		return
	}
	w.updates[conn.ID] = slices.DeleteFunc(w.updates[conn.ID], func(x *messages.TaskStatus) bool { return x == st })
	w.run(w.c.Acknowledge(Peer{Endpoint: conn}, &messages.Acknowledge{FrameworkId: &messages.FrameworkID{Value: w.fwIDs[name]}, AgentId: st.AgentId,
		TaskId: st.TaskId, Uuid: st.Uuid}, w.now))
}

func (w *world) kill(t *rapid.T) {
	name, ok := pick(t, "framework", keys(w.conns))
	if !ok {
		return
	}
	w.run(w.c.Kill(Peer{Endpoint: w.conns[name]}, &messages.KillTask{FrameworkId: &messages.FrameworkID{Value: w.fwIDs[name]},
		TaskId: &messages.TaskID{Value: fmt.Sprint("t", rapid.IntRange(1, max(w.nextTID, 1)).Draw(t, "task"))}}, w.now))
}

// tick moves the clock and fires the timers that come due.
func (w *world) tick(t *rapid.T) {
	end := w.now.Add(time.Duration(rapid.IntRange(1, 40).Draw(t, "seconds")) * time.Second)
	for {
		slices.SortStableFunc(w.timers, func(a, b armed) int { return a.at.Compare(b.at) })
		if len(w.timers) == 0 || w.timers[0].at.After(end) {
			break
		}
		next := w.timers[0]
		w.timers = w.timers[1:]
		w.now = next.at
		w.run(w.c.Fire(next.timer, w.now))
	}
	w.now = end
}

// check is the invariant run after every step.
func (w *world) check(t *rapid.T) {
	if err := booksAgree(w.c); err != nil {
		t.Fatal(err)
	}
	if err := chargesAgree(w.c, w.pol); err != nil {
		t.Fatal(err)
	}
	if err := offerTimersAgree(w.c, w.timers, w.now); err != nil {
		t.Fatal(err)
	}
	if err := countsAgree(w.c, w.now); err != nil {
		t.Fatal(err)
	}
}

// countsAgree checks what the count gauges read (Counts) against a recount
// of the snapshot /state shows, which the gauges were read from before.
func countsAgree(c *Core, now time.Time) error {
	st := c.State(now)
	want := Counts{Agents: len(st.Agents), Tasks: map[messages.TaskState]int{}}
	for _, a := range st.Agents {
		if a.Reachable {
			want.Reachable++
		}
	}
	for _, f := range st.Frameworks {
		switch {
		case f.TearingDown:
			want.TearingDown++
		case !f.Connected:
			want.Disconnected++
		default:
			want.Connected++
		}
		for name, n := range f.Tasks {
			want.Tasks[messages.TaskState(messages.TaskState_value[name])] += int(n)
		}
	}
	if got := c.Counts(); !reflect.DeepEqual(got, want) {
		return fmt.Errorf("counts %+v, the snapshot's %+v", got, want)
	}
	return nil
}

// offerTimersAgree checks the offer timeout: no offer is out longer than
// the timeout and the timer's slack (a hundredth of it), and a framework
// has at most one offer timer pending, the one its record names; a timer
// per Offers message kept every offer ID it named alive for the whole
// timeout.
func offerTimersAgree(c *Core, timers []armed, now time.Time) error {
	pending := map[string]int{}
	for _, a := range timers {
		if t, ok := a.timer.(offerTimeout); ok {
			if f, ok := c.books.frameworks[t.frameworkID]; ok && f.offerTimer.Equal(t.at) {
				pending[t.frameworkID]++
			}
		}
	}
	for id, f := range c.books.frameworks {
		if n := pending[id]; n > 1 || (n == 0 && !f.offerTimer.IsZero()) {
			return fmt.Errorf("framework %s: %d offer timers pending for its record's %v", id, n, f.offerTimer)
		}
		for _, o := range f.offers {
			if !o.expires.IsZero() && now.After(o.expires.Add(c.cfg.OfferTimeout/100)) {
				return fmt.Errorf("framework %s: offer %s out at %v, past its expiry %v", id, o.id, now, o.expires)
			}
		}
	}
	return nil
}

// booksAgree checks the core's books: on every agent what tasks and offers
// hold fits in its total, and the per-framework and per-role tallies equal
// a recount.
func booksAgree(c *Core) error {
	b := c.books
	for id, a := range b.agents {
		total, _, _ := policy.FromMessages(a.info.Resources)
		var held policy.Resources
		for _, task := range a.tasks {
			if !messages.IsTerminal(task.task.State) {
				held = held.Add(task.res)
			}
		}
		for _, o := range a.offers {
			if o.resv == "" { // reserved ones: reservationHolds
				held = held.Add(o.res)
			}
		}
		var executors policy.Resources
		for k, ex := range b.executors {
			if k.agent == id {
				executors = executors.Add(ex.res)
			}
		}
		held = held.Add(executors)
		if !total.Contains(held) {
			return fmt.Errorf("agent %s: tasks, executors and offers hold %s of %s", id, held, total)
		}
		used := executors
		for _, task := range a.tasks {
			if !messages.IsTerminal(task.task.State) {
				used = used.Add(task.held())
			}
		}
		for _, ch := range a.shared {
			used = used.Add(ch.disk)
		}
		if used.String() != a.used.String() {
			return fmt.Errorf("agent %s: used %s, recount %s", id, a.used, used)
		}
	}
	for id, a := range b.agents {
		if key := identityKey(a.role, a.principal, a.info.GetHostname()); a.identity != key {
			return fmt.Errorf("agent %s: identity slot %q, want %q", id, a.identity, key)
		}
		if _, ok := b.byIdentity[a.identity][id]; a.identity != "" && !ok {
			return fmt.Errorf("agent %s: not indexed under its identity %q", id, a.identity)
		}
	}
	for key, ids := range b.byIdentity {
		for id := range ids {
			if a := b.agents[id]; a == nil || a.identity != key {
				return fmt.Errorf("identity %q indexes agent %s, which is gone or elsewhere", key, id)
			}
		}
	}
	if err := sharedChargesAgree(c); err != nil {
		return err
	}
	roles := map[string]uint32{}
	for _, f := range b.frameworks {
		var used policy.Resources
		for _, task := range f.tasks {
			if !messages.IsTerminal(task.task.State) {
				used = used.Add(task.res)
				roles[task.task.Role]++
			}
		}
		for k, ex := range b.executors {
			if k.framework == f.id() {
				used = used.Add(ex.res)
			}
		}
		if used.String() != f.used.String() {
			return fmt.Errorf("framework %s: used %s, recount %s", f.id(), f.used, used)
		}
	}
	executors := map[string]uint32{}
	for k, ex := range b.executors {
		if b.agents[k.agent] == nil || b.frameworks[k.framework] == nil {
			return fmt.Errorf("executor %v is charged but its agent or framework is gone", k)
		}
		executors[ex.role]++
	}
	for role, r := range b.roles {
		if roles[role] != r.tasks || executors[role] != r.executors {
			return fmt.Errorf("role %s: %d tasks and %d executors tallied, %d and %d counted", role, r.tasks, r.executors, roles[role], executors[role])
		}
	}
	return nil
}

package core

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/proto"
)

// FuzzCore feeds the core what a network peer can send: every message the
// master validates (register, re-register, heartbeat, subscribe, accept,
// decline, status update, acknowledge, kill, reconcile, role updates, ...)
// decoded from random bytes, from peers of every role, legitimate or not,
// on a cluster that two agents and two frameworks use in earnest, with a
// fixed clock that only the input moves. After every message: no panic,
// the allocator (a real policy) accepted everything the core told it, and
// the books agree with a recount (booksAgree).
//
// An input is a sequence of steps: an opcode byte, a peer byte, a fix-up
// byte and a length byte, then that many bytes of protobuf. The fix-up
// bits put the IDs the peer really holds (its framework, offers, agent,
// a task) into the message, so that random bytes reach past the checks
// for unknown IDs.
func FuzzCore(f *testing.F) {
	for _, seed := range coreSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input []byte) { runCoreInput(t, input) })
}

func runCoreInput(t *testing.T, input []byte) *fuzzWorld {
	w := newFuzzWorld(t)
	for step := 0; len(input) >= 4 && step < 64; step++ {
		op, peer, fix, n := input[0], input[1], input[2], int(input[3])
		input = input[4:]
		n = min(n, len(input))
		payload := input[:n]
		input = input[n:]
		w.step(op, peer, fix, payload)
		if err := booksAgree(w.c); err != nil {
			t.Fatalf("step %d (op %d): %v", step, op%numOps, err)
		}
	}
	return w
}

// The harness reaches the core's depths: in the first seed a task of the
// first framework runs (the other agent's forged FINISHED for it refused),
// and the second framework launches one with all an agent has.
func TestFuzzCoreSeedsLaunchTasks(t *testing.T) {
	w := runCoreInput(t, coreSeeds()[0])
	var got []string
	for _, f := range w.c.books.frameworks {
		for id, task := range f.tasks {
			got = append(got, fmt.Sprint(f.info.Name, "/", id, " ", task.task.State))
		}
	}
	slices.Sort(got)
	if want := []string{"f1/t1 TASK_RUNNING", "f2/t1 TASK_STAGING"}; !slices.Equal(got, want) {
		t.Fatalf("tasks %v, want %v", got, want)
	}
}

// fuzzPeers: the cluster's own agents and frameworks, an operator, an
// agent and a framework certificate that are not the cluster's, an
// unauthenticated peer (a cluster without TLS: checks off), and an
// agent-host certificate.
var fuzzPeers = []Peer{
	{Endpoint: Endpoint{"h:1", "a1"}, Role: RoleAgent, Principal: "a1"},
	{Endpoint: Endpoint{"h:2", "a2"}, Role: RoleAgent, Principal: "a2"},
	{Endpoint: Endpoint{"s:1", "f1"}, Role: RoleFramework, Principal: "f1"},
	{Endpoint: Endpoint{"s:2", "f2"}, Role: RoleFramework, Principal: "f2"},
	{Endpoint: Endpoint{"o:1", "op"}, Role: RoleOperator, Principal: "op"},
	{Endpoint: Endpoint{"x:1", "a3"}, Role: RoleAgent, Principal: "a3"},
	{Endpoint: Endpoint{"x:2", "evil"}, Role: RoleFramework, Principal: "evil"},
	{Endpoint: Endpoint{"x:3", "anon"}},
	// A test harness's agent-host certificate (the world takes 4 agents
	// from it: ah-0 .. ah-3).
	{Endpoint: Endpoint{"x:4", "ah"}, Role: RoleAgentHost, Principal: "ah"},
}

// fuzzHostname is a hostname p may register an agent under: its name, or
// an agent host's first slot.
func fuzzHostname(p Peer) string {
	if p.Role == RoleAgentHost {
		return p.Principal + "-0"
	}
	return p.Principal
}

const (
	opRegister = iota
	opReregister
	opHeartbeat
	opUnregister
	opSubscribe
	opAccept
	opDecline
	opStatus
	opAck
	opKill
	opReconcile
	opUpdateRole
	opTeardown
	opSuppress
	opRevive
	opToExecutor
	opToFramework
	opTick
	opAllocate
	opUnreachable
	opSchedulerLost
	opKillExecutor
	numOps
)

const (
	fixFramework = 1 << iota
	fixOffers
	fixAgent
	fixTask
)

type fuzzWorld struct {
	*world
}

func newFuzzWorld(t *testing.T) *fuzzWorld {
	pol, _ := policy.New("drf", policy.Options{Seed: 1})
	w := &world{t: t, pol: pol, now: traceT0, agentIDs: map[string]string{}, agentRuns: map[string]map[string]*messages.RunTask{},
		fwIDs: map[string]string{}, conns: map[string]Endpoint{}, offers: map[string][]*messages.Offer{}, updates: map[string][]*messages.TaskStatus{}}
	w.c = New(Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}, Liveness: LivenessPolicy{Interval: 5 * time.Second, MaxMisses: 3},
		OfferTimeout: 30 * time.Second, FrameworkHeartbeat: 15 * time.Second, ReclaimInterval: 10 * time.Second,
		Limits: Limits{MaxAgentsPerAgentHost: 4}})
	w.run(w.c.Start(w.now))
	fw := &fuzzWorld{w}
	res, _ := messages.ParseResources("cpus:4;mem:4096;ports:[31000-31010]")
	for _, p := range fuzzPeers[:2] {
		r := w.c.RegisterAgent(p, &messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: p.Principal, Resources: res}}, w.now)
		fw.learn(p, r)
	}
	for _, p := range fuzzPeers[2:4] {
		r := w.c.Subscribe(p, &messages.SubscribeFramework{Info: &messages.FrameworkInfo{Name: p.Principal, Principal: p.Principal,
			Roles: []string{"r-" + p.Principal}}}, w.now)
		fw.learn(p, r)
	}
	w.allocate(nil)
	return fw
}

// learn notes the IDs a legitimate peer is given, then carries r out.
func (w *fuzzWorld) learn(p Peer, r Ready) {
	for _, e := range r.Effects {
		if s, ok := e.(Send); ok {
			switch m := s.Msg.(type) {
			case *messages.AgentRegistered:
				w.agentIDs[p.Principal] = m.AgentId.Value
				if w.agentRuns[p.Principal] == nil {
					w.agentRuns[p.Principal] = map[string]*messages.RunTask{}
				}
			case *messages.FrameworkSubscribed:
				w.fwIDs[p.Endpoint.ID] = m.FrameworkId.Value
				w.conns[p.Endpoint.ID] = p.Endpoint
			}
		}
	}
	w.run(r)
}

func (w *fuzzWorld) frameworkID(p Peer) *messages.FrameworkID {
	if id, ok := w.fwIDs[p.Endpoint.ID]; ok {
		return &messages.FrameworkID{Value: id}
	}
	return &messages.FrameworkID{Value: "m-1-F1"} // (another's)
}

func (w *fuzzWorld) agentID(p Peer) *messages.AgentID {
	if id, ok := w.agentIDs[p.Principal]; ok {
		return &messages.AgentID{Value: id}
	}
	return &messages.AgentID{Value: "m-1-A1"} // (another's)
}

// aTask is a task some agent runs (of p's framework if it has one), chosen
// by sel, deterministically.
func (w *fuzzWorld) aTask(p Peer, sel byte) (string, *messages.RunTask) {
	type run struct {
		agent string
		rt    *messages.RunTask
	}
	var all []run
	for _, a := range keys(w.agentRuns) {
		for _, k := range keys(w.agentRuns[a]) {
			rt := w.agentRuns[a][k]
			if fid, ok := w.fwIDs[p.Endpoint.ID]; !ok || rt.Framework.Id.Value == fid {
				all = append(all, run{a, rt})
			}
		}
	}
	if len(all) == 0 {
		return "", nil
	}
	r := all[int(sel)%len(all)]
	return r.agent, r.rt
}

// takeOffers returns the offers p holds on one agent (that of its offer
// sel picks), and forgets them: an accept must name offers of one agent.
func (w *fuzzWorld) takeOffers(p Peer, sel byte) []*messages.OfferID {
	held := w.offers[p.Endpoint.ID]
	if len(held) == 0 {
		return nil
	}
	agent := held[int(sel)%len(held)].AgentId.GetValue()
	var ids []*messages.OfferID
	for _, o := range held {
		if o.AgentId.GetValue() == agent {
			ids = append(ids, o.Id)
		}
	}
	w.offers[p.Endpoint.ID] = slices.DeleteFunc(held, func(o *messages.Offer) bool { return o.AgentId.GetValue() == agent })
	return ids
}

func (w *fuzzWorld) step(op, peer, fix byte, payload []byte) {
	p := fuzzPeers[int(peer)%len(fuzzPeers)]
	op %= numOps
	decode := func(m proto.Message) bool {
		return proto.Unmarshal(payload, m) == nil
	}
	now := w.now
	switch op {
	case opRegister:
		m := &messages.RegisterAgent{}
		if decode(m) {
			if fix&fixAgent != 0 && m.Info != nil {
				m.Info.Hostname = fuzzHostname(p)
			}
			w.learn(p, w.c.RegisterAgent(p, m, now))
		}
	case opReregister:
		m := &messages.ReregisterAgent{}
		if decode(m) {
			if fix&fixAgent != 0 {
				if m.Info == nil {
					m.Info = &messages.AgentInfo{}
				}
				m.Info.Id, m.Info.Hostname = w.agentID(p), fuzzHostname(p)
			}
			w.learn(p, w.c.ReregisterAgent(p, m, now))
		}
	case opHeartbeat:
		m := &messages.AgentHeartbeat{}
		if decode(m) {
			if fix&fixAgent != 0 {
				m.AgentId = w.agentID(p)
			}
			w.run(w.c.AgentHeartbeat(p, m, now))
		}
	case opUnregister:
		m := &messages.UnregisterAgent{}
		if decode(m) {
			if fix&fixAgent != 0 {
				m.AgentId = w.agentID(p)
			}
			w.run(w.c.UnregisterAgent(p, m, now))
		}
	case opSubscribe:
		m := &messages.SubscribeFramework{}
		if decode(m) {
			if fix&fixFramework != 0 && m.Info != nil {
				m.Info.Id = w.frameworkID(p)
			}
			w.learn(p, w.c.Subscribe(p, m, now))
		}
	case opAccept:
		m := &messages.Accept{}
		if decode(m) {
			if fix&fixFramework != 0 {
				m.FrameworkId = w.frameworkID(p)
			}
			if fix&fixOffers != 0 {
				m.OfferIds = w.takeOffers(p, fix>>4)
			}
			w.run(w.c.Accept(p, m, now))
		}
	case opDecline:
		m := &messages.Decline{}
		if decode(m) {
			if fix&fixFramework != 0 {
				m.FrameworkId = w.frameworkID(p)
			}
			if fix&fixOffers != 0 {
				m.OfferIds = w.takeOffers(p, fix>>4)
			}
			w.run(w.c.Decline(p, m, now))
		}
	case opStatus:
		m := &messages.StatusUpdate{}
		if decode(m) {
			if fix&fixTask != 0 {
				if agent, rt := w.aTask(Peer{}, fix>>4); rt != nil {
					if m.Status == nil {
						m.Status = &messages.TaskStatus{}
					}
					m.FrameworkId, m.Status.TaskId, m.Status.AgentId = rt.Framework.Id, rt.Task.TaskId, &messages.AgentID{Value: w.agentIDs[agent]}
				}
			}
			w.run(w.c.StatusUpdate(p, m, now))
		}
	case opAck:
		m := &messages.Acknowledge{}
		if decode(m) {
			if fix&fixFramework != 0 {
				m.FrameworkId = w.frameworkID(p)
			}
			if ups := w.updates[p.Endpoint.ID]; fix&fixTask != 0 && len(ups) > 0 {
				st := ups[int(fix>>4)%len(ups)]
				m.AgentId, m.TaskId, m.Uuid = st.AgentId, st.TaskId, st.Uuid
			}
			w.run(w.c.Acknowledge(p, m, now))
		}
	case opKill:
		m := &messages.KillTask{}
		if decode(m) {
			if fix&fixFramework != 0 {
				m.FrameworkId = w.frameworkID(p)
			}
			if _, rt := w.aTask(p, fix>>4); fix&fixTask != 0 && rt != nil {
				m.TaskId = rt.Task.TaskId
			}
			w.run(w.c.Kill(p, m, now))
		}
	case opReconcile:
		m := &messages.Reconcile{}
		if decode(m) {
			if fix&fixFramework != 0 {
				m.FrameworkId = w.frameworkID(p)
			}
			w.run(w.c.Reconcile(p, m, now))
		}
	case opUpdateRole:
		m := &messages.UpdateRole{}
		if decode(m) {
			w.run(w.c.UpdateRole(p, m, now))
		}
	case opTeardown:
		m := &messages.Teardown{}
		if decode(m) {
			if fix&fixFramework != 0 {
				m.FrameworkId = w.frameworkID(p)
			}
			w.run(w.c.Teardown(p, m, now))
		}
	case opSuppress:
		m := &messages.Suppress{}
		if decode(m) {
			if fix&fixFramework != 0 {
				m.FrameworkId = w.frameworkID(p)
			}
			w.run(w.c.Suppress(p, m, now))
		}
	case opRevive:
		m := &messages.Revive{}
		if decode(m) {
			if fix&fixFramework != 0 {
				m.FrameworkId = w.frameworkID(p)
			}
			w.run(w.c.Revive(p, m, now))
		}
	case opToExecutor:
		m := &messages.FrameworkToExecutor{}
		if decode(m) {
			if fix&fixFramework != 0 {
				m.FrameworkId = w.frameworkID(p)
			}
			w.run(w.c.FrameworkToExecutor(p, m, now))
		}
	case opKillExecutor:
		m := &messages.KillExecutor{}
		if decode(m) {
			if fix&fixFramework != 0 {
				m.FrameworkId = w.frameworkID(p)
			}
			w.run(w.c.KillExecutor(p, m, now))
		}
	case opToFramework:
		m := &messages.ExecutorToFramework{}
		if decode(m) {
			if fix&fixAgent != 0 {
				m.AgentId = w.agentID(p)
			}
			w.run(w.c.ExecutorToFramework(p, m, now))
		}
	case opTick:
		secs := 1
		if len(payload) > 0 {
			secs = int(payload[0])
		}
		w.tickFor(time.Duration(secs) * time.Second)
	case opAllocate:
		w.allocate(nil)
	case opUnreachable:
		if id, ok := w.agentIDs[p.Principal]; ok {
			w.run(w.c.AgentUnreachable(id, now))
		}
	case opSchedulerLost:
		if id, ok := w.fwIDs[p.Endpoint.ID]; ok {
			w.run(w.c.SchedulerLost(id, p.Endpoint, now))
		}
	}
}

// tickFor moves the fixed clock by d, firing the timers that come due.
func (w *fuzzWorld) tickFor(d time.Duration) {
	end := w.now.Add(d)
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

// coreStep encodes one step of a FuzzCore input.
func coreStep(op, peer, fix byte, m proto.Message) []byte {
	var payload []byte
	if m != nil {
		payload, _ = proto.Marshal(m)
	}
	if len(payload) > 255 {
		panic(fmt.Sprintf("seed message of %d bytes; a step holds 255", len(payload)))
	}
	return append([]byte{op, peer, fix, byte(len(payload))}, payload...)
}

// coreSeeds are inputs that do what the cluster does and what attackers
// tried (issue 14): launch, run and finish tasks, take over IDs, forge
// updates, announce huge amounts.
func coreSeeds() [][]byte {
	res := func(s string) []*messages.Resource { r, _ := messages.ParseResources(s); return r }
	launch := func(id, r string) *messages.Accept {
		return &messages.Accept{Operations: []*messages.Operation{{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: []*messages.TaskInfo{
			{Name: "t", TaskId: &messages.TaskID{Value: id}, Resources: res(r), Command: &messages.CommandInfo{Value: "true"}}}}}}}}
	}
	status := func(s messages.TaskState) *messages.StatusUpdate {
		return &messages.StatusUpdate{Status: &messages.TaskStatus{State: s, Uuid: []byte("u1")}}
	}
	const a1, a2, f1, f2, op, a3, evil, anon = 0, 1, 2, 3, 4, 5, 6, 7
	const all byte = fixFramework | fixOffers | fixAgent | fixTask
	seqs := [][][]byte{
		{coreStep(opAccept, f1, all, launch("t1", "cpus:1;mem:128")), coreStep(opStatus, a1, all, status(messages.TaskState_TASK_RUNNING)),
			coreStep(opStatus, a2, all, status(messages.TaskState_TASK_FINISHED)), coreStep(opAck, f1, all, &messages.Acknowledge{}),
			{opTick, 0, 0, 1, 10}, coreStep(opAllocate, 0, 0, nil), coreStep(opAccept, f2, all, launch("t1", "cpus:4;mem:4096;ports:[31000-31010]"))},
		{coreStep(opAccept, f1, all, launch("t1", "cpus:1e300")), coreStep(opAccept, f1, all, launch("t2", "mem:9e15;mem:9e15"))},
		{coreStep(opRegister, a3, 0, &messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: "a3", Resources: res("cpus:1e300;mem:1e6")}}),
			coreStep(opAllocate, 0, 0, nil)},
		{coreStep(opRegister, anon, 0, &messages.RegisterAgent{Info: &messages.AgentInfo{Hostname: "x", Resources: res("cpus:9e15;cpus:9e15")}}),
			coreStep(opAllocate, 0, 0, nil)},
		{coreStep(opReregister, a3, fixAgent, &messages.ReregisterAgent{}), coreStep(opReregister, a1, fixAgent, &messages.ReregisterAgent{
			Tasks: []*messages.Task{{TaskId: &messages.TaskID{Value: "t9"}, FrameworkId: &messages.FrameworkID{Value: "m-1-F1"}, State: messages.TaskState_TASK_RUNNING, Resources: res("cpus:100")}}})},
		{coreStep(opSubscribe, evil, fixFramework, &messages.SubscribeFramework{Info: &messages.FrameworkInfo{Name: "x", Roles: []string{"r"}, Id: &messages.FrameworkID{Value: "m-1-F1"}}}),
			coreStep(opSubscribe, evil, 0, &messages.SubscribeFramework{Info: &messages.FrameworkInfo{Name: "x", Roles: []string{"r"}, Id: &messages.FrameworkID{Value: "m-1-F9"}}})},
		{coreStep(opAccept, f1, all, launch("t1", "cpus:1;mem:128")), coreStep(opStatus, a2, all, status(messages.TaskState_TASK_FINISHED)),
			coreStep(opStatus, evil, all, status(messages.TaskState_TASK_FINISHED)), coreStep(opKill, evil, fixTask, &messages.KillTask{}),
			coreStep(opTeardown, evil, 0, &messages.Teardown{FrameworkId: &messages.FrameworkID{Value: "m-1-F1"}})},
		{coreStep(opUpdateRole, op, 0, &messages.UpdateRole{Role: "r-f1", Weight: proto.Float64(2)}),
			coreStep(opUpdateRole, f1, 0, &messages.UpdateRole{Role: "r-f1", Weight: proto.Float64(2)}),
			coreStep(opUpdateRole, op, 0, &messages.UpdateRole{Role: "x/../r", Weight: proto.Float64(-1)}),
			coreStep(opUpdateRole, op, 0, &messages.UpdateRole{Role: "r-f2", Quota: &messages.RoleQuota{Guarantee: res("cpus:1e300")}})},
		{coreStep(opAccept, f1, all, launch("t1", "cpus:1;mem:128")), coreStep(opTick, 0, 0, nil), coreStep(opUnreachable, a1, 0, nil),
			coreStep(opUnreachable, a2, 0, nil), coreStep(opReregister, a1, fixAgent, &messages.ReregisterAgent{}), coreStep(opSchedulerLost, f1, 0, nil),
			coreStep(opTick, 0, 0, nil), coreStep(opReconcile, f1, fixFramework, &messages.Reconcile{})},
		{coreStep(opDecline, f1, all, &messages.Decline{}), coreStep(opSuppress, f2, all, &messages.Suppress{}), coreStep(opRevive, f2, all, &messages.Revive{}),
			coreStep(opHeartbeat, a1, fixAgent, &messages.AgentHeartbeat{}), coreStep(opUnregister, a2, fixAgent, &messages.UnregisterAgent{}),
			coreStep(opToExecutor, f1, fixFramework, &messages.FrameworkToExecutor{}), coreStep(opToFramework, a1, fixAgent, &messages.ExecutorToFramework{}),
			coreStep(opKillExecutor, f1, fixFramework, &messages.KillExecutor{ExecutorId: &messages.ExecutorID{Value: "e1"}, AgentId: &messages.AgentID{Value: "m-1-A1"}})},
	}
	var out [][]byte
	for _, s := range seqs {
		out = append(out, bytes.Join(s, nil))
	}
	// A tick of 200 s: offers time out, agents are found unreachable.
	out = append(out, append(coreStep(opAccept, f1, all, launch("t1", "cpus:1")), opTick, 0, 0, 1, 200))
	out = append(out, binary.BigEndian.AppendUint32(nil, 0xffffffff))
	return out
}

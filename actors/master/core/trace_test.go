package core

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/datadriven"
	"google.golang.org/protobuf/proto"
)

// TestTraces runs the protocol traces in testdata/traces/: each file is a script
// of inputs to a core and, below each, the exact effects the core produced,
// one per line, in the style of etcd raft's interaction tests. Regenerate
// after an intended change with
//
//	go test ./actors/master/core -run TestTraces -rewrite
//
// and read the diff: it is the change in behaviour.
func TestTraces(t *testing.T) {
	datadriven.Walk(t, "testdata/traces", func(t *testing.T, path string) {
		env := newTraceEnv()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return env.handle(t, d)
		})
	})
}

// traceEnv drives one core: named agents and scheduler connections, a
// clock the script advances, and the timers the core armed.
type traceEnv struct {
	c      *Core
	now    time.Time
	timers []armed
	// names maps endpoints to the names the script uses; agentIDs and
	// frameworkIDs map those names to the IDs the core assigned.
	names        map[Endpoint]string
	agentIDs     map[string]string
	frameworkIDs map[string]string
	infos        map[string]*messages.FrameworkInfo
	offerPrefix  string
	// counts is what the core counted (a master command starts it
	// afresh); observed are the durations it measured since the last
	// command (a master started with metrics=true prints them).
	counts   traceCounts
	observed []string
	observe  bool
	// schedule is the maintenance schedule stored last (what a new leader
	// loads).
	schedule, storing *messages.MaintenanceSchedule
}

// traceMetrics records the core's counts and, when the trace asks, its
// duration measures.
type traceMetrics struct{ e *traceEnv }

func (m traceMetrics) Count(c Counter, label string, n int) { m.e.counts[countKey{c, label}] += n }

func (m traceMetrics) Observe(h Histogram, d time.Duration) {
	if !m.e.observe {
		return
	}
	name := map[Histogram]string{OfferToLaunch: "offer-to-launch", StatusUpdateLatency: "status-update-latency"}[h]
	m.e.observed = append(m.e.observed, fmt.Sprintf("observe %s %s", name, d))
}

// traceCounts records what the core counts.
type traceCounts map[countKey]int

type countKey struct {
	c     Counter
	label string
}

type armed struct {
	at    time.Time
	timer Timer
	seq   int
}

var traceT0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newTraceEnv() *traceEnv {
	return &traceEnv{counts: traceCounts{}, now: traceT0, names: map[Endpoint]string{}, agentIDs: map[string]string{}, frameworkIDs: map[string]string{},
		infos: map[string]*messages.FrameworkInfo{}}
}

func (e *traceEnv) endpoint(name string) Endpoint {
	ep := Endpoint{Address: name + ":1", ID: name}
	e.names[ep] = name
	return ep
}

// pid is the PID a registration or subscription names (pid=name), nil
// when the command names none (answers go to the sender).
func (e *traceEnv) pid(t *testing.T, d *datadriven.TestData) *actor.PID {
	name := arg(t, d, "pid", "")
	if name == "" {
		return nil
	}
	ep := e.endpoint(name)
	return actor.NewPID(ep.Address, ep.ID)
}

func (e *traceEnv) peer(name string) Peer { return Peer{Endpoint: e.endpoint(name)} }

// peerAs is name's peer, authenticated as the command's as=role:principal
// when it has one.
func (e *traceEnv) peerAs(t *testing.T, d *datadriven.TestData, name string) Peer {
	p := e.peer(name)
	if as := arg(t, d, "as", ""); as != "" {
		p.Role, p.Principal, _ = strings.Cut(as, ":")
	}
	return p
}

func arg(t *testing.T, d *datadriven.TestData, key, def string) string {
	t.Helper()
	if a, ok := d.Arg(key); ok {
		if len(a.Vals) == 0 {
			return "true"
		}
		return strings.Join(a.Vals, ",")
	}
	return def
}

func dur(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}

func resources(t *testing.T, text string) []*messages.Resource {
	t.Helper()
	rs, err := messages.ParseResources(text)
	if err != nil {
		t.Fatalf("resources %q: %v", text, err)
	}
	return rs
}

// wireResources is resources as a peer may send them, unchecked: what
// ParseResources refuses (cpus:1e300) reaches the core as it would from
// the network.
func wireResources(t *testing.T, text string) []*messages.Resource {
	t.Helper()
	if rs, err := messages.ParseResources(text); err == nil {
		return rs
	}
	var out []*messages.Resource
	for _, tok := range strings.Split(text, ";") {
		name, v, _ := strings.Cut(tok, ":")
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("resource %q: %v", tok, err)
		}
		out = append(out, &messages.Resource{Name: name, Scalar: f})
	}
	return out
}

func (e *traceEnv) agentID(t *testing.T, name string) string {
	t.Helper()
	if id, ok := e.agentIDs[name]; ok {
		return id
	}
	t.Fatalf("no agent %q registered in this trace", name)
	return ""
}

// agentIDOr is the ID of a named agent, or the name itself (an agent the
// master does not know).
func (e *traceEnv) agentIDOr(name string) string {
	if id, ok := e.agentIDs[name]; ok {
		return id
	}
	return name
}

func (e *traceEnv) frameworkID(name string) string {
	if id, ok := e.frameworkIDs[name]; ok {
		return id
	}
	return name // an ID the script names itself
}

func (e *traceEnv) offerIDs(d *datadriven.TestData) []*messages.OfferID {
	var out []*messages.OfferID
	if a, ok := d.Arg("offers"); ok {
		for _, v := range a.Vals {
			out = append(out, &messages.OfferID{Value: e.offerPrefix + v})
		}
	}
	return out
}

func (e *traceEnv) handle(t *testing.T, d *datadriven.TestData) string {
	var r Ready
	switch d.Cmd {
	case "master":
		cfg := Config{
			Info:         &messages.MasterInfo{Id: "m", Epoch: uint64(mustInt(t, arg(t, d, "epoch", "1"))), Address: "m:1"},
			Liveness:     LivenessPolicy{Interval: 5 * time.Second, MaxMisses: 3},
			OfferTimeout: dur(t, arg(t, d, "offer-timeout", "30s")), FrameworkHeartbeat: 15 * time.Second,
			ReclaimInterval: dur(t, arg(t, d, "reclaim", "0s")), PreemptionGrace: dur(t, arg(t, d, "grace", "5s")),
			AgentReregisterTimeout: dur(t, arg(t, d, "reregister-window", "0s")),
			PersistRoles:           arg(t, d, "persist-roles", "") == "true",
			PersistMaintenance:     arg(t, d, "persist-maintenance", "") == "true",
			Metrics:                traceMetrics{e},
		}
		cfg.Limits = Limits{
			MaxAgents: mustInt(t, arg(t, d, "max-agents", "0")), MaxFrameworksPerPrincipal: mustInt(t, arg(t, d, "max-frameworks-per-principal", "0")),
			MaxRoles: mustInt(t, arg(t, d, "max-roles", "0")), AgentUnreachableTimeout: dur(t, arg(t, d, "agent-unreachable-timeout", "0s")),
			AgentRegistrationBurst: mustInt(t, arg(t, d, "registration-burst", "0")), AgentRemovalInterval: dur(t, arg(t, d, "agent-removal-interval", "0s")),
		}
		cfg.Limits.AgentRegistrationRate, _ = strconv.ParseFloat(arg(t, d, "registration-rate", "0"), 64)
		if m := arg(t, d, "max-agent-resources", ""); m != "" {
			cfg.Limits.MaxAgentResources = resources(t, m)
		}
		if err := cfg.Limits.Validate(); err != nil {
			return err.Error() + "\n"
		}
		e.counts = traceCounts{}
		e.observe = arg(t, d, "metrics", "") == "true"
		if g := arg(t, d, "guarantee", ""); g != "" {
			role, text, _ := strings.Cut(g, "=")
			cfg.Roles = &messages.RoleConfig{Roles: []*messages.RoleSettings{{Role: role, Quota: &messages.RoleQuota{Guarantee: resources(t, text)}}}}
		}
		if e.schedule != nil { // a new leader loads the stored schedule
			cfg.Maintenance = e.schedule
		}
		e.c = New(cfg)
		e.timers = nil // an earlier term's timers died with it
		e.offerPrefix = fmt.Sprintf("m-%d-", cfg.Info.Epoch)
		r = e.c.Start(e.now)

	case "register":
		name := arg(t, d, "agent", "a1")
		info := &messages.AgentInfo{Hostname: name, Resources: wireResources(t, arg(t, d, "resources", "cpus:4;mem:8192"))}
		r = e.c.RegisterAgent(e.peerAs(t, d, name), &messages.RegisterAgent{Info: info, Session: arg(t, d, "session", ""), Pid: e.pid(t, d)}, e.now)
		for _, eff := range r.Effects {
			if s, ok := eff.(Send); ok {
				if reg, ok := s.Msg.(*messages.AgentRegistered); ok {
					e.agentIDs[name] = reg.AgentId.Value
				}
			}
		}

	case "reregister":
		// The agent reports its tasks (input lines: framework task state
		// resources [role]) and the FrameworkInfos of their frameworks.
		name := arg(t, d, "agent", "a1")
		id := arg(t, d, "id", "")
		if id == "" {
			id = e.agentID(t, name)
		}
		e.agentIDs[name] = id
		msg := &messages.ReregisterAgent{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: id}, Hostname: arg(t, d, "host", name),
			Resources: wireResources(t, arg(t, d, "resources", "cpus:4;mem:8192"))}, Session: arg(t, d, "session", ""), Pid: e.pid(t, d)}
		if dyn := arg(t, d, "dynamic", ""); dyn != "" { // dynamic reservations the agent checkpointed
			for _, r := range resources(t, dyn) {
				r.Reservation = &messages.ReservationInfo{Type: messages.ReservationInfo_DYNAMIC, Role: r.Role, Principal: "alice"}
				msg.Info.Resources = append(msg.Info.Resources, r)
			}
		}
		if vols := arg(t, d, "volumes", ""); vols != "" { // role:id:path:mib,...: volumes on static reservations the agent checkpointed
			for _, v := range strings.Split(vols, ",") {
				r := volumeResource(t, v)
				r.Disk.Principal = "alice"
				msg.Info.Resources = append(msg.Info.Resources, r)
			}
		}
		seen := map[string]bool{}
		for _, line := range lines(d.Input) {
			f := strings.Fields(line)
			if f[0] == "executor" && len(f) >= 4 {
				// executor framework executor-id resources [role]: a
				// custom executor the agent runs.
				role := "eng"
				if len(f) > 4 {
					role = f[4]
				}
				msg.RunningExecutors = append(msg.RunningExecutors, &messages.RunningExecutor{Role: role, Info: &messages.ExecutorInfo{
					ExecutorId: &messages.ExecutorID{Value: f[2]}, FrameworkId: &messages.FrameworkID{Value: e.frameworkID(f[1])}, Resources: resources(t, f[3])}})
				continue
			}
			if len(f) < 4 {
				t.Fatalf("%s: task line %q: want framework task state resources [role]", d.Pos, line)
			}
			fw := e.frameworkID(f[0])
			role := "eng"
			rs := resources(t, f[3])
			for _, field := range f[4:] {
				if v, ok := strings.CutPrefix(field, "volume="); ok { // a volume the task uses
					rs = append(rs, volumeResource(t, v))
				} else {
					role = field
				}
			}
			state := messages.TaskState(messages.TaskState_value["TASK_"+f[2]])
			msg.Tasks = append(msg.Tasks, &messages.Task{TaskId: &messages.TaskID{Value: f[1]}, FrameworkId: &messages.FrameworkID{Value: fw},
				State: state, Resources: rs, Role: role, Name: f[1]})
			if !seen[fw] {
				seen[fw] = true
				info := e.infos[f[0]]
				if info == nil {
					info = &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: fw}, Name: f[0], Roles: []string{role}}
				}
				msg.Frameworks = append(msg.Frameworks, info)
			}
		}
		if at := arg(t, d, "drain", ""); at != "" {
			// The drain the agent checkpointed: its deadline in trace time.
			msg.Drain = &messages.AgentDrain{Draining: true, DeadlineUnixNano: traceT0.Add(dur(t, at)).UnixNano(), MasterEpoch: 1}
		}
		r = e.c.ReregisterAgent(e.peerAs(t, d, name), msg, e.now)

	case "heartbeat":
		name := arg(t, d, "agent", "a1")
		r = e.c.AgentHeartbeat(e.peerAs(t, d, name), &messages.AgentHeartbeat{AgentId: &messages.AgentID{Value: e.agentID(t, name)}, Seq: uint64(mustInt(t, arg(t, d, "seq", "1")))}, e.now)

	case "unreachable":
		r = e.c.AgentUnreachable(e.agentID(t, arg(t, d, "agent", "a1")), e.now)

	case "unregister":
		name := arg(t, d, "agent", "a1")
		r = e.c.UnregisterAgent(e.peerAs(t, d, name), &messages.UnregisterAgent{AgentId: &messages.AgentID{Value: e.agentID(t, name)}}, e.now)

	case "subscribe":
		name := arg(t, d, "fw", "f1")
		conn := arg(t, d, "conn", name)
		info := &messages.FrameworkInfo{Name: name, Roles: strings.Split(arg(t, d, "roles", "eng"), ",")}
		if id := arg(t, d, "id", ""); id != "" {
			info.Id = &messages.FrameworkID{Value: e.frameworkID(id)}
		}
		for _, c := range strings.Split(arg(t, d, "capabilities", ""), ",") {
			switch c {
			case "revocable":
				info.Capabilities = append(info.Capabilities, messages.Capability_REVOCABLE_RESOURCES)
			case "partition-aware":
				info.Capabilities = append(info.Capabilities, messages.Capability_PARTITION_AWARE)
			case "shared-resources":
				info.Capabilities = append(info.Capabilities, messages.Capability_SHARED_RESOURCES)
			}
		}
		switch arg(t, d, "checkpoint", "") { // unset by default: checkpointing
		case "true":
			info.Checkpoint = proto.Bool(true)
		case "false":
			info.Checkpoint = proto.Bool(false)
		}
		r = e.c.Subscribe(e.peerAs(t, d, conn), &messages.SubscribeFramework{Info: info, Session: arg(t, d, "session", ""), Pid: e.pid(t, d)}, e.now)
		for _, eff := range r.Effects {
			if s, ok := eff.(Send); ok {
				if sub, ok := s.Msg.(*messages.FrameworkSubscribed); ok {
					e.frameworkIDs[name] = sub.FrameworkId.Value
					info.Id = sub.FrameworkId
					e.infos[name] = info
				}
			}
		}

	case "disconnect":
		name := arg(t, d, "fw", "f1")
		r = e.c.SchedulerLost(e.frameworkID(name), e.endpoint(arg(t, d, "conn", name)), e.now)

	case "grant":
		// One grant per input line: framework agent role resources
		// [revocable=...] [as-revocable].
		var grants []policy.Grant
		for _, line := range lines(d.Input) {
			f := strings.Fields(line)
			if len(f) < 4 {
				t.Fatalf("%s: grant line %q: want framework agent role resources", d.Pos, line)
			}
			res, rev, reserved, err := policy.FromMessagesReserved(resources(t, f[3]))
			if err != nil {
				t.Fatal(err)
			}
			g := policy.Grant{FrameworkID: e.frameworkID(f[0]), AgentID: e.agentIDs[f[1]], Role: f[2], Resources: res, Revocable: rev,
				Incarnation: e.c.books.agents[e.agentIDs[f[1]]].incarnation}
			for role, r := range reserved { // one grant is one pool
				g.Resources, g.Reservation = r, role
			}
			if slices.Contains(f[4:], "as-revocable") {
				g.AsRevocable = true
			}
			if slices.Contains(f[4:], "stale") {
				g.Incarnation--
			}
			grants = append(grants, g)
		}
		r = e.c.Allocated(policy.EncodeGrants(grants), e.now)

	case "accept":
		// Tasks on the input lines: id resources [no-command]; or
		// operations: reserve|unreserve resources [label=k:v].
		name := arg(t, d, "fw", "f1")
		msg := &messages.Accept{FrameworkId: &messages.FrameworkID{Value: e.frameworkID(name)}, OfferIds: e.offerIDs(d)}
		if s := arg(t, d, "refuse", ""); s != "" {
			v, _ := strconv.ParseFloat(s, 64)
			msg.Filters = &messages.Filters{RefuseSeconds: &v}
		}
		var tasks []*messages.TaskInfo
		// group EXECUTOR [custom] [executor-resources=R] ... end: the task
		// lines between are one LAUNCH_GROUP in that executor (custom: one
		// with a command; "-": no executor ID; R: its own resources).
		var group *messages.LaunchGroup
		flushGroup := func() {
			if group != nil {
				group.TaskGroup = &messages.TaskGroupInfo{Tasks: tasks}
				msg.Operations = append(msg.Operations, &messages.Operation{Op: &messages.Operation_LaunchGroup{LaunchGroup: group}})
				group, tasks = nil, nil
			}
		}
		for _, line := range lines(d.Input) {
			f := strings.Fields(line)
			if f[0] == "group" {
				if len(tasks) > 0 {
					msg.Operations = append(msg.Operations, &messages.Operation{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: tasks}}})
					tasks = nil
				}
				group = &messages.LaunchGroup{Executor: &messages.ExecutorInfo{}}
				if len(f) > 1 && f[1] != "-" {
					group.Executor.ExecutorId = &messages.ExecutorID{Value: f[1]}
				}
				if slices.Contains(f, "custom") {
					group.Executor.Command = &messages.CommandInfo{Value: "./executor"}
				}
				for _, field := range f[1:] {
					if rs, ok := strings.CutPrefix(field, "executor-resources="); ok {
						group.Executor.Resources = resources(t, rs)
					}
				}
				continue
			}
			if f[0] == "end" {
				flushGroup()
				continue
			}
			if f[0] == "create" || f[0] == "destroy" {
				// create|destroy role:id:path:mib ...
				if len(tasks) > 0 {
					msg.Operations = append(msg.Operations, &messages.Operation{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: tasks}}})
					tasks = nil
				}
				var vols []*messages.Resource
				for _, field := range f[1:] {
					vols = append(vols, volumeResource(t, field))
				}
				op := &messages.Operation{Op: &messages.Operation_Create{Create: &messages.CreateVolumes{Volumes: vols}}}
				if f[0] == "destroy" {
					op = &messages.Operation{Op: &messages.Operation_Destroy{Destroy: &messages.DestroyVolumes{Volumes: vols}}}
				}
				msg.Operations = append(msg.Operations, op)
				continue
			}
			if f[0] == "reserve" || f[0] == "unreserve" {
				if len(tasks) > 0 {
					msg.Operations = append(msg.Operations, &messages.Operation{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: tasks}}})
					tasks = nil
				}
				rs := resources(t, f[1])
				for _, field := range f[2:] {
					if kv, ok := strings.CutPrefix(field, "label="); ok {
						k, v, _ := strings.Cut(kv, ":")
						for _, r := range rs {
							r.Reservation = &messages.ReservationInfo{Labels: map[string]string{k: v}}
						}
					}
				}
				op := &messages.Operation{Op: &messages.Operation_Reserve{Reserve: &messages.ReserveResources{Resources: rs}}}
				if f[0] == "unreserve" {
					op = &messages.Operation{Op: &messages.Operation_Unreserve{Unreserve: &messages.UnreserveResources{Resources: rs}}}
				}
				msg.Operations = append(msg.Operations, op)
				continue
			}
			ti := &messages.TaskInfo{Name: f[0], TaskId: &messages.TaskID{Value: f[0]}}
			if len(f) > 1 {
				ti.Resources = resources(t, f[1])
			}
			for _, field := range f[1:] {
				if ex, ok := strings.CutPrefix(field, "executor="); ok {
					ti.Executor = &messages.ExecutorInfo{ExecutorId: &messages.ExecutorID{Value: ex}, Command: &messages.CommandInfo{Value: "./executor"}}
				}
			}
			for _, field := range f[1:] {
				if rs, ok := strings.CutPrefix(field, "executor-resources="); ok && ti.Executor != nil {
					ti.Executor.Resources = resources(t, rs)
				}
			}
			if !slices.Contains(f, "no-command") && ti.Executor == nil && (group == nil || group.Executor.Command == nil) {
				ti.Command = &messages.CommandInfo{Value: "sleep 10"}
				for _, field := range f[1:] {
					if u, ok := strings.CutPrefix(field, "user="); ok {
						ti.Command.User = u
					}
					if v, ok := strings.CutPrefix(field, "volume="); ok {
						ti.Resources = append(ti.Resources, volumeResource(t, v))
					}
				}
			}
			tasks = append(tasks, ti)
		}
		flushGroup()
		if len(tasks) > 0 {
			msg.Operations = append(msg.Operations, &messages.Operation{Op: &messages.Operation_Launch_{Launch: &messages.Operation_Launch{Tasks: tasks}}})
		}
		r = e.c.Accept(e.peerAs(t, d, arg(t, d, "conn", name)), msg, e.now)

	case "decline":
		name := arg(t, d, "fw", "f1")
		msg := &messages.Decline{FrameworkId: &messages.FrameworkID{Value: e.frameworkID(name)}, OfferIds: e.offerIDs(d)}
		if s := arg(t, d, "refuse", ""); s != "" {
			v, _ := strconv.ParseFloat(s, 64)
			msg.Filters = &messages.Filters{RefuseSeconds: &v}
		}
		msg.Reason = strings.ReplaceAll(arg(t, d, "reason", ""), "_", " ")
		if n := arg(t, d, "reason-bytes", ""); n != "" {
			msg.Reason = strings.Repeat("x", mustInt(t, n))
		}
		r = e.c.Decline(e.peerAs(t, d, arg(t, d, "conn", name)), msg, e.now)

	case "kill":
		name := arg(t, d, "fw", "f1")
		msg := &messages.KillTask{FrameworkId: &messages.FrameworkID{Value: e.frameworkID(name)}, TaskId: &messages.TaskID{Value: arg(t, d, "task", "t1")}}
		if on := arg(t, d, "on", ""); on != "" {
			msg.AgentId = &messages.AgentID{Value: e.agentIDOr(on)}
		}
		r = e.c.Kill(e.peerAs(t, d, arg(t, d, "conn", name)), msg, e.now)

	case "shutdown-executor":
		name := arg(t, d, "fw", "f1")
		msg := &messages.KillExecutor{FrameworkId: &messages.FrameworkID{Value: e.frameworkID(name)}, ExecutorId: &messages.ExecutorID{Value: arg(t, d, "executor", "e1")},
			AgentId: &messages.AgentID{Value: e.agentIDOr(arg(t, d, "on", "a1"))}}
		r = e.c.KillExecutor(e.peerAs(t, d, arg(t, d, "conn", name)), msg, e.now)

	case "executor-exited":
		// An agent says one of its executors ended (status: its exit
		// code, signal: the signal that ended it, message: how).
		agentName := arg(t, d, "agent", "a1")
		status, err := strconv.Atoi(arg(t, d, "status", "0"))
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		signal, err := strconv.Atoi(arg(t, d, "signal", "0"))
		if err != nil {
			t.Fatalf("signal: %v", err)
		}
		r = e.c.ExecutorExited(e.peerAs(t, d, agentName), &messages.ExecutorExited{FrameworkId: &messages.FrameworkID{Value: e.frameworkID(arg(t, d, "fw", "f1"))},
			ExecutorId: &messages.ExecutorID{Value: arg(t, d, "executor", "e1")}, AgentId: &messages.AgentID{Value: e.agentIDOr(agentName)},
			Status: int32(status), Signal: int32(signal), Message: arg(t, d, "message", "")}, e.now)

	case "status":
		// An agent's status update; uuid makes it one the framework must
		// acknowledge.
		agentName := arg(t, d, "agent", "a1")
		st := &messages.TaskStatus{TaskId: &messages.TaskID{Value: arg(t, d, "task", "t1")}, AgentId: &messages.AgentID{Value: e.agentID(t, agentName)},
			State: messages.TaskState(messages.TaskState_value["TASK_"+arg(t, d, "state", "RUNNING")])}
		if u := arg(t, d, "uuid", ""); u != "" {
			st.Uuid = []byte(u)
		}
		if reason := arg(t, d, "reason", ""); reason != "" {
			st.Reason = messages.TaskStatusReason(messages.TaskStatusReason_value["REASON_"+reason])
		}
		if age := arg(t, d, "age", ""); age != "" { // stamped by the agent this long ago
			st.TimestampUnixNano = e.now.Add(-dur(t, age)).UnixNano()
		}
		r = e.c.StatusUpdate(e.peerAs(t, d, agentName), &messages.StatusUpdate{FrameworkId: &messages.FrameworkID{Value: e.frameworkID(arg(t, d, "fw", "f1"))}, Status: st}, e.now)

	case "ack":
		name := arg(t, d, "fw", "f1")
		r = e.c.Acknowledge(e.peerAs(t, d, arg(t, d, "conn", name)), &messages.Acknowledge{FrameworkId: &messages.FrameworkID{Value: e.frameworkID(name)},
			AgentId: &messages.AgentID{Value: e.agentID(t, arg(t, d, "agent", "a1"))}, TaskId: &messages.TaskID{Value: arg(t, d, "task", "t1")},
			Uuid: []byte(arg(t, d, "uuid", ""))}, e.now)

	case "reconcile":
		name := arg(t, d, "fw", "f1")
		msg := &messages.Reconcile{FrameworkId: &messages.FrameworkID{Value: e.frameworkID(name)}}
		if a, ok := d.Arg("tasks"); ok {
			for _, v := range a.Vals {
				q := &messages.Reconcile_Task{TaskId: &messages.TaskID{Value: v}}
				if on := arg(t, d, "on", ""); on != "" { // the agent the framework names
					q.AgentId = &messages.AgentID{Value: e.agentIDOr(on)}
				}
				msg.Tasks = append(msg.Tasks, q)
			}
		}
		r = e.c.Reconcile(e.peerAs(t, d, arg(t, d, "conn", name)), msg, e.now)

	case "teardown":
		name := arg(t, d, "fw", "f1")
		r = e.c.Teardown(e.peerAs(t, d, arg(t, d, "conn", name)), &messages.Teardown{FrameworkId: &messages.FrameworkID{Value: e.frameworkID(name)}}, e.now)

	case "suppress", "revive":
		name := arg(t, d, "fw", "f1")
		var roles []string
		if a, ok := d.Arg("roles"); ok {
			roles = a.Vals
		}
		id := &messages.FrameworkID{Value: e.frameworkID(name)}
		if d.Cmd == "suppress" {
			r = e.c.Suppress(e.peerAs(t, d, arg(t, d, "conn", name)), &messages.Suppress{FrameworkId: id, Roles: roles}, e.now)
		} else {
			msg := &messages.Revive{FrameworkId: id, Roles: roles}
			if s := arg(t, d, "demand", ""); s != "" {
				// Parsed leniently, so that a trace can send what a
				// careless scheduler would (ports, revocable).
				res, err := messages.ParseResources(s)
				if err != nil {
					t.Fatalf("%s: demand %q: %v", d.Pos, s, err)
				}
				msg.Demand = res
			}
			if a, ok := d.Arg("units"); ok {
				// units=(cpus:8;mem:1024,cpus:1): one task shape each.
				for _, u := range a.Vals {
					msg.DemandUnits = append(msg.DemandUnits, &messages.ResourceQuantities{Resources: wireResources(t, u)})
				}
			}
			r = e.c.Revive(e.peerAs(t, d, arg(t, d, "conn", name)), msg, e.now)
		}

	case "shortfalls":
		// The allocator's answer to a reclamation check: role need.
		var short []policy.Shortfall
		for _, line := range lines(d.Input) {
			f := strings.Fields(line)
			need, _, err := policy.FromMessages(resources(t, f[1]))
			if err != nil {
				t.Fatal(err)
			}
			short = append(short, policy.Shortfall{Role: f[0], Need: need.Scalars})
		}
		r = e.c.Shortfalls(policy.ToShortfalls(short), e.now)

	case "update-role":
		u := &messages.UpdateRole{Role: arg(t, d, "role", "eng")}
		if w := arg(t, d, "weight", ""); w != "" {
			v, _ := strconv.ParseFloat(w, 64)
			u.Weight = &v
		}
		if g := arg(t, d, "guarantee", ""); g != "" {
			u.Quota = &messages.RoleQuota{Guarantee: resources(t, g)}
		}
		r = e.c.UpdateRole(e.peerAs(t, d, "op"), u, e.now)

	case "persisted":
		var err error
		if s := arg(t, d, "err", ""); s != "" {
			err = fmt.Errorf("%s", s)
		}
		r = e.c.RolesPersisted(uint64(mustInt(t, arg(t, d, "token", "1"))), err, e.now)

	case "operator-kill":
		r = e.c.OperatorKillTask(e.peerAs(t, d, "op"), &messages.OperatorKillTask{FrameworkId: &messages.FrameworkID{Value: e.frameworkID(arg(t, d, "fw", "f1"))},
			TaskId: &messages.TaskID{Value: arg(t, d, "task", "t1")}}, e.now)

	case "drain":
		r = e.c.DrainAgent(e.peerAs(t, d, "op"), &messages.DrainAgent{AgentId: &messages.AgentID{Value: e.agentIDOr(arg(t, d, "agent", "a1"))},
			DeadlineNanos: int64(dur(t, arg(t, d, "deadline", "10s")))}, e.now)

	case "operator-reserve", "operator-unreserve":
		r = e.c.ReserveResources(e.peerAs(t, d, "op"), &messages.OperatorReserve{AgentId: &messages.AgentID{Value: e.agentIDOr(arg(t, d, "agent", "a1"))},
			Resources: resources(t, arg(t, d, "resources", "")), Unreserve: d.Cmd == "operator-unreserve"}, e.now)

	case "operator-create", "operator-destroy":
		// volumes=role:id:path:mib,...
		var vols []*messages.Resource
		for _, v := range strings.Split(arg(t, d, "volumes", ""), ",") {
			vols = append(vols, volumeResource(t, v))
		}
		r = e.c.ManageVolumes(e.peerAs(t, d, "op"), &messages.OperatorVolumes{AgentId: &messages.AgentID{Value: e.agentIDOr(arg(t, d, "agent", "a1"))},
			Volumes: vols, Destroy: d.Cmd == "operator-destroy"}, e.now)

	case "reactivate":
		r = e.c.ReactivateAgent(e.peerAs(t, d, "op"), &messages.ReactivateAgent{AgentId: &messages.AgentID{Value: e.agentIDOr(arg(t, d, "agent", "a1"))}}, e.now)

	case "remove":
		r = e.c.RemoveAgent(e.peerAs(t, d, "op"), &messages.RemoveAgent{AgentId: &messages.AgentID{Value: e.agentIDOr(arg(t, d, "agent", "a1"))}}, e.now)

	case "maintenance":
		// The schedule's windows on the input lines: start duration
		// machine... (start in trace time; machines by agent name or
		// hostname as given).
		s := &messages.MaintenanceSchedule{}
		for _, line := range lines(d.Input) {
			f := strings.Fields(line)
			if len(f) < 2 {
				t.Fatalf("%s: window line %q: want start duration machine...", d.Pos, line)
			}
			s.Windows = append(s.Windows, &messages.MaintenanceWindow{StartUnixNano: traceT0.Add(dur(t, f[0])).UnixNano(),
				DurationNanos: int64(dur(t, f[1])), Machines: f[2:]})
		}
		r = e.c.UpdateMaintenance(e.peerAs(t, d, "op"), &messages.UpdateMaintenanceSchedule{Schedule: s}, e.now)
		for _, eff := range r.Effects {
			if p, ok := eff.(PersistMaintenance); ok {
				e.storing = p.Schedule
			}
		}
		if !e.c.cfg.PersistMaintenance {
			e.schedule = e.c.maint.schedule
		}

	case "maintenance-persisted":
		var err error
		if s := arg(t, d, "err", ""); s != "" {
			err = fmt.Errorf("%s", s)
		}
		r = e.c.MaintenancePersisted(uint64(mustInt(t, arg(t, d, "token", "1"))), err, e.now)
		if err == nil {
			e.schedule = e.storing
		}

	case "show-maintenance":
		s, refused := e.c.MaintenanceSchedule(e.peerAs(t, d, "op"), &messages.GetMaintenanceSchedule{})
		if refused != nil {
			return msgLine(refused) + "\n"
		}
		return scheduleLine(s) + "\n"

	case "operator-teardown":
		r = e.c.OperatorTeardown(e.peerAs(t, d, "op"), &messages.OperatorTeardown{FrameworkId: &messages.FrameworkID{Value: e.frameworkID(arg(t, d, "fw", "f1"))}}, e.now)

	case "list-tasks":
		// An operator's listing: one line per task, then the cursor.
		q := &messages.ListTasks{State: arg(t, d, "state", ""), Limit: uint32(mustInt(t, arg(t, d, "limit", "0"))), After: arg(t, d, "after", "")}
		if fw := arg(t, d, "fw", ""); fw != "" {
			q.FrameworkId = e.frameworkID(fw)
		}
		list, refused := e.c.ListTasks(e.peerAs(t, d, "op"), q)
		if refused != nil {
			return msgLine(refused) + "\n"
		}
		var b strings.Builder
		for _, task := range list.Tasks {
			fmt.Fprintf(&b, "%s/%s %s on %s\n", task.FrameworkId.GetValue(), task.TaskId.GetValue(), task.State, task.AgentId.GetValue())
		}
		fmt.Fprintf(&b, "total=%d next=%q\n", list.Total, list.Next)
		return b.String()

	case "acls":
		// An access control list (JSON) on the input lines.
		l, err := acl.Parse([]byte(d.Input))
		if err != nil {
			return err.Error() + "\n"
		}
		r = e.c.SetACLs(l, e.now)

	case "tick":
		// Advance the clock and fire the timers that come due, in order.
		return e.tick(t, dur(t, d.CmdArgs[0].Key))

	case "state":
		return e.state()

	case "charges":
		// Shared volumes' charges and what each framework's role is
		// allocated in all, by the master's books.
		return e.charges()

	case "pending":
		// What /state says of why each framework waits.
		var out strings.Builder
		for _, f := range e.c.State(e.now).Frameworks {
			p := f.Pending
			fmt.Fprintf(&out, "framework %s received=%d declined=%d suppressed=%v\n", f.Info.Id.Value, p.OffersReceived, p.OffersDeclined, p.SuppressedRoles)
			for _, fs := range p.FilterSummaries {
				fmt.Fprintf(&out, "  filters %s: %d agents for %s to %s\n", fs.Role, fs.Agents,
					time.Unix(0, fs.SoonestUntilUnixNano).Sub(e.now), time.Unix(0, fs.LatestUntilUnixNano).Sub(e.now))
			}
			for _, fl := range p.Filters {
				fmt.Fprintf(&out, "  filter %s on %s for %s\n", fl.Role, fl.AgentId, time.Unix(0, fl.UntilUnixNano).Sub(e.now))
			}
			for _, dc := range p.Declines {
				fmt.Fprintf(&out, "  declined %d for %q\n", dc.Offers, dc.Reason)
			}
			if u := p.DemandUnfit; u != nil {
				fmt.Fprintf(&out, "  %s\n", demandUnfit(u))
			}
		}
		return out.String()

	case "denied":
		// The refusals counted so far, by action (agora_permission_denied_total).
		var out strings.Builder
		denied := map[string]int{}
		for k, n := range e.counts {
			if k.c == PermissionDenied {
				denied[k.label] += n
			}
		}
		for _, k := range slices.Sorted(maps.Keys(denied)) {
			fmt.Fprintf(&out, "%s %d\n", k, denied[k])
		}
		return out.String()
	case "limits-exceeded":
		// What the core counted as refused by a limit, by limit.
		var out []string
		for k, n := range e.counts {
			if k.c == LimitExceeded || k.c == AgentsRemoved {
				out = append(out, fmt.Sprintf("%s %s=%d", map[Counter]string{LimitExceeded: "limit-exceeded", AgentsRemoved: "agents-removed"}[k.c], k.label, n))
			}
		}
		slices.Sort(out)
		if len(out) == 0 {
			return "none\n"
		}
		return strings.Join(out, "\n") + "\n"

	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
	return e.format(r)
}

func (e *traceEnv) tick(t *testing.T, by time.Duration) string {
	end := e.now.Add(by)
	var out strings.Builder
	for {
		slices.SortStableFunc(e.timers, func(a, b armed) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return a.seq - b.seq
		})
		if len(e.timers) == 0 || e.timers[0].at.After(end) {
			break
		}
		next := e.timers[0]
		e.timers = e.timers[1:]
		e.now = next.at
		fmt.Fprintf(&out, "@%s fire %s\n", e.now.Sub(traceT0), timerName(next.timer))
		out.WriteString(e.format(e.c.Fire(next.timer, e.now)))
	}
	e.now = end
	if out.Len() == 0 {
		return "ok\n"
	}
	return out.String()
}

// state prints what /state would show, in brief.
func (e *traceEnv) state() string {
	st := e.c.State(e.now)
	var out strings.Builder
	for _, a := range st.Agents {
		fmt.Fprintf(&out, "agent %s reachable=%v used=%s", a.Info.Id.Value, a.Reachable, messages.FormatResources(a.Used))
		if a.Drain != nil {
			fmt.Fprintf(&out, " drain=%s deadline=@%s", a.Drain.State, sinceT0(a.Drain.DeadlineUnixNano))
		}
		out.WriteString("\n")
	}
	for _, f := range st.Frameworks {
		var states []string
		for s, n := range f.Tasks {
			states = append(states, fmt.Sprintf("%s=%d", strings.TrimPrefix(s, "TASK_"), n))
		}
		slices.Sort(states)
		fmt.Fprintf(&out, "framework %s connected=%v tearing_down=%v used=%s offers=%d tasks=%s\n", f.Info.Id.Value, f.Connected, f.TearingDown,
			messages.FormatResources(f.Used), f.OutstandingOffers, strings.Join(states, ","))
	}
	for _, u := range st.RoleUsage {
		fmt.Fprintf(&out, "role %s used=%s offered=%s tasks=%d preempting=%d\n", u.Role, messages.FormatResources(u.Used), messages.FormatResources(u.Offered), u.Tasks, u.Preempting)
	}
	if out.Len() == 0 {
		return "empty\n"
	}
	return out.String()
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func mustInt(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return n
}

// volumeResource reads role:id:path:mib as a persistent volume.
func volumeResource(t *testing.T, s string) *messages.Resource {
	t.Helper()
	p := strings.Split(s, ":")
	if len(p) < 4 {
		t.Fatalf("volume %q: want role:id:path:mib[:ro][:shared]", s)
	}
	mib, err := strconv.ParseFloat(p[3], 64)
	if err != nil {
		t.Fatalf("volume %q: %v", s, err)
	}
	r := &messages.Resource{Name: messages.Disk, Scalar: mib, Role: p[0], Disk: &messages.DiskInfo{PersistenceId: p[1], ContainerPath: p[2]}}
	for _, flag := range p[4:] {
		switch flag {
		case "ro":
			r.Disk.ReadOnly = true
		case "shared":
			r.Shared = true
		default:
			t.Fatalf("volume %q: flag %q: want ro or shared", s, flag)
		}
	}
	return r
}

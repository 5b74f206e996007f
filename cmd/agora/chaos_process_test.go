package main

// Chaos with real network faults (issue 18 item 5): a Consul server,
// three masters electing through it, three agents and the elastic
// framework, each in a network namespace of its own (testkit/netlab);
// faults by iptables in the lab's router and by signals; a recorder
// (chaos_record_test.go) and testkit/chaos's checker over what it
// recorded. docs/chaos.md lists the faults and the rules.
//
// make test runs the short schedule (about a minute); make chaos sets
// AGORA_CHAOS=full for every fault.

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/consultest"
	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit/chaos"
	"github.com/agora-sched/agora/testkit/netlab"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/encoding/protojson"
)

// chaosTasks is how many tasks the framework keeps running: 0.5 cpus
// each on agents of 2, so two agents could hold them all.
const chaosTasks = 6

// chaosGrace is the checker's Grace: a scan may read a task process a
// moment before its end is logged at the framework.
const chaosGrace = time.Second

type chaosCluster struct {
	*labCluster
	consuls []*netlab.Host // Consul's hosts: labCluster.consul is the first
	servers []*labNode     // with several servers, their processes
	elastic []*netlab.Proc // the framework's processes, in order
	args    map[*labNode]netlab.Process
	rng     *rand.Rand
	steps   []string
	start   time.Time
}

// startChaosCluster is startLabCluster with three masters and three
// agents, the framework logging JSON for the recorder.
func startChaosCluster(t *testing.T, seed uint64, servers int) *chaosCluster {
	t.Helper()
	lab := netlab.New(t)
	lc := &labCluster{lab: lab, observer: lab.AddHost("test"), tasks: chaosTasks}
	c := &chaosCluster{labCluster: lc, args: map[*labNode]netlab.Process{}, rng: rand.New(rand.NewPCG(seed, seed)), start: time.Now()}
	c.client = c.observer.HTTPClient(15 * time.Second)
	c.client.Transport.(*http.Transport).TLSClientConfig = operator.ClientConfig()
	// election(i) is the Consul that node i asks: one dev server, or
	// with servers > 1 a server each (node i asks server i mod n).
	var election func(i int) string
	if servers == 1 {
		c.consul = lab.AddHost("consul")
		c.consuls = []*netlab.Host{c.consul}
		agent := consultest.StartAgent(t, consultest.Options{Bind: c.consul.IP(), Command: c.consul.Command})
		election = func(int) string { return "consul://" + agent.Addr + "/chaos" }
	} else {
		c.startConsulServers(t, servers)
		c.consul = c.consuls[0]
		election = func(i int) string { return "consul://" + c.consuls[i%servers].Addr(8500) + "/chaos" }
	}
	cfg := api.DefaultConfig()
	cfg.Address = c.consul.Addr(8500)
	cfg.HttpClient = c.client
	consul, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.detector = leader.NewConsulDetector(consul, "chaos", nil)
	dir := workDir(t)
	env := []string{"AGORA_LOG_FORMAT=json", "AGORA_LOG_LEVEL=info"}
	for i := range 3 {
		h := lab.AddHost(fmt.Sprintf("master-%d", i))
		m := &labNode{host: h, http: h.Addr(5050)}
		c.args[m] = netlab.Process{Name: h.Name, Path: agoraBin, Env: env, Args: []string{"node", "--role=master",
			"--listen", h.Addr(5055), "--http", m.http, "--work-dir", filepath.Join(dir, h.Name), "--election", election(i),
			"--election-ttl", electionTTL.String(), "--allocation-interval", "200ms", "--framework-heartbeat", "1s",
			"--heartbeat-interval", "500ms", "--max-missed-heartbeats", "3"}}
		m.proc = h.Start(t, c.args[m])
		c.masters = append(c.masters, m)
	}
	for i := range 3 {
		h := lab.AddHost(fmt.Sprintf("agent-%d", i))
		a := &labNode{host: h}
		c.args[a] = netlab.Process{Name: h.Name, Path: agoraBin, Env: env, Args: []string{"node", "--role=agent",
			"--listen", h.Addr(5051), "--agent-http", h.Addr(5052), "--master", election(i), "--work-dir", filepath.Join(dir, h.Name),
			"--tls-dir", agentDir(t, h.Name), "--resources", "cpus:2;mem:1024;disk:1024", "--isolation", "none"}}
		a.proc = h.Start(t, c.args[a])
		c.agents = append(c.agents, a)
	}
	h := lab.AddHost("framework")
	c.framework = &labNode{host: h}
	c.framework.proc = h.Start(t, netlab.Process{Name: "elastic", Path: elasticBin, Env: env, Args: []string{"--master", election(0),
		"--listen", h.Addr(5060), "--tasks", strconv.Itoa(chaosTasks), "--command", "sleep 600", "--resources", "cpus:0.5;mem:64",
		"--failover-timeout", "1h"}})
	c.elastic = append(c.elastic, c.framework.proc)
	return c
}

// startConsulServers runs a Consul cluster of n servers, a host each,
// and waits until each has synced with an elected leader.
func (c *chaosCluster) startConsulServers(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		c.consuls = append(c.consuls, c.lab.AddHost(fmt.Sprintf("consul-%d", i)))
	}
	bin := consultest.Binary(t)
	for i, h := range c.consuls {
		args := []string{"agent", "-server", "-bootstrap-expect", strconv.Itoa(n), "-node", h.Name, "-data-dir", t.TempDir(),
			"-bind", h.IP(), "-client", h.IP(), "-serf-wan-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1", "-dns-port", "-1",
			"-hcl", "performance { raft_multiplier = 1 }"}
		for j, other := range c.consuls {
			if j != i {
				args = append(args, "-retry-join", other.IP())
			}
		}
		node := &labNode{host: h}
		c.args[node] = netlab.Process{Name: h.Name, Path: bin, Args: args}
		node.proc = h.Start(t, c.args[node])
		c.servers = append(c.servers, node)
	}
	for _, s := range c.servers {
		s.proc.WaitFor(t, "Synced node info", 90*time.Second)
	}
}

// step logs a fault (or heal) with its time since the start, for the
// report.
func (c *chaosCluster) step(t *testing.T, format string, args ...any) {
	t.Helper()
	s := fmt.Sprintf("%6.1fs  ", time.Since(c.start).Seconds()) + fmt.Sprintf(format, args...)
	c.steps = append(c.steps, s)
	t.Log(s)
}

// chaosHold is how long a fault whose effect is not certain is held (a
// one-way block: does the master still hear the agent? a stopped
// framework: does its connection die?) before it is undone; longer than
// the masters' unreachable timeout (3 x 500 ms) and framework heartbeat.
const chaosHold = 5 * time.Second

// hold keeps the fault on for chaosHold (the fault's length, not a wait
// for an event), then logs what the leader m saw, and returns.
func (c *chaosCluster) hold(t *testing.T, m *labNode) {
	t.Helper()
	time.Sleep(chaosHold)
	code, body := c.get(t, m, "/state")
	st := &messages.MasterState{}
	if code != http.StatusOK || (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, st) != nil {
		c.step(t, "after %v %s answers %d; undo", chaosHold, m.host.Name, code)
		return
	}
	connected := false
	for _, f := range st.Frameworks {
		connected = connected || f.Connected
	}
	c.step(t, "after %v the leader sees %d of %d agents reachable, the framework connected: %v; undo", chaosHold,
		reachableAgents(st), len(c.agents), connected)
}

// converged waits for a leader whose state has every task RUNNING on
// reachable agents, the framework connected as id, and returns it.
// The leader may change while it waits (a master that lost its Consul
// steps down): each round asks Consul again.
func (c *chaosCluster) converged(t *testing.T, id string) (*labNode, *messages.MasterInfo, *messages.MasterState) {
	t.Helper()
	ok := c.running(id)
	var last *messages.MasterState
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); {
		m, info := c.leader(t, nil)
		resp, err := c.client.Get("https://" + m.http + "/state?wait=2s&since=" + strconv.FormatInt(last.GetSnapshotUnixNano(), 10))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			st := &messages.MasterState{}
			if resp.StatusCode == http.StatusOK && protojson.Unmarshal(body, st) == nil {
				if ok(st) {
					return m, info, st
				}
				last = st
				continue
			}
		}
		time.Sleep(100 * time.Millisecond) // not leading (yet), or unreachable: another process's state, no event to wait on
	}
	t.Fatalf("the cluster did not converge within 90 s; the last leading state: %v", last)
	return nil, nil, nil
}

// restart starts a killed node again on its host, with its arguments.
func (c *chaosCluster) restart(t *testing.T, n *labNode) {
	t.Helper()
	<-n.proc.Done()
	n.proc = n.host.Start(t, c.args[n])
}

// agentAt is the lab node of the agent with that ID in st.
func (c *chaosCluster) agentAt(t *testing.T, st *messages.MasterState, id string) *labNode {
	t.Helper()
	for _, a := range st.Agents {
		if a.Info.GetId().GetValue() == id {
			for _, n := range c.agents {
				if n.host.Name == a.Info.Hostname {
					return n
				}
			}
		}
	}
	t.Fatalf("no agent of the lab has ID %s", id)
	return nil
}

func (c *chaosCluster) agentID(t *testing.T, st *messages.MasterState, n *labNode) string {
	t.Helper()
	for _, a := range st.Agents {
		if a.Info.Hostname == n.host.Name {
			return a.Info.GetId().GetValue()
		}
	}
	t.Fatalf("%s is not in the state", n.host.Name)
	return ""
}

func (c *chaosCluster) pick(nodes []*labNode) *labNode { return nodes[c.rng.IntN(len(nodes))] }

func (c *chaosCluster) others(not *labNode, nodes []*labNode) []*labNode {
	var out []*labNode
	for _, n := range nodes {
		if n != not {
			out = append(out, n)
		}
	}
	return out
}

// chaosFault is one fault, from injection to the cluster converged again.
type chaosFault struct {
	name  string
	short bool // in make test's schedule too
	run   func(t *testing.T, c *chaosCluster, id string)
}

var chaosFaults = []chaosFault{
	{"leader cut from Consul, still reaching agents; a deposed master's commands refused by epoch", true, deposedLeader},
	{"agent cut from every master, then healed", true, func(t *testing.T, c *chaosCluster, id string) {
		victim := c.pick(c.agents)
		m, _ := c.leader(t, nil)
		c.step(t, "cut %s from every master", victim.host.Name)
		for _, m := range c.masters {
			c.lab.Cut(victim.host, m.host)
		}
		c.state(t, m, func(st *messages.MasterState) bool { return reachableAgents(st) == len(c.agents)-1 })
		c.step(t, "%s marked unreachable; heal", victim.host.Name)
		for _, m := range c.masters {
			c.lab.Heal(victim.host, m.host)
		}
	}},
	{"asymmetric: the leader's packets to an agent dropped, the agent's to it pass", false, func(t *testing.T, c *chaosCluster, id string) {
		m, _ := c.leader(t, nil)
		victim := c.pick(c.agents)
		c.step(t, "block %s -> %s (one way) for %v", m.host.Name, victim.host.Name, chaosHold)
		c.lab.Block(m.host, victim.host)
		c.hold(t, m)
		c.lab.Unblock(m.host, victim.host)
	}},
	{"asymmetric: an agent's packets to every master dropped, theirs to it pass", false, func(t *testing.T, c *chaosCluster, id string) {
		m, _ := c.leader(t, nil)
		victim := c.pick(c.agents)
		c.step(t, "block %s -> every master (one way) for %v", victim.host.Name, chaosHold)
		for _, m := range c.masters {
			c.lab.Block(victim.host, m.host)
		}
		c.hold(t, m)
		for _, m := range c.masters {
			c.lab.Unblock(victim.host, m.host)
		}
	}},
	{"10% packet loss on every link, with an agent restarted under it", false, func(t *testing.T, c *chaosCluster, id string) {
		c.step(t, "drop 10%% of every forwarded packet")
		undo := c.lab.Loss(0.1)
		victim := c.pick(c.agents)
		c.step(t, "SIGKILL %s under loss, and restart it", victim.host.Name)
		victim.proc.Signal(syscall.SIGKILL)
		c.restart(t, victim)
		c.converged(t, id)
		c.step(t, "converged under loss; stop the loss")
		undo()
	}},
	// Not Consul's links: with 200 ms on them too (400 ms a round trip,
	// between Consul's servers as well), the masters' 2 s election TTL
	// cannot elect: every round logged "elected but cannot confirm it"
	// (the consistent read timed out) for the 60 s the test waited
	// (docs/chaos.md).
	{"200 ms delay on every packet to or from agents and the framework, with a leader failover under it", false, func(t *testing.T, c *chaosCluster, id string) {
		c.step(t, "hold every packet to or from an agent or the framework 200 ms (NFQUEUE)")
		undo := c.lab.Delay(200*time.Millisecond, c.framework.host, c.agents[0].host, c.agents[1].host, c.agents[2].host)
		old, oldInfo := c.leader(t, nil)
		c.step(t, "SIGKILL the leader %s under delay", old.host.Name)
		old.proc.Signal(syscall.SIGKILL)
		c.leader(t, oldInfo)
		c.restart(t, old)
		c.converged(t, id)
		c.step(t, "converged under delay; stop the delay")
		undo()
	}},
	{"a Consul server of three lost (SIGKILL), then restarted", false, func(t *testing.T, c *chaosCluster, id string) {
		if len(c.servers) < 3 {
			t.Log("one Consul server: skipped")
			return
		}
		// The leader's own server, unless that is the one the test asks.
		// The nodes asking it are blind while it is down (each asks one
		// server), so the cluster converges only once it is back.
		m, _ := c.leader(t, nil)
		victim := c.servers[1]
		for i, n := range c.masters {
			if n == m && i != 0 {
				victim = c.servers[i]
			}
		}
		c.step(t, "SIGKILL Consul server %s for %v (the leader is %s)", victim.host.Name, chaosHold, m.host.Name)
		victim.proc.Signal(syscall.SIGKILL)
		time.Sleep(chaosHold) // the fault's length
		_, info := c.leader(t, nil)
		c.step(t, "after %v %s leads with epoch %d; restart %s", chaosHold, info.HttpAddress, info.Epoch, victim.host.Name)
		c.restart(t, victim)
	}},
	{"SIGKILL of the leader, restarted as a standby", true, func(t *testing.T, c *chaosCluster, id string) {
		old, oldInfo := c.leader(t, nil)
		c.step(t, "SIGKILL the leader %s", old.host.Name)
		old.proc.Signal(syscall.SIGKILL)
		_, next := c.leader(t, oldInfo)
		c.step(t, "new leader epoch %d; restart %s", next.Epoch, old.host.Name)
		c.restart(t, old)
	}},
	{"SIGSTOP of the leader past its lease, then SIGCONT", false, func(t *testing.T, c *chaosCluster, id string) {
		old, oldInfo := c.leader(t, nil)
		c.step(t, "SIGSTOP the leader %s", old.host.Name)
		old.proc.Signal(syscall.SIGSTOP)
		_, next := c.leader(t, oldInfo)
		c.converged(t, id)
		mark := old.proc.Lines()
		c.step(t, "new leader epoch %d converged; SIGCONT %s", next.Epoch, old.host.Name)
		old.proc.Signal(syscall.SIGCONT)
		old.proc.WaitLine(t, mark, 30*time.Second, func(l string) bool { return strings.Contains(l, "lost leadership") })
	}},
	{"SIGSTOP of an agent past its heartbeat timeout, then SIGCONT", true, func(t *testing.T, c *chaosCluster, id string) {
		m, _ := c.leader(t, nil)
		victim := c.pick(c.agents)
		c.step(t, "SIGSTOP %s", victim.host.Name)
		victim.proc.Signal(syscall.SIGSTOP)
		c.state(t, m, func(st *messages.MasterState) bool { return reachableAgents(st) == len(c.agents)-1 })
		c.step(t, "%s marked unreachable; SIGCONT", victim.host.Name)
		victim.proc.Signal(syscall.SIGCONT)
	}},
	{"SIGKILL of an agent, restarted (tasks recovered)", true, func(t *testing.T, c *chaosCluster, id string) {
		victim := c.pick(c.agents)
		c.step(t, "SIGKILL %s and restart it", victim.host.Name)
		victim.proc.Signal(syscall.SIGKILL)
		c.restart(t, victim)
		// The master may not have noticed the restart (it came back within
		// its heartbeat timeout) and call the cluster converged before the
		// agent registers again; what is sent to the agent until then is
		// dropped (make test saw the injected bug's RunTask dropped so).
		victim.proc.WaitFor(t, `"msg":"agent registered"`, 30*time.Second)
	}},
	{"SIGSTOP of the framework past its heartbeat, then SIGCONT", false, func(t *testing.T, c *chaosCluster, id string) {
		m, _ := c.leader(t, nil)
		c.step(t, "SIGSTOP the framework for %v", chaosHold)
		c.framework.proc.Signal(syscall.SIGSTOP)
		c.hold(t, m)
		c.framework.proc.Signal(syscall.SIGCONT)
	}},
	{"the framework cut from every master, then healed", false, func(t *testing.T, c *chaosCluster, id string) {
		m, _ := c.leader(t, nil)
		c.step(t, "cut the framework from every master for %v", chaosHold)
		for _, m := range c.masters {
			c.lab.Cut(c.framework.host, m.host)
		}
		c.hold(t, m)
		for _, m := range c.masters {
			c.lab.Heal(c.framework.host, m.host)
		}
	}},
}

// deposedLeader cuts the leader from Consul only: it must step down; then
// a master holding its epoch, in its namespace, tells every agent to run a
// new task and to kill a running one. Every agent must refuse both by
// epoch (and say so), and nothing may change.
func deposedLeader(t *testing.T, c *chaosCluster, id string) {
	old, oldInfo := c.leader(t, nil)
	mark := old.proc.Lines()
	c.step(t, "cut the leader %s (epoch %d) from Consul", old.host.Name, oldInfo.Epoch)
	for _, h := range c.consuls {
		c.lab.Cut(old.host, h)
	}
	var stepped logLine
	old.proc.WaitLine(t, mark, 30*time.Second, logged("stepped down", &stepped))
	_, nextInfo := c.leader(t, oldInfo)
	next, _, st := c.converged(t, id)
	c.step(t, "%s stepped down; %s leads with epoch %d; a master with epoch %d sends RunTask and KillTask to every agent",
		old.host.Name, next.host.Name, nextInfo.Epoch, oldInfo.Epoch)
	list := runningTasks(t, c, next)
	marks := map[*labNode]int{}
	var orders staleOrders
	for _, a := range c.agents {
		marks[a] = a.proc.Lines()
		agentID := c.agentID(t, st, a)
		orders.Commands = append(orders.Commands, staleCommand{Agent: a.host.Addr(5051), Epoch: oldInfo.Epoch, FrameworkID: id,
			TaskID: "stale-" + a.host.Name, AgentID: agentID})
		for _, task := range list.Tasks {
			if task.AgentId.GetValue() == agentID {
				orders.Commands = append(orders.Commands, staleCommand{Agent: a.host.Addr(5051), Kill: true, Epoch: oldInfo.Epoch,
					FrameworkID: id, TaskID: task.TaskId.GetValue(), AgentID: agentID})
				break
			}
		}
	}
	stale := startStaleMaster(t, old.host, orders)
	refusals := 0
	for _, cmd := range orders.Commands {
		a := c.agentByAddr(cmd.Agent)
		what := "ignoring RunTask from a deposed master"
		if cmd.Kill {
			what = "ignoring KillTask from a deposed master"
		}
		var l logLine
		a.proc.WaitLine(t, marks[a], 30*time.Second, logged(what, &l))
		refusals++
	}
	stale.Signal(syscall.SIGKILL)
	c.step(t, "%d stale commands refused by epoch, each logged by its agent; heal %s", refusals, old.host.Name)
	for _, h := range c.consuls {
		c.lab.Heal(old.host, h)
	}
}

func (c *chaosCluster) agentByAddr(addr string) *labNode {
	for _, a := range c.agents {
		if a.host.Addr(5051) == addr {
			return a
		}
	}
	return nil
}

// runningTasks is the leader's list of running tasks.
func runningTasks(t *testing.T, c *chaosCluster, m *labNode) *messages.TaskList {
	t.Helper()
	code, body := c.get(t, m, "/tasks?state=TASK_RUNNING&limit=1000")
	list := &messages.TaskList{}
	if code != http.StatusOK || (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, list) != nil {
		t.Fatalf("%s's /tasks answered %d: %s", m.host.Name, code, body)
	}
	return list
}

// TestChaos runs the fault schedule against the cluster while the
// recorder records; the checker must find no rule broken. Then a bug is
// injected (a master launching a running task a second time, on another
// agent, with the current epoch) and the checker must find it.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("needs network namespaces, Consul and agora processes; make test runs the short schedule, make chaos all of it")
	}
	full := os.Getenv("AGORA_CHAOS") == "full"
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("AGORA_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("AGORA_CHAOS_SEED=%q: want a number", s)
		}
	}
	t.Logf("chaos seed %d (AGORA_CHAOS_SEED=%d replays the victims' choice), full schedule %v", seed, seed, full)
	servers := 1
	if full {
		servers = 3
	}
	c := startChaosCluster(t, seed, servers)
	rec := startRecorder(t, c)
	_, _, st := c.converged(t, "")
	id := st.Frameworks[0].Info.Id.Value
	c.step(t, "converged: %d tasks RUNNING, framework %s", chaosTasks, id)
	for _, f := range chaosFaults {
		if !full && !f.short {
			continue
		}
		c.step(t, "fault: %s", f.name)
		f.run(t, c, id)
		_, _, _ = c.converged(t, id)
		c.step(t, "converged again")
	}
	next, info, st := c.converged(t, id)
	time.Sleep(3 * recordEvery) // the recorder's last snapshots see the converged cluster: a poll interval, not an event
	rec.Stop()
	h := rec.history(t, map[string][]string{"elastic": outputs(c.elastic)})
	t.Logf("recorded %s", rec.summary(h))
	for _, s := range h.Scans {
		for _, p := range s.Tasks {
			if strings.HasPrefix(p.TaskID, "stale-") {
				t.Errorf("%s runs on agent %s at %s: an agent obeyed a deposed master", p.TaskID, p.AgentID, s.At.Format(time.RFC3339Nano))
			}
		}
	}
	violations := chaos.Check(h, chaos.Options{Grace: chaosGrace})
	for _, v := range violations {
		t.Errorf("%s", v)
	}
	t.Logf("schedule:\n%s", strings.Join(c.steps, "\n"))
	if len(violations) > 0 {
		return
	}

	// The injected bug: a master (valid certificate, current epoch) runs
	// a task that already runs, on another agent.
	list := runningTasks(t, c, next)
	task := list.Tasks[0]
	// On the other agent with the most cpus free, so that it has room.
	var target *labNode
	most := -1.0
	for _, a := range st.Agents {
		free := scalars(a.Info.GetResources())["cpus"] - scalars(a.Used)["cpus"] - scalars(a.Offered)["cpus"]
		if a.Info.GetId().GetValue() != task.AgentId.GetValue() && free > most {
			target, most = c.agentAt(t, st, a.Info.GetId().GetValue()), free
		}
	}
	c.step(t, "injected bug: a master with the current epoch %d runs %s, already on %s, on %s too", info.Epoch,
		task.TaskId.GetValue(), c.agentAt(t, st, task.AgentId.GetValue()).host.Name, target.host.Name)
	bug := &recorder{masters: rec.masters, client: rec.client, stop: make(chan struct{})}
	bug.wg.Add(2)
	go bug.loop(bug.poll)
	go bug.loop(bug.scan)
	t.Cleanup(bug.Stop)
	targetID := c.agentID(t, st, target)
	startStaleMaster(t, c.observer, staleOrders{Commands: []staleCommand{{Agent: target.host.Addr(5051), Epoch: info.Epoch,
		FrameworkID: id, TaskID: task.TaskId.GetValue(), AgentID: targetID}}})
	second := chaos.Placement{FrameworkID: id, TaskID: task.TaskId.GetValue(), AgentID: targetID}
	for deadline := time.Now().Add(30 * time.Second); !bug.scanned(second); {
		if time.Now().After(deadline) {
			t.Fatalf("%s's second copy never ran on %s: the bug was not injected", second.TaskID, target.host.Name)
		}
		time.Sleep(recordEvery) // another process's launch: the scans are what there is to wait on
	}
	bug.Stop()
	h2 := bug.history(t, map[string][]string{"elastic": outputs(c.elastic)})
	h.Snapshots, h.Scans = append(h.Snapshots, h2.Snapshots...), append(h.Scans, h2.Scans...)
	h.Updates, h.Subscriptions = h2.Updates, h2.Subscriptions
	caught := chaos.Check(h, chaos.Options{Grace: chaosGrace})
	found := false
	for _, v := range caught {
		t.Logf("with the injected bug: %s", v)
		found = found || v.Rule == chaos.RunningTwice
	}
	if !found {
		t.Errorf("the checker did not catch %s running on two agents at once (%d violations)", task.TaskId.GetValue(), len(caught))
	}
}

func outputs(ps []*netlab.Proc) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Output())
	}
	return out
}

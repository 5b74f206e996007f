package main

// Partitions with real processes (issue 19): a Consul agent, two masters,
// two agents and the elastic example, each host a network namespace of a
// testkit/netlab lab, links cut with iptables. The test process watches
// from a host of its own that is never cut.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/consultest"
	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit/netlab"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/encoding/protojson"
)

// electionTTL is the masters' --election-ttl: a deposed leader must stop
// within it.
const electionTTL = 2 * time.Second

// labCluster is a cluster whose every node is a host of its own.
type labCluster struct {
	lab       *netlab.Lab
	observer  *netlab.Host // the test's own host: never cut
	consul    *netlab.Host
	detector  leader.Detector
	masters   []*labNode
	agents    []*labNode
	framework *labNode
	client    *http.Client
	tasks     int
}

type labNode struct {
	host *netlab.Host
	proc *netlab.Proc
	http string // a master's HTTP address
}

func startLabCluster(t *testing.T, tasks int) *labCluster {
	t.Helper()
	lab := netlab.New(t)
	c := &labCluster{lab: lab, observer: lab.AddHost("test"), consul: lab.AddHost("consul"), tasks: tasks}
	c.client = c.observer.HTTPClient(15 * time.Second)
	// The masters serve HTTPS (Consul, asked through the same client, HTTP).
	c.client.Transport.(*http.Transport).TLSClientConfig = operator.ClientConfig()
	agent := consultest.StartAgent(t, consultest.Options{Bind: c.consul.IP(), Command: c.consul.Command})
	election := "consul://" + agent.Addr + "/partition"
	cfg := api.DefaultConfig()
	cfg.Address = agent.Addr
	cfg.HttpClient = c.client
	consul, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.detector = leader.NewConsulDetector(consul, "partition", nil)
	dir := workDir(t) // the agents run tasks as nobody: their sandboxes must be reachable
	env := []string{"AGORA_LOG_FORMAT=json", "AGORA_LOG_LEVEL=info"}
	for i := range 2 {
		h := lab.AddHost(fmt.Sprintf("master-%d", i))
		m := &labNode{host: h, http: h.Addr(5050)}
		m.proc = h.Start(t, netlab.Process{Name: h.Name, Path: agoraBin, Env: env, Args: []string{"node", "--role=master",
			"--listen", h.Addr(5055), "--http", m.http, "--work-dir", filepath.Join(dir, h.Name), "--election", election,
			"--election-ttl", electionTTL.String(), "--allocation-interval", "200ms", "--framework-heartbeat", "1s",
			"--heartbeat-interval", "500ms", "--max-missed-heartbeats", "3"}})
		c.masters = append(c.masters, m)
	}
	for i := range 2 {
		h := lab.AddHost(fmt.Sprintf("agent-%d", i))
		a := &labNode{host: h}
		a.proc = h.Start(t, netlab.Process{Name: h.Name, Path: agoraBin, Env: env, Args: []string{"node", "--role=agent",
			"--listen", h.Addr(5051), "--agent-http", h.Addr(5052), "--master", election, "--work-dir", filepath.Join(dir, h.Name),
			"--tls-dir", agentDir(t, h.Name), "--resources", "cpus:2;mem:1024;disk:1024", "--isolation", "none"}})
		c.agents = append(c.agents, a)
	}
	h := lab.AddHost("framework")
	c.framework = &labNode{host: h}
	c.framework.proc = h.Start(t, netlab.Process{Name: "elastic", Path: elasticBin, Args: []string{"--master", election,
		"--listen", h.Addr(5060), "--tasks", strconv.Itoa(tasks), "--command", "sleep 600", "--resources", "cpus:0.5;mem:64",
		"--failover-timeout", "1h"}})
	return c
}

// leader waits for a leader other than not (nil: any) and returns its
// master.
func (c *labCluster) leader(t *testing.T, not *messages.MasterInfo) (*labNode, *messages.MasterInfo) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var info *messages.MasterInfo
	for info == nil || (not != nil && info.Id == not.Id) {
		var err error
		if info, err = c.detector.Detect(ctx, info); err != nil {
			t.Fatalf("no leading master: %v", err)
		}
	}
	for _, m := range c.masters {
		if m.http == info.HttpAddress {
			return m, info
		}
	}
	t.Fatalf("the leader %v is none of the lab's masters", info)
	return nil, nil
}

// state long-polls a master's /state until ok holds; a master that does
// not lead answers otherwise, and is asked again.
func (c *labCluster) state(t *testing.T, m *labNode, ok func(*messages.MasterState) bool) *messages.MasterState {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var since int64
	var last *messages.MasterState
	for time.Now().Before(deadline) {
		code, body := c.get(t, m, fmt.Sprintf("/state?since=%d&wait=5s", since))
		if code != http.StatusOK {
			time.Sleep(50 * time.Millisecond) // not leading (yet): another process's state, no event to wait on
			continue
		}
		st := &messages.MasterState{}
		if err := protojson.Unmarshal(body, st); err != nil {
			t.Fatalf("bad /state JSON: %v", err)
		}
		last, since = st, st.SnapshotUnixNano
		if ok(st) {
			return st
		}
	}
	t.Fatalf("%s's state never matched; last: %v", m.host.Name, last)
	return nil
}

func (c *labCluster) get(t *testing.T, m *labNode, path string) (int, []byte) {
	t.Helper()
	resp, err := c.client.Get("https://" + m.http + path)
	if err != nil {
		t.Fatalf("%s's HTTP API: %v", m.host.Name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// metric reads a counter from a master's own /metrics.
func (c *labCluster) metric(t *testing.T, m *labNode, name string) float64 {
	t.Helper()
	_, body := c.get(t, m, "/metrics")
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	t.Fatalf("%s exports no %s", m.host.Name, name)
	return 0
}

// running: the framework is connected as id (any, if empty) with every
// task RUNNING, on reachable agents.
func (c *labCluster) running(id string) func(*messages.MasterState) bool {
	return func(st *messages.MasterState) bool {
		if len(st.Frameworks) != 1 || reachableAgents(st) != len(c.agents) {
			return false
		}
		f := st.Frameworks[0]
		return (id == "" || f.Info.Id.Value == id) && f.Connected && f.Tasks["TASK_RUNNING"] == uint32(c.tasks) && len(f.Tasks) == 1
	}
}

func reachableAgents(st *messages.MasterState) (n int) {
	for _, a := range st.Agents {
		if a.Reachable {
			n++
		}
	}
	return n
}

// busiest is the agent that runs most of the tasks (by cpus used).
func (c *labCluster) busiest(t *testing.T, st *messages.MasterState) *labNode {
	t.Helper()
	var best *labNode
	most := 0.0
	for _, a := range st.Agents {
		used := 0.0
		for _, r := range a.Used {
			if r.Name == "cpus" {
				used += r.Scalar
			}
		}
		for _, n := range c.agents {
			if n.host.Name == a.Info.Hostname && used > most {
				best, most = n, used
			}
		}
	}
	if best == nil {
		t.Fatal("no agent runs a task")
	}
	return best
}

// logLine is one line of an agora process's JSON log.
type logLine struct {
	Time time.Time `json:"time"`
	Msg  string    `json:"msg"`
}

// logged matches a JSON log line whose message starts with prefix.
func logged(prefix string, into *logLine) func(string) bool {
	return func(line string) bool {
		var l logLine
		if json.Unmarshal([]byte(line), &l) != nil || !strings.HasPrefix(l.Msg, prefix) {
			return false
		}
		*into = l
		return true
	}
}

// Issue 19, part 1: the leader is cut off from Consul (and from nothing
// else). It must stop leading within its check's TTL of the cut, before
// or as its successor is elected, say so in its log and /state, and send
// nothing to agents or frameworks after; the cluster carries on under the
// successor without losing a task.
func TestLeaderCutOffFromConsulStepsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("needs network namespaces, Consul and agora processes; make test runs it")
	}
	c := startLabCluster(t, 4)
	old, oldInfo := c.leader(t, nil)
	id := c.state(t, old, c.running("")).Frameworks[0].Info.Id.Value
	var successor *labNode
	for _, m := range c.masters {
		if m != old {
			successor = m
		}
	}
	oldMark, nextMark := old.proc.Lines(), successor.proc.Lines()

	cut := time.Now()
	c.lab.Cut(old.host, c.consul)
	var stepping, stepped, elected logLine
	old.proc.WaitLine(t, oldMark, 30*time.Second, logged("stepping down", &stepping))
	old.proc.WaitLine(t, oldMark, 30*time.Second, logged("stepped down", &stepped))
	successor.proc.WaitLine(t, nextMark, 30*time.Second, logged("elected leading master", &elected))
	t.Logf("cut at %s; the old leader decided to step down %v after the cut, its actors stopped %v later; the successor was elected %v after the cut",
		cut.Format(time.RFC3339Nano), stepping.Time.Sub(cut), stepped.Time.Sub(stepping.Time), elected.Time.Sub(cut))
	if d := stepping.Time.Sub(cut); d >= electionTTL {
		t.Errorf("the old leader led %v after it was cut from Consul: not within its TTL %v", d, electionTTL)
	}
	if stepped.Time.After(elected.Time) {
		t.Errorf("the old leader's actors stopped at %s, after its successor was elected at %s",
			stepped.Time.Format(time.RFC3339Nano), elected.Time.Format(time.RFC3339Nano))
	}
	if code, _ := c.get(t, old, "/state"); code == http.StatusOK {
		t.Errorf("the deposed leader's /state still answers as leader")
	}
	sent := c.metric(t, old, "agora_master_messages_sent_total")

	next, nextInfo := c.leader(t, oldInfo)
	if next != successor || nextInfo.Epoch <= oldInfo.Epoch {
		t.Fatalf("new leader %v; want %s with an epoch above %d", nextInfo, successor.host.Name, oldInfo.Epoch)
	}
	c.state(t, next, c.running(id))
	if after := c.metric(t, old, "agora_master_messages_sent_total"); after != sent {
		t.Errorf("the deposed leader sent %v messages after it stepped down", after-sent)
	}
	for _, n := range append([]*labNode{c.framework}, c.agents...) {
		for _, bad := range []string{"deposed master", "TASK_UNREACHABLE", "TASK_LOST", "TASK_KILLED", "TASK_FAILED"} {
			if out := n.proc.Output(); strings.Contains(out, bad) {
				t.Errorf("%s saw %q: the deposed leader reached it", n.host.Name, bad)
			}
		}
	}

	// Healed, it stands by and sends its clients to the leader.
	c.lab.Heal(old.host, c.consul)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.client.Get("https://" + old.http + "/state")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTemporaryRedirect && resp.Header.Get("Location") == "https://"+next.http+"/state" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the heal the old leader answers %d to %q, want a redirect to %s", resp.StatusCode, resp.Header.Get("Location"), next.http)
		}
		time.Sleep(100 * time.Millisecond) // its detector catches up on its own: nothing to wait on from here
	}
}

// Issue 19, part 2: the framework is cut off from the masters long enough
// that both ends drop the connection. Healed, it subscribes again by
// itself within seconds, with its FrameworkID, and keeps its tasks.
func TestSchedulerCutOffSubscribesAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("needs network namespaces, Consul and agora processes; make test runs it")
	}
	c := startLabCluster(t, 4)
	m, _ := c.leader(t, nil)
	id := c.state(t, m, c.running("")).Frameworks[0].Info.Id.Value
	mark := c.framework.proc.Lines()
	cut := time.Now()
	for _, m := range c.masters {
		c.lab.Cut(c.framework.host, m.host)
	}
	// Both ends notice: the scheduler misses heartbeats (or its
	// connection dies), the master's connection to it dies.
	c.framework.proc.WaitLine(t, mark, 60*time.Second, func(l string) bool { return strings.Contains(l, `msg="disconnected from the master`) })
	t.Logf("the scheduler noticed %v after the cut", time.Since(cut))
	c.state(t, m, func(st *messages.MasterState) bool { return len(st.Frameworks) == 1 && !st.Frameworks[0].Connected })
	t.Logf("the master noticed %v after the cut", time.Since(cut))
	mark = c.framework.proc.Lines()
	healed := time.Now()
	for _, m := range c.masters {
		c.lab.Heal(c.framework.host, m.host)
	}
	line, _ := c.framework.proc.WaitLine(t, mark, 60*time.Second, func(l string) bool { return strings.Contains(l, `msg="framework subscribed"`) })
	took := time.Since(healed)
	t.Logf("subscribed again %v after the heal", took)
	if !strings.HasSuffix(line, "framework_id="+id) {
		t.Fatalf("subscribed again as %q, want FrameworkID %s", line, id)
	}
	if took > 15*time.Second {
		t.Errorf("the scheduler took %v after the heal to subscribe again", took)
	}
	c.state(t, m, c.running(id))
	for _, bad := range []string{"TASK_LOST", "TASK_KILLED", "TASK_FAILED"} {
		if strings.Contains(c.framework.proc.Output(), bad) {
			t.Errorf("the framework saw %s", bad)
		}
	}
}

// Issue 19 asks to keep a test showing it: an agent cut off from the
// masters, marked unreachable, registers again by itself once healed, and
// its tasks are RUNNING again.
func TestAgentCutOffRegistersAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("needs network namespaces, Consul and agora processes; make test runs it")
	}
	c := startLabCluster(t, 4)
	m, _ := c.leader(t, nil)
	st := c.state(t, m, c.running(""))
	id := st.Frameworks[0].Info.Id.Value
	victim := c.busiest(t, st)
	for _, m := range c.masters {
		c.lab.Cut(victim.host, m.host)
	}
	c.state(t, m, func(st *messages.MasterState) bool { return reachableAgents(st) == len(c.agents)-1 })
	healed := time.Now()
	for _, m := range c.masters {
		c.lab.Heal(victim.host, m.host)
	}
	c.state(t, m, c.running(id))
	t.Logf("the agent and its tasks were back %v after the heal", time.Since(healed))
}

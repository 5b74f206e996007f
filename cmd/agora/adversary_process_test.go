package main

// The adversary suite of issue 14: a TLS cluster of real processes (a
// master, two agents, a victim framework running a long task) attacked by
// a peer that speaks proto.actor's wire by hand. The attacker is each of:
// a peer with no certificate, one with a certificate of another CA, one
// with a certificate of the wrong role (an operator's), the other agent's
// certificate, a framework certificate of another principal, and a test
// harness's agent-host certificate (which a master without
// --max-agents-per-agent-host takes for nothing). Every
// attack must be refused with a clear error (answered where the protocol
// answers, else in the node's log and /metrics), and nothing may be lost:
// the victim's task keeps running, nothing is freed, used + offered never
// exceeds what an agent has.

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/allocation"
	"github.com/agora-sched/agora/actors/master"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// attackerKind is who the attacker is to the cluster.
type attackerKind struct {
	name string
	// src is its certificate; nil for a peer that shows none.
	src *security.Source
	// trusted: the certificate is of the cluster's CA (the TLS handshake
	// lets it in; what it sends is judged).
	trusted bool
}

// attacker is one peer that dials nodes' remoting with its kind's
// certificate, claims an address of its own and sends whatever it likes.
// It also serves proto.actor's stream at that address, so that answers
// the cluster sends back (an Error, a FrameworkSubscribed) reach it.
type attacker struct {
	kind attackerKind
	// addr is the address it claims and listens on.
	addr string

	mu       sync.Mutex
	received []proto.Message
	arrived  chan struct{} // closed and replaced on each arrival
}

// newAttacker starts an attacker of kind; its listener stops with the test.
func newAttacker(t *testing.T, kind attackerKind) *attacker {
	t.Helper()
	a := &attacker{kind: kind, arrived: make(chan struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.addr = l.Addr().String()
	var opts []grpc.ServerOption
	if kind.src != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(kind.src.ServerConfig(security.ClientRequired))))
	}
	srv := grpc.NewServer(opts...)
	remote.RegisterRemotingServer(srv, &attackerInbox{a: a})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return a
}

// attackerInbox is the attacker's side of proto.actor's stream: it
// answers the connect request and keeps every message sent to it.
type attackerInbox struct {
	remote.UnimplementedRemotingServer
	a *attacker
}

func (in *attackerInbox) Receive(stream remote.Remoting_ReceiveServer) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		switch m := msg.MessageType.(type) {
		case *remote.RemoteMessage_ConnectRequest:
			if err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectResponse{
				ConnectResponse: &remote.ConnectResponse{MemberId: "attacker"}}}); err != nil {
				return err
			}
		case *remote.RemoteMessage_MessageBatch:
			for _, e := range m.MessageBatch.Envelopes {
				if int(e.TypeId) >= len(m.MessageBatch.TypeNames) {
					continue
				}
				mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(m.MessageBatch.TypeNames[e.TypeId]))
				if err != nil {
					continue
				}
				pm := mt.New().Interface()
				if proto.Unmarshal(e.MessageData, pm) == nil {
					in.a.keep(pm)
				}
			}
		}
	}
}

func (a *attacker) keep(m proto.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.received = append(a.received, m)
	close(a.arrived)
	a.arrived = make(chan struct{})
}

// pid is a PID of the attacker's own.
func (a *attacker) pid(id string) *actor.PID { return actor.NewPID(a.addr, id) }

// await waits for a message sent to the attacker that match accepts.
func (a *attacker) await(t *testing.T, what string, match func(proto.Message) bool) proto.Message {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for seen := 0; ; {
		a.mu.Lock()
		msgs, ch := a.received, a.arrived
		a.mu.Unlock()
		for ; seen < len(msgs); seen++ {
			if match(msgs[seen]) {
				return msgs[seen]
			}
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: never answered %s; got %v", a.kind.name, what, msgs)
		}
	}
}

// awaitError waits for an Error answering request (a full message name)
// and checks its code.
func (a *attacker) awaitError(t *testing.T, request string, code messages.Error_Code) *messages.Error {
	t.Helper()
	e := a.await(t, "an Error for "+request, func(m proto.Message) bool {
		e, ok := m.(*messages.Error)
		return ok && e.Request == request
	}).(*messages.Error)
	if e.Code != code {
		t.Fatalf("%s: %s answered %s (%s); want %s", a.kind.name, request, e.Code, e.Message, code)
	}
	a.forget(e)
	return e
}

// forget drops a message awaited, so that the next await finds the next.
func (a *attacker) forget(m proto.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, r := range a.received {
		if r == m {
			a.received = append(a.received[:i:i], a.received[i+1:]...)
			return
		}
	}
}

// conn is an attacker's stream into one node.
type conn struct {
	a      *attacker
	stream remote.Remoting_ReceiveClient
}

// dial opens a stream to a node's remoting and claims the attacker's
// address; it fails when the node refuses the TLS handshake.
func (a *attacker) dial(t *testing.T, node string) (*conn, error) {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true} // no certificate to show
	if a.kind.src != nil {
		cfg = a.kind.src.ClientConfig()
	}
	cc, err := grpc.NewClient(node, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); cc.Close() })
	stream, err := remote.NewRemotingClient(cc).Receive(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "attacker", Address: a.addr}},
	}}}); err != nil {
		return nil, err
	}
	if _, err := stream.Recv(); err != nil {
		return nil, err
	}
	return &conn{a: a, stream: stream}, nil
}

// send sends msg to target as from sender (nil: no sender).
func (c *conn) send(t *testing.T, target *actor.PID, msg proto.Message, sender *actor.PID) {
	t.Helper()
	data, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	batch := &remote.MessageBatch{
		TypeNames: []string{string(msg.ProtoReflect().Descriptor().FullName())},
		Targets:   []*actor.PID{target},
		Envelopes: []*remote.MessageEnvelope{{TypeId: 0, MessageData: data, Target: 0}},
	}
	if sender != nil {
		batch.Senders = []*actor.PID{sender}
		batch.Envelopes[0].Sender = 1 // 1-based; 0 is none
	}
	if err := c.stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: batch}}); err != nil {
		t.Fatalf("%s: send %T: %v", c.a.kind.name, msg, err)
	}
}

// logWatch counts a line in a node's output from now on.
type logWatch struct {
	p    *proc
	text string
	from int
}

func watchLog(p *proc, text string) logWatch {
	return logWatch{p: p, text: text, from: strings.Count(p.out.String(), text)}
}

// wait waits until the line was logged n more times.
func (w logWatch) wait(t *testing.T, n int) {
	t.Helper()
	waitCount(t, w.p, w.text, w.from+n)
}

// adversaryCluster is the cluster under attack and what the attacker
// learned of it from /state and the logs.
type adversaryCluster struct {
	master, a1, a2, victim  *proc
	info, a1Info, a2Info    readyInfo
	a1Dir                   string
	victimFramework         string // its FrameworkID
	victimTask              string
	a1ID, a2ID              string
	victimScheduler         *actor.PID
	masterPID, allocatorPID *actor.PID
	a1PID                   *actor.PID
}

// The kinds of attacker; each attack is made by every one.
func attackerKinds(t *testing.T) []attackerKind {
	t.Helper()
	dir := t.TempDir()
	other := filepath.Join(dir, "other-ca")
	tlsCmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(agoraBin, append([]string{"tls"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("agora tls %v: %v\n%s", args, err, out)
		}
	}
	tlsCmd("ca", "--dir", other)
	tlsCmd("cert", "--dir", other, "--role", "framework", "--name", "intruder", "--out", "framework")
	foreign, err := security.Options{Dir: other}.Load(security.RoleFramework, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A framework certificate of another principal than the victim's
	// (test-framework), made as a user makes one; in a copy of the CA's
	// directory, so the tests' shared one is left as it is.
	evil := filepath.Join(dir, "evil")
	if err := os.MkdirAll(evil, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "ca-key.pem"} {
		b, err := os.ReadFile(filepath.Join(operatorDir(), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(evil, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tlsCmd("cert", "--dir", evil, "--role", "framework", "--name", "evil-fw", "--out", "framework")
	evilFw, err := security.Options{Dir: evil}.Load(security.RoleFramework, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherAgent, err := security.Options{Dir: agentDir(t, "adv-a2")}.Load(security.RoleAgent, nil)
	if err != nil {
		t.Fatal(err)
	}
	// An agent-host certificate (testkit/scale's, for many simulated
	// agents on one connection) of the cluster's CA: this master runs
	// without --max-agents-per-agent-host, as a real cluster does, so it
	// may do no more than any certificate that is not an agent's.
	ca, err := security.ReadPEM(filepath.Join(operatorDir(), "ca.pem"), filepath.Join(operatorDir(), "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	hostPEM, err := security.Issue(ca, security.Request{Identity: security.Identity{Role: security.RoleAgentHost, Name: "adv-a1"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hostFiles := security.Files{CA: filepath.Join(operatorDir(), "ca.pem"), Cert: filepath.Join(dir, "agent-host.pem"), Key: filepath.Join(dir, "agent-host-key.pem")}
	if err := security.WriteFiles(hostPEM, hostFiles.Cert, hostFiles.Key, true); err != nil {
		t.Fatal(err)
	}
	agentHost, err := security.Options{Files: hostFiles}.Load(security.RoleAgentHost, nil)
	if err != nil {
		t.Fatal(err)
	}
	return []attackerKind{
		{name: "no certificate"},
		{name: "another CA", src: foreign},
		{name: "wrong role (operator)", src: operator, trusted: true},
		{name: "the other agent (adv-a2)", src: otherAgent, trusted: true},
		{name: "another framework (evil-fw)", src: evilFw, trusted: true},
		{name: "an agent-host certificate named like adv-a1", src: agentHost, trusted: true},
	}
}

// trustedKinds counts the kinds whose certificate the cluster trusts (they
// connect; the others are refused at the handshake).
func trustedKinds(kinds []attackerKind) int {
	n := 0
	for _, k := range kinds {
		if k.trusted {
			n++
		}
	}
	return n
}

func startAdversaryCluster(t *testing.T) *adversaryCluster {
	t.Helper()
	c := &adversaryCluster{}
	dir := workDir(t)
	c.master, c.info = startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "200ms")
	agentArgs := func(name, res string) []string {
		return []string{"node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", c.info.Remoting,
			"--work-dir", filepath.Join(dir, name), "--tls-dir", agentDir(t, name), "--resources", res, "--isolation", "none",
			"--registration-backoff", "100ms"}
	}
	c.a1Dir = filepath.Join(dir, "adv-a1")
	// The victim's task goes to adv-a1, the only agent when it starts;
	// adv-a2 is too small for tasks of 2 cpus.
	c.a1, c.a1Info = startNode(t, "agent adv-a1", agentArgs("adv-a1", "cpus:4;mem:1024;disk:256")...)
	waitState(t, c.info.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	c.victim = startBin(t, elasticBin, "victim", "--master", c.info.Remoting, "--tasks", "1", "--resources", "cpus:0.5;mem:64", "--command", "sleep 600")
	c.victim.out.waitFor(t, "task_id=task-0000 state=TASK_RUNNING")
	c.victimTask = "task-0000"
	c.a2, c.a2Info = startNode(t, "agent adv-a2", agentArgs("adv-a2", "cpus:1;mem:256;disk:256")...)
	st := waitState(t, c.info.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 2 && len(st.Frameworks) == 1 })
	c.victimFramework = st.Frameworks[0].Info.Id.Value
	for _, a := range st.Agents {
		switch a.Info.Hostname {
		case "adv-a1":
			c.a1ID = a.Info.Id.Value
		case "adv-a2":
			c.a2ID = a.Info.Id.Value
		}
	}
	m := regexp.MustCompile(`framework subscribed".* scheduler=([^/\s]+)/(\S+)`).FindStringSubmatch(c.master.out.String())
	if m == nil {
		t.Fatalf("no scheduler address in the master's log")
	}
	c.victimScheduler = actor.NewPID(m[1], m[2])
	c.masterPID = actor.NewPID(c.info.Remoting, master.Name)
	c.allocatorPID = actor.NewPID(c.info.Remoting, allocation.Name)
	c.a1PID = actor.NewPID(c.a1Info.Remoting, "agent")
	return c
}

// taskOf asks the master where a task runs.
func taskOf(t *testing.T, httpAddr, task string) *messages.TaskLocation {
	t.Helper()
	resp, err := operatorClient(15 * time.Second).Get("https://" + httpAddr + "/tasks/" + task)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/tasks/%s: %s %s", task, resp.Status, b)
	}
	loc := &messages.TaskLocation{}
	if err := protojson.Unmarshal(b, loc); err != nil {
		t.Fatalf("/tasks/%s: %v\n%s", task, err, b)
	}
	return loc
}

// nothingLost checks the victim's side after an attack: its task still
// runs on adv-a1 in the master's books, with what it used; the victim saw
// no other state; each agent's used + offered fits in what it has.
func (c *adversaryCluster) nothingLost(t *testing.T) {
	t.Helper()
	loc := taskOf(t, c.info.HTTP, c.victimTask)
	if loc.Task.State != messages.TaskState_TASK_RUNNING || loc.Agent.GetId().GetValue() != c.a1ID {
		t.Fatalf("the victim's task: %s on %s; want RUNNING on %s", loc.Task.State, loc.Agent.GetId().GetValue(), c.a1ID)
	}
	out := c.victim.out.String()
	for _, s := range []string{"FINISHED", "KILLED", "KILLING", "LOST", "FAILED", "UNREACHABLE", "GONE", "ERROR", "DROPPED"} {
		if strings.Contains(out, "TASK_"+s) {
			t.Fatalf("the victim framework was told TASK_%s:\n%s", s, out)
		}
	}
	select {
	case <-c.victim.done:
		t.Fatalf("the victim framework ended:\n%s", out)
	default:
	}
	st := waitState(t, c.info.HTTP, func(*messages.MasterState) bool { return true })
	fitsOnAgents(t, st)
	for _, a := range st.Agents {
		if a.Info.Hostname == "adv-a1" && messages.ScalarOf(a.Used, "cpus") < 0.5 {
			t.Fatalf("adv-a1 uses %v: the victim's task's resources were freed", a.Used)
		}
	}
}

// fitsOnAgents checks used + offered <= total: per agent for what is
// used, and over the cluster with what is offered (/state tells offers
// by framework, not by agent).
func fitsOnAgents(t *testing.T, st *messages.MasterState) {
	t.Helper()
	offered := map[string]float64{}
	for _, f := range st.Frameworks {
		for _, r := range f.Offered {
			offered[r.Name] += r.GetScalar()
		}
	}
	used, total := map[string]float64{}, map[string]float64{}
	for _, a := range st.Agents {
		for _, r := range a.Used {
			if r.GetScalar() > messages.ScalarOf(a.Info.Resources, r.Name)+1e-9 {
				t.Fatalf("agent %s uses %v of %s: more than it has (%v)", a.Info.Hostname, r.GetScalar(), r.Name, a.Info.Resources)
			}
			used[r.Name] += r.GetScalar()
		}
		for _, r := range a.Info.Resources {
			total[r.Name] += r.GetScalar()
		}
	}
	for name, n := range total {
		if used[name]+offered[name] > n+1e-9 {
			t.Fatalf("%s: used %v + offered %v > total %v", name, used[name], offered[name], n)
		}
	}
}

func mustResources(text string) []*messages.Resource {
	rs, err := messages.ParseResources(text)
	if err != nil {
		panic(err)
	}
	return rs
}

// refused is what a node answers an attack with, by attacker.
type refused struct {
	// log is the line the attacked node logs (on node: master, a1).
	log  string
	node string
	// answer, when the protocol answers: the Error code the attacker gets.
	answer messages.Error_Code
	// request is the full name of the request answered.
	request string
}

// TestAdversary makes every attack of issue 14 against one cluster, by
// every kind of attacker.
func TestAdversary(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	kinds := attackerKinds(t)
	c := startAdversaryCluster(t)
	attackers := map[string]*attacker{}
	for _, k := range kinds {
		attackers[k.name] = newAttacker(t, k)
	}
	nodes := map[string]*proc{"master": c.master, "adv-a1": c.a1}
	addrs := map[string]string{"master": c.info.Remoting, "adv-a1": c.a1Info.Remoting}
	handshakes := metric(t, c.info.HTTP, `agora_security_refused_total{reason="handshake",transport="remoting"}`)
	handed := metric(t, c.info.HTTP, `agora_master_agent_heartbeats_handed_to_master_total`)
	denied := metric(t, c.info.HTTP, `agora_master_messages_rejected_total{code="PERMISSION_DENIED"}`)

	// attack makes one attack as each kind of attacker: make sends it on
	// a stream into node; want says how it is refused. An attacker without
	// a certificate of the cluster cannot connect: the handshake refusal
	// is its answer, logged by the node.
	attack := func(t *testing.T, node string, make func(t *testing.T, a *attacker, c *conn), want func(k attackerKind) refused) {
		for _, k := range kinds {
			t.Run(k.name, func(t *testing.T) {
				a := attackers[k.name]
				p := nodes[node]
				if !k.trusted {
					w := watchLog(p, "remoting: refused a connection: TLS handshake failed")
					if _, err := a.dial(t, addrs[node]); err == nil {
						t.Fatalf("%s connected to %s", k.name, node)
					}
					w.wait(t, 1)
					return
				}
				conn, err := a.dial(t, addrs[node])
				if err != nil {
					t.Fatalf("%s could not connect to %s: %v", k.name, node, err)
				}
				r := want(k)
				w := watchLog(nodes[r.node], r.log)
				make(t, a, conn)
				w.wait(t, 1)
				if r.request != "" {
					a.awaitError(t, r.request, r.answer)
				}
				c.nothingLost(t)
			})
		}
	}
	const (
		gateType    = "remoting: refused: a message type outside Agora's protocol"
		gateSpoof   = "remoting: refused: a sender PID at"
		coreDenied  = "request refused: permission denied"
		agentRefuse = "agent: refused a master's message from a sender that is not a master"
	)
	fromCore := func(request string) func(attackerKind) refused {
		return func(attackerKind) refused {
			return refused{log: coreDenied, node: "master", answer: messages.Error_PERMISSION_DENIED, request: request}
		}
	}

	t.Run("remote Stop and PoisonPill to the agent", func(t *testing.T) {
		attack(t, "adv-a1", func(t *testing.T, a *attacker, conn *conn) {
			conn.send(t, c.a1PID, &actor.Stop{}, nil)
			conn.send(t, c.a1PID, &actor.PoisonPill{}, a.pid("x"))
		}, func(attackerKind) refused { return refused{log: gateType, node: "adv-a1"} })
		resp, err := operatorClient(15 * time.Second).Get("https://" + c.a1Info.AgentHTTP + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("adv-a1 /health after the remote Stops: %s", resp.Status)
		}
	})

	t.Run("RunTask straight to the agent", func(t *testing.T) {
		marker := filepath.Join(searchable(t), "pwned")
		attack(t, "adv-a1", func(t *testing.T, a *attacker, conn *conn) {
			conn.send(t, c.a1PID, &messages.RunTask{
				Framework: &messages.FrameworkInfo{Id: &messages.FrameworkID{Value: c.victimFramework}, Name: "victim", Roles: []string{"*"}},
				Task: &messages.TaskInfo{Name: "forged", TaskId: &messages.TaskID{Value: "forged-run"}, AgentId: &messages.AgentID{Value: c.a1ID},
					Command: &messages.CommandInfo{Value: "touch " + marker, Shell: true}, Resources: mustResources("cpus:0.1;mem:16")},
				MasterEpoch: 1 << 40,
			}, a.pid("master"))
		}, func(attackerKind) refused { return refused{log: agentRefuse, node: "adv-a1"} })
		if dirs, _ := filepath.Glob(filepath.Join(c.a1Dir, "frameworks", "*", "tasks", "forged-run")); len(dirs) > 0 {
			t.Fatalf("the agent made a sandbox for the forged task: %v", dirs)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("the forged task ran")
		}
	})

	finished := func(agentID string) *messages.StatusUpdate {
		return &messages.StatusUpdate{FrameworkId: &messages.FrameworkID{Value: c.victimFramework}, Status: &messages.TaskStatus{
			TaskId: &messages.TaskID{Value: c.victimTask}, State: messages.TaskState_TASK_FINISHED, AgentId: &messages.AgentID{Value: agentID},
			Uuid: []byte("forged-uuid-0001"), Message: "forged"}}
	}
	t.Run("forged TASK_FINISHED for the victim's task", func(t *testing.T) {
		attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
			conn.send(t, c.masterPID, finished(c.a1ID), a.pid("agent"))
		}, fromCore("agora.v1.StatusUpdate"))
	})
	t.Run("forged TASK_FINISHED naming the sender's own agent", func(t *testing.T) {
		// adv-a2's certificate, and its own AgentID in the status, for a
		// task that runs on adv-a1.
		attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
			conn.send(t, c.masterPID, finished(c.a2ID), a.pid("agent"))
		}, fromCore("agora.v1.StatusUpdate"))
	})
	t.Run("forged executor update to the agent", func(t *testing.T) {
		attack(t, "adv-a1", func(t *testing.T, a *attacker, conn *conn) {
			conn.send(t, c.a1PID, &messages.ExecutorStatusUpdate{FrameworkId: &messages.FrameworkID{Value: c.victimFramework},
				Status: finished(c.a1ID).Status, Uuid: []byte("forged-uuid-0002")}, a.pid("executor"))
		}, func(attackerKind) refused {
			return refused{log: "agent: refused an executor's update from a sender that is not the task's executor", node: "adv-a1"}
		})
	})

	for _, m := range []proto.Message{
		&messages.KillTask{FrameworkId: &messages.FrameworkID{Value: c.victimFramework}, TaskId: &messages.TaskID{Value: c.victimTask}, AgentId: &messages.AgentID{Value: c.a1ID}},
		&messages.Teardown{FrameworkId: &messages.FrameworkID{Value: c.victimFramework}},
	} {
		name := string(m.ProtoReflect().Descriptor().FullName())
		t.Run(name+" as the victim's scheduler", func(t *testing.T) {
			attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
				conn.send(t, c.masterPID, m, c.victimScheduler)
			}, func(attackerKind) refused { return refused{log: gateSpoof, node: "master"} })
		})
		t.Run(name+" from another principal", func(t *testing.T) {
			attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
				conn.send(t, c.masterPID, m, a.pid("scheduler"))
			}, fromCore(name))
		})
	}

	subscribe := func(a *attacker, id string) *messages.SubscribeFramework {
		info := &messages.FrameworkInfo{Name: "attacker", Roles: []string{"*"}, FailoverTimeoutNanos: int64(time.Hour)}
		if id != "" {
			info.Id = &messages.FrameworkID{Value: id}
		}
		return &messages.SubscribeFramework{Info: info, Pid: a.pid("scheduler"), Session: "attack"}
	}
	t.Run("SubscribeFramework with the victim's FrameworkID", func(t *testing.T) {
		attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
			conn.send(t, c.masterPID, subscribe(a, c.victimFramework), a.pid("scheduler"))
		}, fromCore("agora.v1.SubscribeFramework"))
	})
	t.Run("SubscribeFramework with a FrameworkID not yet issued", func(t *testing.T) {
		next := strings.TrimSuffix(c.victimFramework, "1") + "2" // the victim is F1; the next framework gets F2
		attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
			conn.send(t, c.masterPID, subscribe(a, next), a.pid("scheduler"))
		}, func(k attackerKind) refused {
			if k.src.Identity().Role == security.RoleFramework {
				return refused{log: "framework subscription rejected", node: "master", answer: messages.Error_INVALID_ARGUMENT, request: "agora.v1.SubscribeFramework"}
			}
			return fromCore("agora.v1.SubscribeFramework")(k)
		})
		// The next real framework gets that ID and runs.
		out, errOut, code := agoraRun(t, c.info.Remoting, "", "echo", "next framework")
		if code != 0 || out != "next framework\n" {
			t.Fatalf("the next framework: exit %d %q\n%s", code, out, errOut)
		}
		st := waitState(t, c.info.HTTP, func(*messages.MasterState) bool { return true })
		if fw := st.Frameworks; len(fw) > 2 {
			t.Fatalf("frameworks: %v", fw)
		}
	})

	reregister := func(a *attacker, hostname string) *messages.ReregisterAgent {
		return &messages.ReregisterAgent{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: c.a1ID}, Hostname: hostname,
			Resources: mustResources("cpus:64;mem:65536")}, Pid: a.pid("agent"), MasterEpoch: 1, Session: "attack"}
	}
	t.Run("ReregisterAgent with adv-a1's AgentID under its hostname", func(t *testing.T) {
		attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
			conn.send(t, c.masterPID, reregister(a, "adv-a1"), a.pid("agent"))
		}, fromCore("agora.v1.ReregisterAgent"))
	})
	t.Run("ReregisterAgent with adv-a1's AgentID under the sender's hostname", func(t *testing.T) {
		attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
			host := "adv-a2"
			if k := a.kind.src.Identity(); k.Role != security.RoleAgent {
				host = k.Name
			}
			conn.send(t, c.masterPID, reregister(a, host), a.pid("agent"))
		}, fromCore("agora.v1.ReregisterAgent"))
	})
	t.Run("registration naming another node's PID", func(t *testing.T) {
		// adv-a2 re-registers (its own ID, its own name) and names
		// adv-a1's agent actor as its PID: the master would send tasks on
		// adv-a2's resources to adv-a1.
		attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
			msg := &messages.ReregisterAgent{Info: &messages.AgentInfo{Id: &messages.AgentID{Value: c.a2ID}, Hostname: "adv-a2",
				Resources: mustResources("cpus:1;mem:256;disk:256")}, Pid: c.a1PID, MasterEpoch: 1, Session: "attack"}
			conn.send(t, c.masterPID, msg, a.pid("agent"))
		}, fromCore("agora.v1.ReregisterAgent"))
	})

	// adv-a1's heartbeats go to its handler on the master (master/agent-<id>),
	// which answers only adv-a1's own: a heartbeat from anyone else goes on
	// to the master's core, which refuses it; only the master may tell the
	// handler it heard from the agent.
	a1Handler := actor.NewPID(c.info.Remoting, master.Name+"/agent-"+c.a1ID)
	t.Run("heartbeat for adv-a1 to its handler", func(t *testing.T) {
		attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
			conn.send(t, a1Handler, &messages.AgentHeartbeat{AgentId: &messages.AgentID{Value: c.a1ID}, Seq: 1, MasterEpoch: 1}, a.pid("agent"))
		}, fromCore("agora.v1.AgentHeartbeat"))
	})
	t.Run("AgentObserved to adv-a1's handler", func(t *testing.T) {
		attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
			conn.send(t, a1Handler, &messages.AgentObserved{AgentId: c.a1ID, IntervalNanos: int64(time.Hour),
				SeenUnixNano: time.Now().Add(time.Hour).UnixNano()}, a.pid("master"))
		}, func(attackerKind) refused {
			return refused{log: "agent handler: an AgentObserved not from the master; ignored", node: "master"}
		})
	})

	t.Run("forged grants and allocator changes", func(t *testing.T) {
		grants := policy.EncodeGrants([]policy.Grant{{FrameworkID: c.victimFramework, Role: "*", AgentID: c.a1ID,
			Resources: policy.MustParse("cpus:4;mem:1024"), Incarnation: 1}})
		attack(t, "master", func(t *testing.T, a *attacker, conn *conn) {
			conn.send(t, c.masterPID, grants, a.pid("allocator"))
			conn.send(t, c.allocatorPID, &messages.AllocatorReturn{FrameworkId: c.victimFramework, Role: "*", AgentId: c.a1ID,
				Resources: policy.ToQuantities(policy.MustParse("cpus:0.5;mem:64"))}, a.pid("master"))
		}, func(attackerKind) refused {
			return refused{log: "master: refused a message only the master and its allocator exchange", node: "master", answer: messages.Error_PERMISSION_DENIED, request: "agora.v1.Allocated"}
		})
		waitCount(t, c.master, "allocator: refused a message only the master and its allocator exchange", 3)
	})

	// The real agents still serve: a task that fits only on adv-a1 runs
	// there (no task was sent to an attacker), and adv-a1 kept its place.
	run := exec.Command(agoraBin, "run", "--master", c.info.Remoting, "--timeout", "60s", "--cpus", "2", "--", "echo", "after the attacks")
	out, err := run.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "after the attacks") || !strings.Contains(string(out), " on adv-a1") {
		t.Fatalf("a task after the attacks: %v\n%s", err, out)
	}
	st := waitState(t, c.info.HTTP, func(*messages.MasterState) bool { return true })
	for _, a := range st.Agents {
		want := map[string]string{"adv-a1": c.a1Info.Remoting, "adv-a2": c.a2Info.Remoting}[a.Info.Hostname]
		if !a.Reachable || a.Address != want || a.Reregistrations != 0 {
			t.Fatalf("agent %s: reachable %v at %s (want %s), %d re-registrations", a.Info.Hostname, a.Reachable, a.Address, want, a.Reregistrations)
		}
	}
	c.nothingLost(t)
	if strings.Contains(c.victim.out.String(), "TASK_LOST") {
		t.Fatalf("the victim saw TASK_LOST:\n%s", c.victim.out.String())
	}
	if n := metric(t, c.info.HTTP, `agora_security_refused_total{reason="handshake",transport="remoting"}`); n <= handshakes {
		t.Fatalf("refused handshakes counted: %v, before the attacks %v", n, handshakes)
	}
	// The forged heartbeats, one per trusted attacker, and none of the
	// agents' own: over TLS the handlers answer those themselves (once
	// both agents heartbeat, every 5 s).
	waitMetric(t, c.info.HTTP, `agora_master_agent_heartbeats_total`, 2)
	if n, want := metric(t, c.info.HTTP, `agora_master_agent_heartbeats_handed_to_master_total`)-handed, float64(trustedKinds(kinds)); n != want {
		t.Fatalf("heartbeats handed to the master: %v, want the %v forged ones", n, want)
	}
	if n := metric(t, c.info.HTTP, `agora_master_messages_rejected_total{code="PERMISSION_DENIED"}`); n <= denied {
		t.Fatalf("permission denials counted: %v, before the attacks %v", n, denied)
	}
	for _, reason := range []string{"spoofed_sender"} {
		if n := metric(t, c.info.HTTP, fmt.Sprintf(`agora_security_refused_total{reason=%q,transport="remoting"}`, reason)); n == 0 {
			t.Errorf("no %s refusal counted", reason)
		}
	}
}

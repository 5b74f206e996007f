package remoting

import (
	"context"
	"crypto/tls"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// These tests play bad peers with raw gRPC clients speaking proto.actor's
// wire (a ConnectRequest, then batches of envelopes), so each test has one
// remote in the process and runs under -race.

// received is what the recorder actor saw of one message.
type received struct {
	msg    proto.Message
	from   security.Identity
	sender *actor.PID
}

// recorder reports every agora message it receives, with who sent it.
type recorder struct{ got chan<- received }

func (r recorder) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*messages.AgentHeartbeat); ok {
		r.got <- received{msg: m, from: security.SenderOf(ctx), sender: ctx.Sender()}
	}
}

// testCluster makes a CA and certificates for the given identities.
func testCluster(t *testing.T, ids ...security.Identity) (dir string) {
	t.Helper()
	dir = t.TempDir()
	ca, err := security.NewCA("test", time.Now(), 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := security.WriteFiles(ca, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"), false); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		p, err := security.Issue(ca, security.Request{Identity: id}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, string(id.Role)+"-"+id.Name)
		if err := security.WriteFiles(p, f+".pem", f+"-key.pem", false); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func source(t *testing.T, dir string, id security.Identity) *security.Source {
	t.Helper()
	f := filepath.Join(dir, string(id.Role)+"-"+id.Name)
	s, err := security.Load(security.Files{CA: filepath.Join(dir, "ca.pem"), Cert: f + ".pem", Key: f + "-key.pem"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	masterID = security.Identity{Role: security.RoleMaster, Name: "m1"}
	agentID  = security.Identity{Role: security.RoleAgent, Name: "a1"}
	agent2ID = security.Identity{Role: security.RoleAgent, Name: "a2"}
)

// startRecorder starts a node with a recorder actor named "rec".
func startRecorder(t *testing.T, cfg Config) (*Node, *actor.PID, <-chan received, *security.Metrics) {
	t.Helper()
	cfg.Bind = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	cfg.Metrics = security.NewMetrics(nil)
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	got := make(chan received, 16)
	pid, err := n.System.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return recorder{got} }), "rec")
	if err != nil {
		t.Fatal(err)
	}
	return n, pid, got, cfg.Metrics
}

// rawPeer is a hand-driven proto.actor connection.
type rawPeer struct {
	t      *testing.T
	stream remote.Remoting_ReceiveClient
}

func dialRaw(t *testing.T, address string, creds credentials.TransportCredentials, claims string) (*rawPeer, error) {
	t.Helper()
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	stream, err := remote.NewRemotingClient(conn).Receive(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "raw", Address: claims}},
	}}}); err != nil {
		return nil, err
	}
	// The node answers a ConnectRequest it accepts; a refused one ends
	// the stream.
	if _, err := stream.Recv(); err != nil {
		return nil, err
	}
	return &rawPeer{t: t, stream: stream}, nil
}

// envelope is one message of a batch: a type name, its bytes, the
// sender PID claimed (nil: none) and a header.
type envelope struct {
	typeName string
	data     []byte
	sender   *actor.PID
	header   map[string]string
}

func msgEnvelope(m proto.Message, sender *actor.PID) envelope {
	b, _ := proto.Marshal(m)
	return envelope{typeName: string(m.ProtoReflect().Descriptor().FullName()), data: b, sender: sender}
}

func (p *rawPeer) send(target *actor.PID, envs ...envelope) {
	p.t.Helper()
	b := &remote.MessageBatch{Targets: []*actor.PID{target}}
	for _, e := range envs {
		env := &remote.MessageEnvelope{TypeId: int32(len(b.TypeNames)), MessageData: e.data}
		b.TypeNames = append(b.TypeNames, e.typeName)
		if e.sender != nil {
			b.Senders = append(b.Senders, e.sender)
			env.Sender = int32(len(b.Senders))
		}
		if e.header != nil {
			env.MessageHeader = &remote.MessageHeader{HeaderData: e.header}
		}
		b.Envelopes = append(b.Envelopes, env)
	}
	if err := p.stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: b}}); err != nil {
		p.t.Fatal(err)
	}
}

func next(t *testing.T, got <-chan received) received {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no message reached the actor")
	}
	return received{}
}

func TestGateStampsIdentityAndRefusesSpoofing(t *testing.T) {
	dir := testCluster(t, masterID, agentID)
	n, rec, got, metrics := startRecorder(t, Config{TLS: source(t, dir, masterID)})
	const claims = "127.0.0.1:7001"
	peer, err := dialRaw(t, n.Address, credentials.NewTLS(source(t, dir, agentID).ClientConfig()), claims)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := n.Identities.Of(claims); !ok || id != agentID {
		t.Fatalf("address %s held by %v %v; want the agent", claims, id, ok)
	}
	own := actor.NewPID(claims, "agent")
	victim := actor.NewPID("127.0.0.1:7002", "scheduler")
	stop, _ := proto.Marshal(&actor.Stop{})
	poison, _ := proto.Marshal(&actor.PoisonPill{})
	watch, _ := proto.Marshal(&actor.Watch{Watcher: victim})
	peer.send(rec,
		// A sender PID at another node's address: refused.
		msgEnvelope(&messages.AgentHeartbeat{Seq: 1}, victim),
		// proto.actor's system messages: never accepted remotely.
		envelope{typeName: "actor.Stop", data: stop},
		envelope{typeName: "actor.PoisonPill", data: poison},
		// A watch on behalf of an actor of another node.
		envelope{typeName: "actor.Watch", data: watch},
		// A header claiming to be the master: replaced by the truth.
		envelope{typeName: "agora.v1.AgentHeartbeat", data: mustMarshal(&messages.AgentHeartbeat{Seq: 2}), sender: own,
			header: map[string]string{security.HeaderRole: "master", security.HeaderName: "m1"}},
		// No sender: allowed (Agora's one-way sends), stamped all the same.
		msgEnvelope(&messages.AgentHeartbeat{Seq: 3}, nil),
	)
	for _, want := range []uint64{2, 3} {
		r := next(t, got)
		if seq := r.msg.(*messages.AgentHeartbeat).Seq; seq != want {
			t.Fatalf("the actor got heartbeat %d; want %d (1 came from a spoofed sender)", seq, want)
		}
		if r.from != agentID {
			t.Fatalf("heartbeat %d: sender identity %v; want %v", want, r.from, agentID)
		}
	}
	for reason, want := range map[string]float64{reasonSpoofedSender: 2, reasonMessageType: 2} {
		if got := metrics.Refused("remoting", reason); got != want {
			t.Errorf("refusals %s: %v; want %v", reason, got, want)
		}
	}
	// The actor was neither stopped nor poisoned: it answers a local request.
	n.System.Root.Send(rec, &messages.AgentHeartbeat{Seq: 4})
	if r := next(t, got); r.from != security.Local {
		t.Fatalf("a local message comes from %v; want local", r.from)
	}
}

func TestGateRefusesPeersWithoutCertificate(t *testing.T) {
	dir := testCluster(t, masterID, agentID)
	other := testCluster(t, agentID)
	refusals := make(chan struct{}, 16)
	n, _, _, metrics := startRecorder(t, Config{TLS: source(t, dir, masterID),
		Logger: slog.New(refusalLog{testLogger(t).Handler(), refusals})})

	noCert := source(t, dir, agentID).ClientConfig()
	noCert.GetClientCertificate = nil
	for name, creds := range map[string]credentials.TransportCredentials{
		"no certificate":  credentials.NewTLS(noCert),
		"another CA":      credentials.NewTLS(source(t, other, agentID).ClientConfig()),
		"plaintext":       insecure.NewCredentials(),
		"no CA to verify": credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13}),
	} {
		if _, err := dialRaw(t, n.Address, creds, "127.0.0.1:7001"); err == nil {
			t.Errorf("%s: connected", name)
		}
	}
	// A client can see its handshake fail before the node has finished
	// refusing it: wait for the node's word on three of them (it counts
	// each before it logs it).
	deadline := time.After(20 * time.Second)
	for range 3 {
		select {
		case <-refusals:
		case <-deadline:
			t.Fatalf("refused handshakes logged: fewer than 3 in 20 s (counted %v)", metrics.Refused("remoting", reasonHandshake))
		}
	}
	if got := metrics.Refused("remoting", reasonHandshake); got < 3 {
		t.Errorf("refused handshakes counted: %v; want at least 3", got)
	}
}

// refusalLog passes records to next and signals each refused handshake's
// warning on refused.
type refusalLog struct {
	slog.Handler
	refused chan<- struct{}
}

func (h refusalLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "remoting: refused a connection: TLS handshake failed") {
		select {
		case h.refused <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func TestGateRefusesAddressClaims(t *testing.T) {
	dir := testCluster(t, masterID, agentID, agent2ID)
	n, _, _, metrics := startRecorder(t, Config{TLS: source(t, dir, masterID)})
	const addr = "127.0.0.1:7001"
	first, err := dialRaw(t, n.Address, credentials.NewTLS(source(t, dir, agentID).ClientConfig()), addr)
	if err != nil {
		t.Fatal(err)
	}
	// Another identity claiming the same address is refused while the
	// first holds it; the same identity may open a second stream.
	if _, err := dialRaw(t, n.Address, credentials.NewTLS(source(t, dir, agent2ID).ClientConfig()), addr); err == nil {
		t.Fatal("a second identity took an address another holds")
	}
	if _, err := dialRaw(t, n.Address, credentials.NewTLS(source(t, dir, agentID).ClientConfig()), addr); err != nil {
		t.Fatalf("the holder's second stream: %v", err)
	}
	// Nobody speaks for the node itself.
	if _, err := dialRaw(t, n.Address, credentials.NewTLS(source(t, dir, agentID).ClientConfig()), n.Address); err == nil {
		t.Fatal("a peer claimed the node's own address")
	}
	if id, _ := n.Identities.Of(addr); id != agentID {
		t.Fatalf("address held by %v", id)
	}
	if got := metrics.Refused("remoting", reasonAddressClaimed); got != 2 {
		t.Fatalf("address claims refused: %v; want 2", got)
	}
	_ = first
}

func TestGateWithoutTLS(t *testing.T) {
	n, rec, got, metrics := startRecorder(t, Config{Insecure: true})
	const claims = "127.0.0.1:7001"
	peer, err := dialRaw(t, n.Address, insecure.NewCredentials(), claims)
	if err != nil {
		t.Fatal(err)
	}
	stop, _ := proto.Marshal(&actor.Stop{})
	peer.send(rec, envelope{typeName: "actor.Stop", data: stop}, msgEnvelope(&messages.AgentHeartbeat{Seq: 1}, actor.NewPID(claims, "x")))
	if r := next(t, got); r.from != security.Insecure {
		t.Fatalf("identity without TLS: %v", r.from)
	}
	if got := metrics.Refused("remoting", reasonMessageType); got != 1 {
		t.Fatalf("a remote Stop without TLS: refusals %v", got)
	}
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

package remoting

import (
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// testLogger routes logs to the test, until it ends: gRPC's goroutines
// may still log after the node is stopped.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

// echo answers a PID (a local request) with itself.
type echo struct{}

func (echo) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actor.PID); ok {
		ctx.Respond(ctx.Message())
	}
}

// A raw gRPC peer plays the bad sender, so this test has one remote in the
// process and runs under -race.
func TestNodeSurvivesBadPeers(t *testing.T) {
	n, err := Start(Config{Bind: "127.0.0.1:0", Logger: testLogger(t), Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	pid, err := n.System.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return echo{} }), "echo")
	if err != nil {
		t.Fatal(err)
	}
	// Bound on port 0, the node advertises the port it got, and its PIDs
	// carry it: the gRPC dial below reaches the node at that address.
	if host, port, _ := net.SplitHostPort(n.Address); host != "127.0.0.1" || port == "0" || port == "" || pid.Address != n.Address {
		t.Fatalf("node address %q, PID address %q: want the bound 127.0.0.1 port on both", n.Address, pid.Address)
	}

	conn, err := grpc.NewClient(n.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := remote.NewRemotingClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// protoactor leaves these two methods as panic("implement me").
	if _, err := client.ListProcesses(ctx, &remote.ListProcessesRequest{}); err == nil {
		t.Fatal("ListProcesses: want an error, got none")
	}
	if _, err := client.GetProcessDiagnostics(ctx, &remote.GetProcessDiagnosticsRequest{}); err == nil {
		t.Fatal("GetProcessDiagnostics: want an error, got none")
	}

	// A message whose type this node has not linked would crash
	// proto.actor's reader: the gate drops it (gate_test.go checks how).
	stream, err := client.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(m *remote.RemoteMessage) {
		if err := stream.Send(m); err != nil && err != io.EOF {
			t.Fatal(err)
		}
	}
	send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "bad", Address: "127.0.0.1:1"}},
	}}})
	send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: &remote.MessageBatch{
		TypeNames: []string{"nosuch.v1.Unknown", "agora.v1.NoSuchMessage"},
		Targets:   []*actor.PID{pid},
		Envelopes: []*remote.MessageEnvelope{{TypeId: 0, MessageData: []byte{1, 2, 3}, Target: 0}, {TypeId: 1, MessageData: []byte{1}, Target: 0}},
	}}})
	_ = stream.CloseSend()

	// The node still serves: a local request round-trips through the actor
	// and a new gRPC call is answered.
	res, err := n.System.Root.RequestFuture(pid, pid, 5*time.Second).Result()
	if err != nil || !res.(*actor.PID).Equal(pid) {
		t.Fatalf("node stopped serving after bad peers: %v %v", res, err)
	}
	if _, err := client.ListProcesses(ctx, &remote.ListProcessesRequest{}); err == nil {
		t.Fatal("second ListProcesses: want an error, got none")
	}
}

func TestStartRejectsBadAddresses(t *testing.T) {
	for _, bind := range []string{"nohostport", "[::1]:0", "127.0.0.1:99999"} {
		if _, err := Start(Config{Bind: bind, Logger: testLogger(t), Insecure: true}); err == nil {
			t.Errorf("%q: want an error", bind)
		}
	}
	if _, err := Start(Config{Bind: "127.0.0.1:0", Advertised: "10.0.0.1:5055", Logger: testLogger(t), Insecure: true}); err == nil {
		t.Error("advertising a fixed port for a port-0 bind: want an error")
	}
	if _, err := Start(Config{Bind: "127.0.0.1:0", Logger: testLogger(t)}); err == nil {
		t.Error("neither TLS nor insecure: want an error")
	}
}

// A node's queue to each peer starts small: proto.actor's default
// allocated 16 MB per peer node up front, which a master of thousands of
// agent nodes cannot afford (and which its collector scanned each cycle).
// The peers here are closed ports: the writer for each is spawned, with
// its queue, at the first send and lives while it retries the connection.
func TestPeerQueuesStartSmall(t *testing.T) {
	n, err := Start(Config{Bind: "127.0.0.1:0", Logger: testLogger(t), Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	const peers = 8
	addrs := make([]string, peers)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		_ = l.Close()
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, a := range addrs {
		// The send returns once the endpoint (writer and queue) exists.
		n.System.Root.Send(actor.NewPID(a, "nobody"), &actor.PID{Address: a, Id: "x"})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perPeer := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / peers
	t.Logf("heap per peer node: %d B", perPeer)
	if perPeer > 1<<20 {
		t.Fatalf("each peer node took %d B of heap; want under 1 MiB (a queue of %d messages is 16 KiB)", perPeer, EndpointWriterQueue)
	}
}

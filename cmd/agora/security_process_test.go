package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/allocation"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"
)

// A node without a certificate of the cluster's CA reaches neither the
// master's remoting nor its HTTP API; the refusals are logged and counted.
func TestNodeWithoutCertificateIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := t.TempDir()
	m, info := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"))

	// An agent in plaintext, and one with a certificate of another CA.
	other := filepath.Join(dir, "other-ca")
	for _, args := range [][]string{{"ca", "--dir", other}, {"cert", "--dir", other, "--role", "agent", "--name", "intruder", "--out", "agent"}} {
		if out, err := exec.Command(agoraBin, append([]string{"tls"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("agora tls %v: %v\n%s", args, err, out)
		}
	}
	agentArgs := func(name string) []string {
		return []string{"node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", info.Remoting,
			"--work-dir", filepath.Join(dir, name), "--resources", "cpus:1;mem:256", "--isolation", "none"}
	}
	startNode(t, "plaintext agent", append(agentArgs("plain"), "--insecure", "--hostname", "plain")...)
	m.out.waitFor(t, "remoting: refused a connection: TLS handshake failed")
	startNode(t, "agent of another CA", append(agentArgs("foreign"), "--tls-dir", other)...)
	// The second refusal: the output holds the line twice.
	waitCount(t, m, "remoting: refused a connection: TLS handshake failed", 2)

	// A real agent joins: the master serves, and counted only the intruders.
	startNode(t, "agent", append(agentArgs("real"), "--tls-dir", agentDir(t, "real"))...)
	st := waitState(t, info.HTTP, func(st *messages.MasterState) bool { return len(st.Agents) >= 1 })
	if len(st.Agents) != 1 || st.Agents[0].Info.Hostname != "real" {
		t.Fatalf("agents: %v; want only the one with a certificate", st.Agents)
	}
	if n := metric(t, info.HTTP, `agora_security_refused_total{reason="handshake",transport="remoting"}`); n < 2 {
		t.Fatalf("refused handshakes counted: %v", n)
	}

	// HTTP: no client certificate, no state; /health still answers probes.
	anon := operator.ClientConfig()
	anon.GetClientCertificate = nil
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: anon}, Timeout: 10 * time.Second}
	for path, want := range map[string]int{"/state": http.StatusUnauthorized, "/health": http.StatusOK} {
		resp, err := client.Get("https://" + info.HTTP + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s without a certificate: %s; want %d", path, resp.Status, want)
		}
	}
	if resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + info.HTTP + "/state"); err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served the state")
		}
		resp.Body.Close()
	}
}

// A remote Stop or PoisonPill, even from a peer with a valid certificate,
// stops neither the master nor the allocator (issue 14: it stopped them for
// good while /health answered ok); the master keeps serving.
func TestRemoteStopIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := t.TempDir()
	m, info := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "100ms")

	// A framework's certificate, and proto.actor's wire spoken by hand.
	fw, err := security.Options{Dir: operatorDir()}.Load(security.RoleFramework, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(info.Remoting, grpc.WithTransportCredentials(credentials.NewTLS(fw.ClientConfig())))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := remote.NewRemotingClient(conn).Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const attacker = "127.0.0.1:1"
	if err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
		ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "attacker", Address: attacker}},
	}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("a framework certificate's connection was refused: %v", err)
	}
	stop, _ := proto.Marshal(&actor.Stop{})
	poison, _ := proto.Marshal(&actor.PoisonPill{})
	batch := &remote.MessageBatch{
		TypeNames: []string{"actor.Stop", "actor.PoisonPill"},
		Targets:   []*actor.PID{actor.NewPID(info.Remoting, master.Name), actor.NewPID(info.Remoting, allocation.Name)},
	}
	for target := range batch.Targets {
		for typ, data := range [][]byte{stop, poison} {
			batch.Envelopes = append(batch.Envelopes, &remote.MessageEnvelope{TypeId: int32(typ), MessageData: data, Target: int32(target)})
		}
	}
	if err := stream.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: batch}}); err != nil {
		t.Fatal(err)
	}
	waitCount(t, m, "remoting: refused: a message type outside Agora's protocol", 4)

	// The master and its allocator still work: an agent registers, a task
	// is offered, runs and ends.
	startNode(t, "agent", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", info.Remoting,
		"--work-dir", workDir(t), "--tls-dir", agentDir(t, "a1"), "--resources", "cpus:1;mem:256", "--isolation", "none")
	out, err := exec.Command(agoraBin, "run", "--master", info.Remoting, "--timeout", "60s", "--", "echo", "still serving").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "still serving") {
		t.Fatalf("agora run after the remote Stop: %v\n%s", err, out)
	}
	if n := metric(t, info.HTTP, `agora_security_refused_total{reason="message_type",transport="remoting"}`); n != 4 {
		t.Fatalf("refused messages counted: %v; want 4", n)
	}
}

// operatorDir is where the tests' certificates are.
func operatorDir() string { return filepath.Dir(operator.Files().CA) }

// waitCount waits until p's output holds text n times.
func waitCount(t *testing.T, p *proc, text string, n int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for strings.Count(p.out.String(), text) < n {
		p.out.mu.Lock()
		if p.out.written == nil {
			p.out.written = make(chan struct{})
		}
		ch := p.out.written
		p.out.mu.Unlock()
		if strings.Count(p.out.String(), text) >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: output never held %q %d times:\n%s", p.name, text, n, p.out.String())
		}
	}
}

// waitMetric waits until a sample of the master's /metrics reaches at
// least min, and returns it.
func waitMetric(t *testing.T, httpAddr, sample string, min float64) float64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v := metric(t, httpAddr, sample)
		if v >= min {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v after a minute, want at least %v", sample, v, min)
		}
		time.Sleep(100 * time.Millisecond) // a scrape's interval: /metrics has no long poll
	}
}

// metric reads one sample of the master's /metrics (0 when absent).
func metric(t *testing.T, httpAddr, sample string) float64 {
	t.Helper()
	resp, err := operatorClient(10 * time.Second).Get("https://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return 0
}

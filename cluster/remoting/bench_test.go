package remoting

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// benchChildEnv makes the test binary, run as a child, a sender node for
// BenchmarkRemoteThroughput: it sends the parent's counter as many
// messages as each line of its stdin says.
const benchChildEnv = "AGORA_BENCH_REMOTING_TARGET"

func init() {
	target := os.Getenv(benchChildEnv)
	if target == "" {
		return
	}
	quiet := slog.New(slog.DiscardHandler)
	src, err := security.FromEnv().Load(security.RoleAgent, quiet)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	n, err := Start(Config{Bind: "127.0.0.1:0", Logger: quiet, TLS: src, Insecure: src == nil})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	pid := actor.NewPID(target, "counter")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		count, _ := strconv.Atoi(in.Text())
		for i := range count {
			n.System.Root.Send(pid, &messages.AgentHeartbeat{AgentId: &messages.AgentID{Value: "m-1-A1"}, Seq: uint64(i), MasterEpoch: 1})
		}
	}
	os.Exit(0)
}

// counter counts heartbeats and closes done at the target.
type counter struct {
	n      atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func (c *counter) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*messages.AgentHeartbeat); ok {
		if c.n.Add(1) == c.target.Load() {
			c.done <- struct{}{}
		}
	}
}

// BenchmarkRemoteThroughput: one-way messages per second from one process
// to an actor in another over loopback TCP, with mutual TLS and without,
// in one run (a heartbeat-sized agora.v1 message; the receiving gate
// checks and stamps each). One op is one message.
func BenchmarkRemoteThroughput(b *testing.B) {
	for _, mode := range []string{"insecure", "mtls"} {
		b.Run(mode, func(b *testing.B) { benchThroughput(b, mode == "mtls") })
	}
}

func benchThroughput(b *testing.B, mtls bool) {
	quiet := slog.New(slog.DiscardHandler)
	cfg := Config{Bind: "127.0.0.1:0", Logger: quiet, Insecure: true}
	env := append(os.Environ(), security.EnvInsecure+"=true")
	if mtls {
		dir := b.TempDir()
		names := map[security.Role]string{security.RoleMaster: "bench", security.RoleAgent: "bench"}
		if _, err := security.Bootstrap(dir, names, nil, time.Now()); err != nil {
			b.Fatal(err)
		}
		src, err := security.Options{Dir: dir}.Load(security.RoleMaster, quiet)
		if err != nil {
			b.Fatal(err)
		}
		cfg.TLS, cfg.Insecure = src, false
		env = append(os.Environ(), security.EnvDir+"="+dir)
	}
	n, err := Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Stop()
	c := &counter{done: make(chan struct{}, 1)}
	if _, err := n.System.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return c }), "counter"); err != nil {
		b.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	child.Env = append(env, benchChildEnv+"="+n.Address)
	stdin, _ := child.StdinPipe()
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = child.Wait() }()
	send := func(count int) {
		c.n.Store(0)
		c.target.Store(int64(count))
		fmt.Fprintln(stdin, count)
		select {
		case <-c.done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("%d of %d messages arrived", c.n.Load(), count)
		}
	}
	send(1000) // connect (and handshake) before timing
	b.ResetTimer()
	start := time.Now()
	send(b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

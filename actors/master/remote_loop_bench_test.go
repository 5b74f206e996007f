package master_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/allocation"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/scheduler"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
)

// The offer loop over real TCP: the master and the allocator in this
// process, the agents in a child process, the frameworks in another, each
// with a certificate of its role (or none, insecure). Each child is this
// test binary, told what to be by loopChildEnv.
const (
	loopChildEnv = "AGORA_BENCH_LOOP_CHILD" // agents:<master>:<n> or frameworks:<master>:<frameworks>:<tasks>
	loopAgents   = 100
	loopFws      = 10
	loopTasks    = 20_000
)

func init() {
	spec := os.Getenv(loopChildEnv)
	if spec == "" {
		return
	}
	parts := strings.Split(spec, ",")
	role := security.RoleAgent
	if parts[0] == "frameworks" {
		role = security.RoleFramework
	}
	src, err := security.FromEnv().Load(role, quiet)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	node, err := remoting.Start(remoting.Config{Bind: "127.0.0.1:0", Logger: quiet, TLS: src, Insecure: src == nil})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	masterPID := actor.NewPID(parts[1], master.Name)
	clock := clockwork.NewRealClock()
	switch parts[0] {
	case "agents":
		n, _ := strconv.Atoi(parts[2])
		res, _ := messages.ParseResources("cpus:32;mem:65536")
		for i := range n {
			node.System.Root.Spawn(agent.Props(agent.Config{
				Info: &messages.AgentInfo{Hostname: fmt.Sprintf("a%d", i), Resources: res}, Master: masterPID, Clock: clock, Logger: quiet,
				Containerizer: testkit.SimContainerizer{Clock: clock},
			}))
		}
		fmt.Println("agents started")
	case "frameworks":
		fws, _ := strconv.Atoi(parts[2])
		tasks, _ := strconv.Atoi(parts[3])
		var running atomic.Int64
		done := make(chan struct{})
		once := &sync.Once{}
		start := time.Now()
		for j := range fws {
			f := &flood{name: fmt.Sprintf("fw%d", j), queue: tasks / fws, task: scheduler.Resources("cpus:0.1;mem:128"),
				launchAt: map[string]time.Time{}, running: &running, target: int64(tasks), done: done, once: once}
			node.System.Root.Spawn(scheduler.Props(scheduler.Config{
				Master: masterPID, Info: frameworkInfo(f.name, fmt.Sprintf("role%d", j)), Clock: clock, Logger: quiet,
			}, f))
		}
		select {
		case <-done:
			fmt.Println("done", time.Since(start).Nanoseconds())
		case <-time.After(5 * time.Minute):
			fmt.Println("error: only", running.Load(), "tasks RUNNING")
		}
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent ends
	os.Exit(0)
}

// BenchmarkOffersOverTCP: tasks launched to RUNNING per second through
// the whole loop with every message between the master and the agents or
// frameworks crossing loopback TCP, with mutual TLS and without, in one
// run: 100 agents, 10 frameworks, 20,000 tasks a cluster. Each op runs one
// cluster of each kind, in alternating order, so that a busy machine
// slows both alike. Issue 14: TLS should cost no more than 15 % of tasks/s.
func BenchmarkOffersOverTCP(b *testing.B) {
	if testing.Short() {
		b.Skip("child processes over TCP")
	}
	tlsDir := testTLS(b)
	var plain, mtls float64
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			plain += offerLoopOverTCP(b, false, tlsDir)
			mtls += offerLoopOverTCP(b, true, tlsDir)
		} else {
			mtls += offerLoopOverTCP(b, true, tlsDir)
			plain += offerLoopOverTCP(b, false, tlsDir)
		}
	}
	b.ReportMetric(plain/float64(b.N), "tasks/s-insecure")
	b.ReportMetric(mtls/float64(b.N), "tasks/s-mtls")
	b.ReportMetric(100*(1-mtls/plain), "%-tls-cost")
}

func offerLoopOverTCP(b *testing.B, mtls bool, tlsDir string) float64 {
	b.StopTimer()
	cfg := remoting.Config{Bind: "127.0.0.1:0", Logger: quiet, Insecure: true}
	env := append(os.Environ(), security.EnvInsecure+"=true")
	if mtls {
		src, err := security.Options{Dir: tlsDir}.Load(security.RoleMaster, quiet)
		if err != nil {
			b.Fatal(err)
		}
		cfg.TLS, cfg.Insecure = src, false
		env = append(os.Environ(), security.EnvDir+"="+tlsDir)
	}
	node, err := remoting.Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer node.Stop()
	clock := clockwork.NewRealClock()
	info := &messages.MasterInfo{Id: "m", Address: node.Address, Epoch: 1, Pid: actor.NewPID(node.Address, master.Name)}
	pol, _ := policy.New("drf", policy.Options{Seed: 1})
	alloc, err := node.System.Root.SpawnNamed(allocation.Props(allocation.Config{
		Policy: pol, Master: info.Pid, Clock: clock, Logger: quiet, Interval: time.Second,
	}), allocation.Name)
	if err != nil {
		b.Fatal(err)
	}
	pub := &master.Publisher{}
	if _, err := node.System.Root.SpawnNamed(master.Props(master.Config{
		Info: info, Clock: clock, Logger: quiet, Publisher: pub, Metrics: master.NewMetrics(prometheus.NewRegistry()), Allocator: alloc,
		Liveness: master.LivenessPolicy{MinInterval: 5 * time.Second, MaxRate: 500, MaxMisses: 3},
	}), master.Name); err != nil {
		b.Fatal(err)
	}
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	child := func(spec string) *bufio.Reader {
		cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
		cmd.Env = append(env, loopChildEnv+"="+spec)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		stops = append(stops, func() { _ = stdin.Close(); _ = cmd.Wait() })
		return bufio.NewReader(stdout)
	}
	child(fmt.Sprintf("agents,%s,%d", node.Address, loopAgents))
	for {
		changed := pub.Changed()
		if s := pub.Latest(); s != nil && len(s.State.Agents) == loopAgents {
			break
		}
		select {
		case <-changed:
		case <-time.After(time.Minute):
			b.Fatal("the agents did not all register")
		}
	}
	b.StartTimer()
	out := child(fmt.Sprintf("frameworks,%s,%d,%d", node.Address, loopFws, loopTasks))
	line, err := out.ReadString('\n')
	b.StopTimer()
	ns, ok := strings.CutPrefix(strings.TrimSpace(line), "done ")
	elapsed, perr := strconv.ParseInt(ns, 10, 64)
	if err != nil || !ok || perr != nil {
		b.Fatalf("frameworks child: %q %v", line, err)
	}
	return float64(loopTasks) / time.Duration(elapsed).Seconds()
}

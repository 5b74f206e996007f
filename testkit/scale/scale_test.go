package scale_test

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/consultest"
	"github.com/agora-sched/agora/cluster/hugepages"
	"github.com/agora-sched/agora/testkit/scale"
)

// agoraBin is the agora binary the master runs as: AGORA_SCALE_BIN, or one
// built for these tests.
var agoraBin string

func TestMain(m *testing.M) {
	scale.RunChildIfAsked()
	flag.Parse()
	code := func() int {
		if testing.Short() || !wantsProcesses() {
			return m.Run()
		}
		agoraBin = os.Getenv("AGORA_SCALE_BIN")
		if agoraBin == "" {
			dir, err := os.MkdirTemp("", "agora-scale-bin")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			agoraBin = filepath.Join(dir, "agora")
			build := exec.Command("go", "build", "-o", agoraBin, "../../cmd/agora")
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "building agora for the scale harness:", err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// wantsProcesses: a run that will start agora processes (not -short, and
// not a run that matches only other tests, such as -run '^$' without
// -bench).
func wantsProcesses() bool {
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "-test.run="); ok && v == "^$" {
			return hasBench()
		}
	}
	return true
}

func hasBench() bool {
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "-test.bench="); ok && v != "" && v != "^$" {
			return true
		}
	}
	return false
}

// hostMode is the host's THP mode as the report must name it.
func hostMode(t *testing.T) string {
	mode, err := hugepages.HostMode()
	if err != nil {
		t.Logf("the host's THP mode: %v", err)
		return "unknown"
	}
	return mode
}

// TestTCPScaleSmall: the harness end to end on a small cluster, as in
// production: mutual TLS, two masters elected through a real Consul: 50
// simulated agents in two processes (each process one agent-host
// certificate), 4 frameworks in two more, over loopback TCP. Every agent
// registers, every task reaches RUNNING, every figure of the report was
// measured, and after the leader's SIGKILL the standby has every agent,
// task and framework back.
func TestTCPScaleSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agora, Consul and child processes over TCP; make test runs it")
	}
	rep, err := scale.Run(scale.Config{
		Agora: agoraBin, WorkDir: t.TempDir(), Consul: consultest.Start(t),
		Agents: 50, AgentHosts: 2, Frameworks: 4, FrameworkHosts: 2, Tasks: 200,
		Pollers: 4, PollFor: time.Second, EchoMessages: 10_000, EchoRounds: 3, FirstOfferSamples: 20,
		Logf: t.Logf, Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.Print(&b)
	t.Log("\n" + b.String())
	checks := []struct {
		what string
		ok   bool
	}{
		{"mutual TLS", rep.TLS},
		{"the host's THP mode named as the host says", rep.HostTHP == hostMode(t)},
		{"registration measured", rep.Registration > 0},
		{"tasks/s measured", rep.TasksPerSecond > 0 && rep.TaskPhase > 0},
		{"a first offer for every framework", rep.FirstOffers == 4},
		// One framework at a time on the idle cluster: each sample's
		// offer came (the probe fails the run otherwise) after its
		// predecessor's teardown was confirmed.
		{"idle first offers measured", rep.IdleFirstOffers == 20 && rep.IdleFirstOfferP50 > 0 && rep.IdleFirstOfferP99 >= rep.IdleFirstOfferP50 &&
			rep.IdleFirstOfferMax >= rep.IdleFirstOfferP99 && rep.IdleFirstOfferCold > 0 && rep.IdleSubscribedP99 > 0 && rep.IdleSubscribedP99 <= rep.IdleFirstOfferMax},
		{"master CPU and RSS read", rep.MasterCPUTasks >= 0 && rep.MasterRSS > rep.MasterRSSBase/2 && rep.MasterRSS > 0},
		{"master socket bytes counted", rep.MasterIOBytes > 0},
		{"/state polled", rep.StatePolls > 0 && rep.StateBytes > 0},
		{"/state gzip-compressed for Go's client", rep.StateGzip == rep.StatePolls && rep.StateWireBytes < int64(rep.StatePolls*rep.StateBytes)},
		// Batches carry several facts per message: the facts are what
		// every task needs, whatever the batching.
		{"facts counted at the peers (at least run, update, forward, ack per task)", rep.AgoraFacts >= 4*int64(rep.Tasks) && rep.AgoraMessages > 0},
		{"messages counted by type", rep.MessageKinds["agora.v1.Accept"] > 0},
		// An accept of several tasks on one agent reaches it as one
		// message (the master's outbox).
		{"launches batched per agent", rep.MessageKinds["agora.v1.RunTasks"] > 0},
		{"echo measured, plaintext and TLS", rep.EchoMessageRate > 0 && rep.Ratio > 0 && rep.EchoTLSMessageRate > 0 && rep.FactRatioTLS > 0},
		{"the machine's speed read at the start and before the echo", rep.Calibration > 0 && rep.CalibrationEcho > 0},
		// Left running, the cluster took half the machine from the
		// echo, and the ratio read twice what it was.
		{"the echo ran with every process of the cluster gone", rep.EchoAlone},
		{"echo in 3 rounds each, its rate their median", len(rep.EchoRounds) == 3 && len(rep.EchoTLSRounds) == 3 &&
			rep.EchoMessageRate >= slices.Min(rep.EchoRounds) && rep.EchoMessageRate <= slices.Max(rep.EchoRounds)},
		{"the other processes' CPU read", rep.AgentHostsCPUTasks >= 0 && rep.FrameworksCPUTasks > 0},
		{"the peers' bound on the ratio printed, on the machine's cores", rep.Cores == runtime.NumCPU() &&
			strings.Contains(b.String(), fmt.Sprintf("on %d cores they alone could carry at most", rep.Cores)) &&
			strings.Contains(b.String(), fmt.Sprintf("the master alone on %d cores, its peers elsewhere: at most", rep.Cores))},
		{"the pollers' own bound on /state back to back printed", strings.Contains(b.String(), fmt.Sprintf("back to back on %d cores, the pollers' own CPU alone puts the mean at", rep.Cores))},
		{"one failover", len(rep.Rebuilds) == 1},
	}
	for _, rb := range rep.Rebuilds {
		checks = append(checks, []struct {
			what string
			ok   bool
		}{
			{"a new epoch elected", rb.Epoch > 0 && rb.Elected > 0},
			{"every agent, task and framework back, after the election", rb.Agents >= rb.Elected && rb.Tasks > 0 && rb.Frameworks > 0 && rb.Done >= rb.Agents},
			{"every agent re-registered once at least", rb.Reregistrations >= 50 && rb.AgentMax > 0},
			// The spread is 500 ms: the wait it adds is excluded.
			{"the re-registrations timed from their sends too, the wait excluded", rb.SentMax > 0 && rb.SentP50 < rb.AgentP50},
			{"the hosts saw the new leader after the SIGKILL and before every agent was back", rb.SeenFirst > 0 && rb.SeenFirst <= rb.SeenLast && rb.SeenLast < rb.Agents},
		}...)
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: no; report %+v", c.what, rep)
		}
	}
}

// BenchmarkTCPScale is the harness at the size the environment asks for
// (make scale; defaults 1,000 agents, 50 frameworks of 1,000 tasks):
//
//	AGORA_SCALE_AGENTS, AGORA_SCALE_AGENT_HOSTS, AGORA_SCALE_FRAMEWORKS,
//	AGORA_SCALE_FRAMEWORK_HOSTS, AGORA_SCALE_TASKS (per framework),
//	AGORA_SCALE_POLL (how long /state is polled), AGORA_SCALE_POLL_EVERY
//	(each poller once per this, e.g. 1s, as a dashboard; back to back by
//	default), AGORA_SCALE_INSECURE=1
//	(plaintext; mutual TLS by default), AGORA_SCALE_POLL_IDENTITY=1 (the
//	pollers refuse gzip), AGORA_SCALE_POLL_ETAG=1 (they send If-None-Match),
//	AGORA_SCALE_POLL_SUMMARY=1 (they read /state/summary), AGORA_SCALE_FAILOVERS (leader
//	SIGKILLs of the rebuild phase, 1 by default; 0: one master, no Consul,
//	no rebuild), AGORA_SCALE_SPREAD (agents' re-registration spread,
//	500ms by default; 0 for none), AGORA_SCALE_PROFILE (the master's CPU
//	profile), AGORA_SCALE_CHILD_PROFILE (a prefix: each child process
//	writes its CPU profile to <prefix>.<kind>.<pid>), AGORA_SCALE_SUPPRESS=1
//	(frameworks suppress offers once their queue is launched),
//	AGORA_SCALE_FIRST_OFFERS (frameworks subscribing one at a time to the
//	idle cluster, 200 by default; -1 for none), AGORA_SCALE_ECHO_ROUNDS
//	(5 by default), AGORA_SCALE_ECHO_MESSAGES (round trips of all rounds
//	together; -1 for no echo), AGORA_SCALE_MASTER_CPUS (a CPU list such
//	as 0: the masters run there and everything else on the other CPUs, as
//	if the master had a machine of its own), AGORA_SCALE_BIN. The masters
//	inherit the environment: AGORA_STANDBY_WARM_HEAP=800MB (agora node
//	--standby-warm-heap) gives each standby a warm heap, and the report
//	says so.
//
// Each op is one whole run; figures are of the last.
func BenchmarkTCPScale(b *testing.B) {
	if testing.Short() {
		b.Skip("starts agora and child processes over TCP")
	}
	num := func(name string) int { n, _ := strconv.Atoi(os.Getenv(name)); return n }
	poll, _ := time.ParseDuration(os.Getenv("AGORA_SCALE_POLL"))
	pollEvery, _ := time.ParseDuration(os.Getenv("AGORA_SCALE_POLL_EVERY"))
	cfg := scale.Config{
		Agora: agoraBin, Agents: num("AGORA_SCALE_AGENTS"), AgentHosts: num("AGORA_SCALE_AGENT_HOSTS"),
		Frameworks: num("AGORA_SCALE_FRAMEWORKS"), FrameworkHosts: num("AGORA_SCALE_FRAMEWORK_HOSTS"), Tasks: num("AGORA_SCALE_TASKS"),
		PollFor: poll, PollEvery: pollEvery, PollIdentity: os.Getenv("AGORA_SCALE_POLL_IDENTITY") != "", PollETag: os.Getenv("AGORA_SCALE_POLL_ETAG") != "",
		PollSummary: os.Getenv("AGORA_SCALE_POLL_SUMMARY") != "",
		Insecure:    os.Getenv("AGORA_SCALE_INSECURE") != "", CPUProfile: os.Getenv("AGORA_SCALE_PROFILE"),
		MasterCPUs:        os.Getenv("AGORA_SCALE_MASTER_CPUS"),
		SuppressIdle:      os.Getenv("AGORA_SCALE_SUPPRESS") != "",
		FirstOfferSamples: num("AGORA_SCALE_FIRST_OFFERS"), EchoRounds: num("AGORA_SCALE_ECHO_ROUNDS"),
		EchoMessages: num("AGORA_SCALE_ECHO_MESSAGES"),
		Logf:         b.Logf, Timeout: 10 * time.Minute,
	}
	if f, ok := os.LookupEnv("AGORA_SCALE_FAILOVERS"); !ok || f != "0" {
		cfg.Consul, cfg.Failovers = consultest.Start(b), num("AGORA_SCALE_FAILOVERS")
	}
	if s, ok := os.LookupEnv("AGORA_SCALE_SPREAD"); ok {
		spread, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("AGORA_SCALE_SPREAD: %v", err)
		}
		cfg.ReregisterSpread = cmp.Or(spread, -1) // 0: none
	}
	var rep scale.Report
	for i := 0; i < b.N; i++ {
		var err error
		if rep, err = scale.Run(cfg); err != nil {
			b.Fatal(err)
		}
	}
	rep.Print(os.Stdout)
	b.ReportMetric(rep.Registration.Seconds(), "s-registration")
	b.ReportMetric(rep.TasksPerSecond, "tasks/s")
	b.ReportMetric(100*rep.StealTasks, "%-steal-tasks")
	b.ReportMetric(float64(rep.Calibration.Microseconds())/1000, "ms-calibration")
	// Issue 18's first offer (one framework, idle cluster); the task
	// phase's, 50 frameworks subscribing at once, apart.
	b.ReportMetric(float64(rep.IdleFirstOfferP99.Microseconds())/1000, "ms-first-offer-idle-p99")
	b.ReportMetric(float64(rep.FirstOfferP99.Microseconds())/1000, "ms-first-offer-busy-p99")
	b.ReportMetric(rep.RSSPerAgent()/1024, "KiB-rss/agent")
	b.ReportMetric(float64(rep.MasterIOBytes)/float64(rep.Tasks), "B/task")
	b.ReportMetric(float64(rep.StateP99.Microseconds())/1000, "ms-state-p99")
	b.ReportMetric(float64(rep.StateHeadersP99.Microseconds())/1000, "ms-state-headers-p99")
	b.ReportMetric(float64(rep.HeartbeatP99.Microseconds())/1000, "ms-heartbeat-p99")
	b.ReportMetric(rep.Ratio, "x-echo")
	if rep.RatioTLS > 0 {
		b.ReportMetric(rep.RatioTLS, "x-echo-tls")
		b.ReportMetric(rep.FactRatioTLS, "x-echo-tls-facts")
	}
	b.ReportMetric(rep.FactRatio, "x-echo-facts")
	if len(rep.Rebuilds) > 0 {
		done, agent := rep.RebuildMax()
		b.ReportMetric(done.Seconds(), "s-rebuild-max")
		b.ReportMetric(agent.Seconds(), "s-rereg-agent-max")
	}
}

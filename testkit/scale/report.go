package scale

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Report is what one run measured.
type Report struct {
	Agents, AgentHosts         int
	Frameworks, FrameworkHosts int
	Tasks                      int
	TLS                        bool
	// HugePages: the master and agent hosts advised their heaps for huge
	// pages (AGORA_HUGE_PAGES, agora node --huge-pages); HostTHP is the
	// host's mode. Both change the CPU a heap's growth costs, so runs
	// compare only where they agree (docs/benchmarks.md, session 15).
	HugePages bool
	HostTHP   string
	// StandbyWarmHeap is what the standbys held warm for their next term
	// (AGORA_STANDBY_WARM_HEAP, agora node --standby-warm-heap; "" none).
	StandbyWarmHeap string
	// Cores is the machine's CPU count (runtime.NumCPU): the master,
	// the agent hosts and the frameworks all run on them, unless
	// Config.MasterCPUs pinned the masters to MasterCPUs and the rest to
	// PeerCPUs (PeerCores of them).
	Cores                int
	MasterCPUs, PeerCPUs string
	PeerCores            int

	// Registration: from the first agent spawned to the last one
	// registered (clocks of processes on one machine agree).
	Registration time.Duration
	// TaskPhase: from the first task launched to the last RUNNING.
	TaskPhase      time.Duration
	TasksPerSecond float64
	// FirstOffer ("busy"): from a framework's FrameworkSubscribed to its
	// first offer in the task phase, one sample per framework: all of them
	// subscribing at once into a cluster the first ones already hold and
	// launch on, so most wait for others' declines. Not issue 18's figure.
	FirstOffers                                                int
	FirstOfferMin, FirstOfferP50, FirstOfferP99, FirstOfferMax time.Duration
	// IdleFirstOffer: issue 18's figure, as BenchmarkFirstOffer: one
	// framework at a time subscribing to the idle cluster (every agent
	// free), from its scheduler actor's spawn (the subscription sent) to
	// its first offer; IdleSubscribed from its FrameworkSubscribed. Over
	// IdleFirstOffers samples on a connection already made;
	// IdleFirstOfferCold is the sample before them, which made it.
	IdleFirstOffers                                         int
	IdleFirstOfferP50, IdleFirstOfferP99, IdleFirstOfferMax time.Duration
	IdleSubscribedP50, IdleSubscribedP99                    time.Duration
	IdleFirstOfferCold                                      time.Duration
	// IdleOverTarget is how many of the samples took over issue 18's 5 ms.
	IdleOverTarget int

	// The master process, from /proc: CPU time spent in each phase, RSS
	// before any agent and once all registered, and bytes through its
	// read and write syscalls (its sockets: it logs at warn and writes no
	// files) during the task phase.
	MasterCPURegistration, MasterCPUTasks, MasterCPUPoll time.Duration
	MasterRSSBase, MasterRSS                             uint64
	MasterIOBytes                                        uint64

	// /state under Pollers concurrent pollers for PollFor, and heartbeat
	// answers (sent to acknowledged, at the agents) meanwhile.
	Pollers                int
	PollFor                time.Duration
	PollEvery              time.Duration // 0: back to back
	PollSummary            bool          // the pollers read /state/summary
	StatePolls, StateBytes int
	// StateGzip answers came gzip-compressed, StateNotModified were 304
	// (pollers sending If-None-Match); StateWireBytes the pollers read
	// from their sockets in all; PollerCPU the harness process's CPU
	// meanwhile (the pollers' reading, decryption and decompression).
	StateGzip, StateNotModified              int
	StateWireBytes                           int64
	PollerCPU                                time.Duration
	StateP50, StateP99, StateMax             time.Duration
	Heartbeats                               int
	HeartbeatP50, HeartbeatP99, HeartbeatMax time.Duration

	// StateHeadersP50 and StateHeadersP99 end at a poll's answer headers:
	// the master's part of it, without the body's transfer and the
	// poller's decoding.
	StateHeadersP50, StateHeadersP99 time.Duration

	// AgoraMessages the master exchanged with its peers during the task
	// phase (counted at the peers, both directions), per second; the bare
	// proto.actor echo's messages per second on the same loopback; Ratio
	// the first over the second.
	// Each message is counted once in both rates (the echo's round trip
	// is two), and both are per-message, whatever a message carries.
	// EchoTLSMessageRate is the same echo over mutual TLS (runs with TLS
	// only), RatioTLS Agora's rate over it: the same transport as Agora's.
	AgoraMessages    int64
	AgoraMessageRate float64
	// AgoraFacts is what those messages carried: a batch counts its items
	// (see wire.facts); FactRatio and FactRatioTLS are its rate over the
	// echoes' (whose every message is one StatusUpdate).
	AgoraFacts              int64
	AgoraFactRate           float64
	FactRatio, FactRatioTLS float64
	// MessageKinds splits AgoraMessages by type (protobuf full name).
	MessageKinds map[string]int64
	// The other processes' CPU in the task phase: the agent hosts', and
	// the framework hosts' from their start (subscriptions included).
	AgentHostsCPUTasks, FrameworksCPUTasks time.Duration
	// EchoRounds are each echo round's rate; EchoMessageRate is their
	// median (the same for TLS).
	EchoRounds, EchoTLSRounds []float64
	EchoMessageRate           float64
	Ratio                     float64
	EchoTLSMessageRate        float64
	RatioTLS                  float64
	// EchoAlone is true when every process of the cluster had exited
	// before the echo started, so that it ran on the machine alone.
	EchoAlone bool

	// Rebuilds are the failovers of the rebuild phase (with Consul).
	Rebuilds []Rebuild

	// StealTasks, StealPoll and StealEcho are the shares of the
	// machine's CPU time the hypervisor stole during the task phase, the
	// polls and the echo (/proc/stat): on a busy host the same binary
	// reads half as fast, and the echo, run last, may lose more than the
	// task phase did, which moves the ratio with no change in Agora.
	StealTasks, StealPoll, StealEcho float64
	// Calibration is the machine's speed at the start of the run:
	// calibrationRounds protobuf round trips on one goroutine;
	// CalibrationEcho the same just before the echo.
	Calibration, CalibrationEcho time.Duration
}

// RebuildMax is the longest rebuild (SIGKILL to every agent, task and
// framework back at the new leader) and the longest single agent's
// re-registration, over the failovers.
func (r Report) RebuildMax() (done, agent time.Duration) {
	for _, rb := range r.Rebuilds {
		done, agent = max(done, rb.Done), max(agent, rb.AgentMax)
	}
	return done, agent
}

// RSSPerAgent is the master's resident memory per registered agent.
func (r Report) RSSPerAgent() float64 {
	return float64(r.MasterRSS-min(r.MasterRSSBase, r.MasterRSS)) / float64(r.Agents)
}

// Print writes the report as a table.
func (r Report) Print(w io.Writer) {
	tls := "mutual TLS"
	if !r.TLS {
		tls = "insecure (plaintext)"
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	fmt.Fprintf(w, "TCP scale: %d agents in %d processes, %d frameworks in %d processes, %d tasks, %s\n", r.Agents, r.AgentHosts, r.Frameworks, r.FrameworkHosts, r.Tasks, tls)
	pages := "off"
	if r.HugePages {
		pages = "on"
	}
	fmt.Fprintf(w, "  heap huge pages                 %s (host THP mode %s; AGORA_HUGE_PAGES=false turns them off for the master and agent hosts)\n", pages, r.HostTHP)
	if len(r.Rebuilds) > 0 {
		warm := "none (AGORA_STANDBY_WARM_HEAP=800MB gives each standby 800 MB written for its next term)"
		if r.StandbyWarmHeap != "" {
			warm = r.StandbyWarmHeap + " (AGORA_STANDBY_WARM_HEAP)"
		}
		fmt.Fprintf(w, "  standby warm heap               %s\n", warm)
	}
	if r.MasterCPUs != "" {
		fmt.Fprintf(w, "  CPUs                            masters on %s; the harness, agent hosts, frameworks and pollers on %s (AGORA_SCALE_MASTER_CPUS); the echo on all %d\n", r.MasterCPUs, r.PeerCPUs, r.Cores)
	} else {
		fmt.Fprintf(w, "  CPUs                            all %d shared by every process (AGORA_SCALE_MASTER_CPUS=0 gives the masters CPU 0 alone)\n", r.Cores)
	}
	fmt.Fprintf(w, "  registration of all agents      %v (master CPU %v)\n", r.Registration.Round(time.Millisecond), r.MasterCPURegistration)
	fmt.Fprintf(w, "  tasks launched to RUNNING       %.0f tasks/s (%d in %v; master CPU %v, %.0f%% of one core)\n",
		r.TasksPerSecond, r.Tasks, r.TaskPhase.Round(time.Millisecond), r.MasterCPUTasks, 100*r.MasterCPUTasks.Seconds()/r.TaskPhase.Seconds())
	if r.IdleFirstOffers > 0 {
		fmt.Fprintf(w, "  first offer, idle cluster       p50 %s, p99 %s, max %s (%d frameworks one at a time, %d over 5 ms; from FrameworkSubscribed p50 %s, p99 %s; the first, connecting, %s)\n",
			ms(r.IdleFirstOfferP50), ms(r.IdleFirstOfferP99), ms(r.IdleFirstOfferMax), r.IdleFirstOffers, r.IdleOverTarget, ms(r.IdleSubscribedP50), ms(r.IdleSubscribedP99), ms(r.IdleFirstOfferCold))
	}
	fmt.Fprintf(w, "  first offer, busy (all at once) p50 %s, p99 %s, min %s, max %s (%d frameworks subscribing together into the task phase)\n",
		ms(r.FirstOfferP50), ms(r.FirstOfferP99), ms(r.FirstOfferMin), ms(r.FirstOfferMax), r.FirstOffers)
	fmt.Fprintf(w, "  master RSS                      %.1f MiB idle, %.1f MiB with the agents: %.1f KiB per agent\n",
		float64(r.MasterRSSBase)/(1<<20), float64(r.MasterRSS)/(1<<20), r.RSSPerAgent()/1024)
	fmt.Fprintf(w, "  master socket bytes per task    %.0f B (%d B read+written during the task phase)\n", float64(r.MasterIOBytes)/float64(r.Tasks), r.MasterIOBytes)
	pace := "back to back"
	if r.PollEvery > 0 {
		pace = "each every " + r.PollEvery.String()
	}
	path := "/state"
	if r.PollSummary {
		path = "/state/summary"
	}
	fmt.Fprintf(w, "  %s, %d pollers for %v (%s)     p50 %s, p99 %s, max %s (%d polls of %d B; master CPU %v)\n",
		path, r.Pollers, r.PollFor, pace, ms(r.StateP50), ms(r.StateP99), ms(r.StateMax), r.StatePolls, r.StateBytes, r.MasterCPUPoll)
	if r.StatePolls > 0 {
		fmt.Fprintf(w, "    to the answer's headers p50 %s, p99 %s (the master's part, without the body's transfer and decoding)\n",
			ms(r.StateHeadersP50), ms(r.StateHeadersP99))
		fmt.Fprintf(w, "    %d gzip, %d not modified; %.0f B read from the socket per poll; pollers' CPU %v (%.1f ms per poll)\n",
			r.StateGzip, r.StateNotModified, float64(r.StateWireBytes)/float64(r.StatePolls), r.PollerCPU,
			float64(r.PollerCPU.Microseconds())/1000/float64(r.StatePolls))
		if r.PollEvery == 0 && r.Cores > 0 {
			// Little's law: back to back, the pollers answer at most
			// cores/CPU-per-poll a second, so each waits for the others.
			perPoll := r.PollerCPU.Seconds() / float64(r.StatePolls)
			fmt.Fprintf(w, "    back to back on %d cores, the pollers' own CPU alone puts the mean at %s or more, whatever the master does (%d x %.1f ms / %d)\n",
				r.Cores, ms(time.Duration(float64(r.Pollers)*perPoll/float64(r.Cores)*float64(time.Second))), r.Pollers, perPoll*1000, r.Cores)
		}
	}
	fmt.Fprintf(w, "  heartbeat answers meanwhile     p50 %s, p99 %s, max %s (%d heartbeats)\n", ms(r.HeartbeatP50), ms(r.HeartbeatP99), ms(r.HeartbeatMax), r.Heartbeats)
	fmt.Fprintf(w, "  Agora messages (master's peers) %.0f msgs/s (%d in the task phase, %.1f per task)\n", r.AgoraMessageRate, r.AgoraMessages, float64(r.AgoraMessages)/float64(r.Tasks))
	fmt.Fprintf(w, "  facts they carried              %.0f/s (%d, %.1f per task; a batch counts its items)\n", r.AgoraFactRate, r.AgoraFacts, float64(r.AgoraFacts)/float64(r.Tasks))
	if len(r.MessageKinds) > 0 {
		names := slices.Collect(maps.Keys(r.MessageKinds))
		slices.SortFunc(names, func(a, b string) int { return cmp.Compare(r.MessageKinds[b], r.MessageKinds[a]) })
		fmt.Fprintf(w, "    per task:")
		for _, name := range names[:min(len(names), 8)] {
			fmt.Fprintf(w, " %s %.2f", strings.TrimPrefix(name, "agora.v1."), float64(r.MessageKinds[name])/float64(r.Tasks))
		}
		fmt.Fprintln(w)
	}
	if r.AgentHostsCPUTasks > 0 || r.FrameworksCPUTasks > 0 {
		us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(r.Tasks) }
		fmt.Fprintf(w, "  CPU per task, task phase        master %.1f us, agent hosts %.1f us, frameworks %.1f us (%v, %v, %v)\n",
			us(r.MasterCPUTasks), us(r.AgentHostsCPUTasks), us(r.FrameworksCPUTasks), r.MasterCPUTasks, r.AgentHostsCPUTasks, r.FrameworksCPUTasks)
	}
	if r.AgoraFacts > 0 && r.Cores > 0 && (r.AgentHostsCPUTasks > 0 || r.FrameworksCPUTasks > 0) {
		// What the harness's own peers cost bounds the ratio to the echo
		// before the master does anything: on one machine they share
		// its cores (docs/benchmarks.md, session 16).
		perFact := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 / float64(r.AgoraFacts) }
		peers := perFact(r.AgentHostsCPUTasks + r.FrameworksCPUTasks)
		bound := float64(r.PeerCores) * 1e6 / peers
		fmt.Fprintf(w, "  CPU per fact, task phase        master %.2f us, agent hosts and frameworks %.2f us: on %d cores they alone could carry at most %.0f facts/s",
			perFact(r.MasterCPUTasks), peers, r.PeerCores, bound)
		if r.EchoMessageRate > 0 {
			fmt.Fprintf(w, " (%.2fx the echo)", bound/r.EchoMessageRate)
		}
		fmt.Fprintln(w)
		if master := perFact(r.MasterCPUTasks); master > 0 {
			// The other side of the same bound: with its peers on other
			// machines, as in a cluster, the master has the cores alone.
			alone := float64(r.Cores) * 1e6 / master
			fmt.Fprintf(w, "    the master alone on %d cores, its peers elsewhere: at most %.0f facts/s", r.Cores, alone)
			if r.EchoMessageRate > 0 {
				fmt.Fprintf(w, " (%.2fx the echo)", alone/r.EchoMessageRate)
			}
			fmt.Fprintln(w)
		}
	}
	for i, rb := range r.Rebuilds {
		fmt.Fprintf(w, "  failover %d (epoch %d)            SIGKILL to elected %v; to every agent %v, every task %v, every framework %v (master CPU %v)\n",
			i+1, rb.Epoch, rb.Elected.Round(time.Millisecond), rb.Agents.Round(time.Millisecond), rb.Tasks.Round(time.Millisecond), rb.Frameworks.Round(time.Millisecond), rb.MasterCPU)
		fmt.Fprintf(w, "    agent hosts saw the new leader in Consul %v to %v after the SIGKILL; by the end the new leader had %d re-registration retries, sent %d offers and took %d declines\n",
			rb.SeenFirst.Round(time.Millisecond), rb.SeenLast.Round(time.Millisecond), rb.Retries, rb.Offers, rb.Declines)
		fmt.Fprintf(w, "    per agent (leader seen to re-registered) p50 %s, p99 %s, max %s (%d re-registrations)\n", ms(rb.AgentP50), ms(rb.AgentP99), ms(rb.AgentMax), rb.Reregistrations)
		fmt.Fprintf(w, "    per agent (its first ReregisterAgent sent to re-registered) p50 %s, p99 %s, max %s\n", ms(rb.SentP50), ms(rb.SentP99), ms(rb.SentMax))
	}
	if r.EchoMessageRate > 0 {
		fmt.Fprintf(w, "  bare proto.actor echo           %.0f msgs/s (median of %s): Agora runs at %.2fx of it (messages), %.2fx (facts)\n", r.EchoMessageRate, rounds(r.EchoRounds), r.Ratio, r.FactRatio)
		if !r.EchoAlone {
			fmt.Fprintf(w, "    (the cluster was still running during the echo: the ratios do not hold)\n")
		}
	}
	if r.EchoTLSMessageRate > 0 {
		fmt.Fprintf(w, "  the same echo over mutual TLS   %.0f msgs/s (median of %s): Agora runs at %.2fx of it (messages), %.2fx (facts)\n", r.EchoTLSMessageRate, rounds(r.EchoTLSRounds), r.RatioTLS, r.FactRatioTLS)
	}
	if r.Calibration > 0 {
		fmt.Fprintf(w, "  machine speed at the start      %s for %d protobuf round trips of a status update (one goroutine): compare runs of like speed\n",
			ms(r.Calibration), calibrationRounds)
		if r.CalibrationEcho > 0 {
			fmt.Fprintf(w, "    and before the echo           %s (%.2fx the start's time: the ratios hold only near 1)\n",
				ms(r.CalibrationEcho), r.CalibrationEcho.Seconds()/r.Calibration.Seconds())
		}
	}
	if r.StealTasks > 0 || r.StealPoll > 0 || r.StealEcho > 0 {
		fmt.Fprintf(w, "  CPU stolen by the VM's host      %.1f%% in the task phase, %.1f%% while polling, %.1f%% during the echo: compare runs of like steal only\n",
			100*r.StealTasks, 100*r.StealPoll, 100*r.StealEcho)
	}
}

// percentiles returns p50, p99 and the maximum of ds (sorted in place).
func percentiles(ds []time.Duration) (p50, p99, maxd time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	at := func(p float64) time.Duration { return ds[min(len(ds)-1, int(float64(len(ds))*p))] }
	return at(0.50), at(0.99), ds[len(ds)-1]
}

// median is the middle of rates (the mean of the middle two for an even
// count); 0 for none. rates is not changed.
func median(rates []float64) float64 {
	if len(rates) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(rates))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// rounds says the echo rounds' rates and their spread.
func rounds(rates []float64) string {
	if len(rates) == 0 {
		return "no rounds"
	}
	parts := make([]string, len(rates))
	for i, r := range rates {
		parts[i] = fmt.Sprintf("%.0f", r)
	}
	lo, hi := slices.Min(rates), slices.Max(rates)
	return fmt.Sprintf("%d rounds: %s; spread %.0f-%.0f, %.2fx", len(rates), strings.Join(parts, ", "), lo, hi, hi/lo)
}

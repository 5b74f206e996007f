package main

// HA with real processes: a Consul dev agent (the server `make consul`
// builds), three masters electing a leader through it, three agents and the
// elastic example framework, all finding the leader with consul://.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/consultest"
	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/messages"
)

type haMaster struct {
	name string
	args []string
	p    *proc
	// http is the HTTP API address of the running process. A restart
	// binds new ports: agents, the framework and the other masters find
	// the leader through Consul, not at a fixed address.
	http string
}

func (m *haMaster) start(t testing.TB) {
	var ready readyInfo
	m.p, ready = startNode(t, m.name, m.args...)
	m.http = ready.HTTP
}

// haCluster is 3 masters, 3 agents and (startHA) one elastic framework.
type haCluster struct {
	consul, election string
	masters          []*haMaster
	framework        *proc
}

func startHA(t testing.TB, tasks int) *haCluster {
	t.Helper()
	c := startHAMasters(t)
	c.framework = startBin(t, elasticBin, "elastic", "--master", c.election, "--tasks", strconv.Itoa(tasks),
		"--command", "sleep 600", "--resources", "cpus:0.5;mem:64", "--failover-timeout", "1h")
	return c
}

// startHAMasters is the cluster of startHA without its framework.
func startHAMasters(t testing.TB) *haCluster {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	c := &haCluster{consul: consultest.Start(t)}
	c.election = "consul://" + c.consul + "/test-" + hex.EncodeToString(b)
	dir := workDir(t)
	for i := 0; i < 3; i++ {
		m := &haMaster{name: fmt.Sprintf("master-%d", i)}
		m.args = []string{"node", "--role=master", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, fmt.Sprintf("m%d", i)),
			"--election", c.election, "--allocation-interval", "200ms", "--standby-warm-heap", "16MB"}
		m.start(t)
		c.masters = append(c.masters, m)
	}
	for i := 0; i < 3; i++ {
		startNode(t, fmt.Sprintf("agent-%d", i), "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort,
			"--work-dir", filepath.Join(dir, fmt.Sprintf("a%d", i)), "--master", c.election, "--tls-dir", agentDir(t, fmt.Sprintf("agent-%d", i)),
			"--resources", "cpus:2;mem:2048;disk:1024")
	}
	return c
}

func (c *haCluster) leader(t testing.TB, not string) *messages.MasterInfo {
	t.Helper()
	spec, _ := leader.Parse(c.election)
	d, err := spec.Detector(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := leader.WaitFor(ctx, d, func(i *messages.MasterInfo) bool { return i.Id != not })
	if err != nil {
		t.Fatalf("no leader other than %q: %v", not, err)
	}
	return info
}

func (c *haCluster) byHTTP(addr string) *haMaster {
	for _, m := range c.masters {
		if m.http == addr {
			return m
		}
	}
	return nil
}

// offersSent reads agora_master_offers_total from a master's /metrics.
func offersSent(httpAddr string) float64 {
	resp, err := operatorClient(2 * time.Second).Get("https://" + httpAddr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "agora_master_offers_total" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

// allRunning: the framework keeps its tasks RUNNING on 3 reachable agents,
// and nothing is offered beyond what is free.
func allRunning(id string, tasks int) func(*messages.MasterState) bool {
	return func(st *messages.MasterState) bool {
		if len(st.Frameworks) != 1 || reachable(st) != 3 {
			return false
		}
		f := st.Frameworks[0]
		return f.Info.Id.Value == id && f.Connected && f.Tasks["TASK_RUNNING"] == uint32(tasks) && len(f.Tasks) == 1
	}
}

func checkNothingOfferedTwice(t testing.TB, st *messages.MasterState) {
	t.Helper()
	var total, taken float64
	for _, a := range st.Agents {
		for _, r := range a.Info.Resources {
			if r.Name == "cpus" {
				total += r.Scalar
			}
		}
		for _, r := range a.Used {
			if r.Name == "cpus" {
				taken += r.Scalar
			}
		}
	}
	for _, r := range st.Frameworks[0].Offered {
		if r.Name == "cpus" {
			taken += r.Scalar
		}
	}
	if taken > total+1e-9 {
		t.Fatalf("used plus offered cpus %.2f exceed the cluster's %.2f: something is offered twice", taken, total)
	}
}

// failovers SIGKILLs the leader kills times, each once the next leader
// serves, restarting the killed master as a standby, and returns the time
// from each SIGKILL to the new leader's first offer.
func failovers(t testing.TB, c *haCluster, kills, tasks int) []time.Duration {
	t.Helper()
	first := c.leader(t, "")
	st := waitState(t, first.HttpAddress, func(st *messages.MasterState) bool {
		return len(st.Frameworks) == 1 && st.Frameworks[0].Tasks["TASK_RUNNING"] == uint32(tasks) && reachable(st) == 3
	})
	id := st.Frameworks[0].Info.Id.Value
	var took []time.Duration
	prev := first
	for i := 0; i < kills; i++ {
		victim := c.byHTTP(prev.HttpAddress)
		start := time.Now()
		victim.p.signal(syscall.SIGKILL)
		<-victim.p.done
		next := c.leader(t, prev.Id)
		if next.Epoch <= prev.Epoch {
			t.Fatalf("new leader's epoch %d is not above the old one's %d", next.Epoch, prev.Epoch)
		}
		for offersSent(next.HttpAddress) == 0 {
			if time.Since(start) > 60*time.Second {
				t.Fatalf("the new leader %s sent no offer within 60 s", next.Id)
			}
			time.Sleep(10 * time.Millisecond) // polling another process's counter: there is no event to wait on
		}
		took = append(took, time.Since(start))
		st := waitState(t, next.HttpAddress, allRunning(id, tasks))
		checkNothingOfferedTwice(t, st)
		victim.start(t) // back as a standby
		prev = next
	}
	return took
}

// The acceptance test: SIGKILL the leader 5 times in a row; every
// task stays RUNNING (the framework's reconciliation says so), nothing is
// offered twice, the framework keeps its FrameworkID. Then a leader that
// is paused, replaced, and resumed cannot launch or kill anything.
func TestMasterFailoverWithConsul(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Consul and agora processes; make test runs it")
	}
	const tasks = 6
	c := startHA(t, tasks)
	took := failovers(t, c, 5, tasks)
	t.Logf("failover, SIGKILL of the leader to the new leader's first offer: %v", took)
	out := c.framework.out.String()
	if n := strings.Count(out, "TASK_RUNNING"); n < tasks {
		t.Fatalf("framework output shows %d RUNNING lines", n)
	}
	for _, bad := range []string{"TASK_LOST", "TASK_KILLED", "TASK_FAILED", "TASK_UNREACHABLE"} {
		if strings.Contains(out, bad) {
			t.Fatalf("the framework saw %s across failovers:\n%s", bad, out)
		}
	}
	if n := strings.Count(out, "reconciled"); n < 5*tasks {
		t.Fatalf("the framework reconciled %d tasks, want each of the %d confirmed after each of 5 failovers", n, tasks)
	}

	// Pause the leader; another takes over; resume the old one.
	old := c.leader(t, "")
	id := waitState(t, old.HttpAddress, func(st *messages.MasterState) bool { return len(st.Frameworks) == 1 }).Frameworks[0].Info.Id.Value
	paused := c.byHTTP(old.HttpAddress)
	paused.p.signal(syscall.SIGSTOP)
	next := c.leader(t, old.Id)
	waitState(t, next.HttpAddress, allRunning(id, tasks))
	paused.p.signal(syscall.SIGCONT)
	paused.p.out.waitFor(t, "lost leadership")
	after := waitState(t, next.HttpAddress, allRunning(id, tasks))
	checkNothingOfferedTwice(t, after)
	if strings.Contains(c.framework.out.String(), "TASK_KILLED") {
		t.Fatal("a task was killed after the deposed leader resumed")
	}
	// Each master stood by with its warm heap (--standby-warm-heap), and
	// the leader freed it for its term.
	for _, m := range c.masters {
		m.p.out.waitFor(t, "standing by with a warm heap for the next term")
	}
	c.byHTTP(next.HttpAddress).p.out.waitFor(t, "the warm heap is free for the term")
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
}

// BenchmarkFailover measures, with real processes, the time from SIGKILL of
// the leading master to the first offer by the new leader.
func BenchmarkFailover(b *testing.B) {
	const tasks = 6
	c := startHA(b, tasks)
	took := failovers(b, c, b.N, tasks)
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "ms-p50")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "ms-max")
	b.Logf("failovers: %v", took)
}

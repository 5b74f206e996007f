package main

import (
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// runQueue makes s a framework with endless demand, greedy as the
// elastic example is: from an offer it launches as many tasks of
// cpus:0.5;mem:512 running command as fit, and it acknowledges every
// update. It runs until the
// stream ends; the test's cleanup ends it.
func runQueue(t *testing.T, s *httpScheduler, command string) {
	var stopping atomic.Bool
	done := make(chan struct{})
	events := s.events
	t.Cleanup(func() {
		stopping.Store(true)
		s.body.Close()
		<-done
	})
	fail := func(err error) {
		if err != nil && !stopping.Load() {
			t.Errorf("framework %s: %v", s.info.GetName(), err)
		}
	}
	role := s.info.Roles[0]
	scalar := func(name string, v float64) *mesos.Resource {
		return &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)},
			AllocationInfo: &mesos.Resource_AllocationInfo{Role: proto.String(role)}}
	}
	go func() {
		defer close(done)
		n := 0
		for ev := range events {
			if st := ev.GetUpdate().GetStatus(); st != nil && len(st.Uuid) > 0 {
				fail(s.send(&sched.Call{Type: sched.Call_ACKNOWLEDGE.Enum(), Acknowledge: &sched.Call_Acknowledge{AgentId: st.AgentId, TaskId: st.TaskId, Uuid: st.Uuid}}))
			}
			// Every offer that fits is used, as a greedy framework does:
			// one declined with a filter would keep the role off that
			// agent for the filter's second, and its share low.
			for _, o := range ev.GetOffers().GetOffers() {
				if !fits(o, 0.5, 512) {
					fail(s.send(&sched.Call{Type: sched.Call_DECLINE.Enum(), Decline: &sched.Call_Decline{OfferIds: []*mesos.OfferID{o.Id},
						Filters: &mesos.Filters{RefuseSeconds: proto.Float64(1)}}}))
					continue
				}
				var tasks []*mesos.TaskInfo
				for cpus, mem := offered(o); cpus >= 0.5 && mem >= 512; cpus, mem = cpus-0.5, mem-512 {
					n++
					tasks = append(tasks, &mesos.TaskInfo{Name: proto.String("q"), TaskId: &mesos.TaskID{Value: proto.String(fmt.Sprintf("%s-%d", role, n))}, AgentId: o.AgentId,
						Command: &mesos.CommandInfo{Value: proto.String(command)}, Resources: []*mesos.Resource{scalar("cpus", 0.5), scalar("mem", 512)}})
				}
				fail(s.send(&sched.Call{Type: sched.Call_ACCEPT.Enum(), Accept: &sched.Call_Accept{OfferIds: []*mesos.OfferID{o.Id},
					Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH.Enum(), Launch: &mesos.Offer_Operation_Launch{TaskInfos: tasks}}},
					// What is left returns at once: another role may want it.
					Filters: &mesos.Filters{RefuseSeconds: proto.Float64(0)}}}))
			}
		}
	}()
}

func fits(o *mesos.Offer, cpus, mem float64) bool {
	c, m := offered(o)
	return c >= cpus && m >= mem
}

func offered(o *mesos.Offer) (cpus, mem float64) {
	for _, r := range o.Resources {
		switch r.GetName() {
		case "cpus":
			cpus += r.GetScalar().GetValue()
		case "mem":
			mem += r.GetScalar().GetValue()
		}
	}
	return cpus, mem
}

// dominantShares is each role's dominant share of the cluster's cpus and
// mem, by what its tasks use (/state's role_usage).
func dominantShares(st *messages.MasterState) map[string]float64 {
	total := map[string]float64{}
	for _, a := range st.Agents {
		for _, r := range a.Info.Resources {
			total[r.Name] += r.Scalar
		}
	}
	// A role's allocation is what its tasks use plus what it holds in
	// offers, as DRF counts it (Mesos' too): a framework slower to answer
	// (HTTP and TLS against a native one) holds its share as offers for
	// longer, and its tasks' share alone would read low.
	shares := map[string]float64{}
	for _, u := range st.RoleUsage {
		alloc := map[string]float64{}
		for _, r := range append(append([]*messages.Resource(nil), u.Used...), u.Offered...) {
			alloc[r.Name] += r.Scalar
		}
		for _, name := range []string{"cpus", "mem"} {
			if total[name] > 0 {
				shares[u.Role] = math.Max(shares[u.Role], alloc[name]/total[name])
			}
		}
	}
	return shares
}

// Two Mesos HTTP frameworks and a native one (the elastic example), in
// three roles of equal weight, share agora dev's one agent; each always
// wants more than a third of it. Their tasks end and are replaced, so the
// allocator keeps choosing who gets what frees up: DRF gives it to the
// role of lowest dominant share, and the three shares stay near a third.
func TestMesosAndNativeFrameworksShareByDRF(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, dev := startNode(t, "dev", "dev", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t),
		"--resources", "cpus:6;mem:6144;disk:1024")
	waitState(t, dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	// Each task sleeps 1 to 5 s, at random: tasks launched together end
	// apart, so what frees up comes in small parts, and DRF's choice of
	// who gets each part is what the shares show (with equal durations a
	// framework's whole batch ends at once and it wins it all back, being
	// at that moment the lowest).
	const command = `sleep $(( $(od -An -N1 -tu1 /dev/urandom) % 5 + 1 ))`
	// The native framework starts first and takes the whole agent: the
	// others get their shares only as its tasks end.
	elastic := startBin(t, elasticBin, "elastic", "--master", dev.Remoting, "--tasks", "10000", "--command", command,
		"--resources", "cpus:0.5;mem:512")
	elastic.out.waitFor(t, "TASK_RUNNING")
	for _, role := range []string{"web", "analytics"} {
		s := newHTTPScheduler(t, func() []string { return []string{dev.HTTP} }, &mesos.FrameworkInfo{
			User: proto.String("nobody"), Name: proto.String("queue-" + role), FailoverTimeout: proto.Float64(0),
			Roles: []string{role}, Capabilities: []*mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}})
		s.subscribe()
		runQueue(t, s, command)
	}

	// Once all three hold a share and the native framework no longer
	// holds the most of the agent it took first (averaging from the
	// moment the others got their first task counted that start against
	// them), average the shares over 24 s (8 lifetimes of a task), sampled
	// every 200 ms: a time average, since the state changes in bursts (a
	// framework launches a whole offer's worth at once).
	waitState(t, dev.HTTP, func(st *messages.MasterState) bool {
		sh := dominantShares(st)
		return sh["web"] > 0 && sh["analytics"] > 0 && sh["batch"] > 0 && sh["batch"] < 0.5
	})
	sum := map[string]float64{}
	samples := 0
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	client := operatorClient(5 * time.Second)
	for end := time.Now().Add(24 * time.Second); time.Now().Before(end); <-tick.C {
		resp, err := client.Get("https://" + dev.HTTP + "/state")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		st := &messages.MasterState{}
		if err := protojson.Unmarshal(body, st); err != nil {
			t.Fatalf("/state: %v", err)
		}
		for role, v := range dominantShares(st) {
			sum[role] += v
		}
		samples++
	}
	mean := map[string]float64{}
	for _, role := range []string{"web", "analytics", "batch"} {
		mean[role] = sum[role] / float64(samples)
	}
	t.Logf("mean dominant shares over %d samples: %v", samples, mean)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range mean {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	// One task is 0.5 of 6 cpus, a share of 0.083; a role's share dips
	// while a task of it ends and its replacement is offered and starts.
	// Runs here gave spreads of 0.00 to 0.02, the three summing to the
	// whole agent. When the unused part of an accept (here the agent's
	// disk, which no task uses) still carried a filter to the next batch,
	// a role that had just launched was kept off the agent: spreads were
	// 0.04 to 0.15 with a fifth of the agent idle, and a CI run failed.
	if hi-lo > 0.083 || lo < 0.25 {
		t.Fatalf("dominant shares %v: want each near 1/3 (spread below one task's 0.083; none below 0.25)", mean)
	}
}

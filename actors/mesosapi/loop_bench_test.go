package mesosapi_test

// Benchmarks of the scheduler API against a real master, allocator and
// 1,000 simulated agents in this process (testkit on the real clock), the
// API served by net/http on loopback, as `agora node` serves it (without
// TLS: what is measured is the API, not the handshake).

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/mesosapi"
	"github.com/agora-sched/agora/cluster/security"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"

	"github.com/agora-sched/agora/messages"
)

// apiCluster is a testkit cluster of agents agents of resources, with the
// scheduler API in front of its master; stop ends both.
func apiCluster(b *testing.B, agents int, resources string) (c *testkit.Cluster, url string, stop func()) {
	b.Helper()
	c, err := testkit.New(testkit.Options{Clock: clockwork.NewRealClock(), AgentResources: resources, OfferTimeout: -1,
		Liveness: &master.LivenessPolicy{MinInterval: 5 * time.Second, MaxRate: 500, MaxMisses: 3},
		Record: func(ev any) bool {
			switch ev.(type) {
			case agent.Registered, master.FrameworkRemoved:
				return true
			}
			return false
		}})
	if err != nil {
		b.Fatal(err)
	}
	sim := testkit.SimContainerizer{Clock: c.Clock}
	for range agents {
		c.AddAgent(testkit.AgentSpec{Containerizer: sim})
	}
	c.Events.WaitForCount(b, 0, agents, func(ev any) bool { _, ok := ev.(agent.Registered); return ok })
	url, stopAPI := serveAPI(c)
	return c, url, func() { stopAPI(); c.Stop() }
}

// serveAPI serves the scheduler API of c's master on loopback as `agora
// node` does (answers of pipelined calls held together), every caller a
// framework of principal "bench".
func serveAPI(c *testkit.Cluster) (url string, stop func()) {
	srv := mesosapi.New(mesosapi.Config{System: c.System, Master: func() *actor.PID { return c.Master }, Streams: mesosapi.Streams{Logger: slog.New(slog.DiscardHandler)},
		Authenticate: func(*http.Request) (security.Identity, error) {
			return security.Identity{Role: security.RoleFramework, Name: "bench"}, nil
		}})
	hs := httptest.NewUnstartedServer(srv)
	l := mesosapi.HoldAnswers{Listener: hs.Listener}
	hs.Listener, hs.Config.ConnContext = l, l.ConnContext
	hs.Start()
	return hs.URL + mesosapi.Path, func() { hs.CloseClientConnections(); hs.Close() }
}

var codecs = []mesosapi.Codec{mesosapi.ProtobufCodec, mesosapi.JSONCodec}

func codecName(c mesosapi.Codec) string { return c.MediaType[len("application/"):] }

// subscription is one framework's open stream.
type subscription struct {
	res    *http.Response
	stream string
	fid    *mesos.FrameworkID
	rr     *mesosapi.RecordReader
	codec  mesosapi.Codec
	url    string
	client *http.Client
}

func subscribe(client *http.Client, url string, codec mesosapi.Codec, info *mesos.FrameworkInfo) (*subscription, error) {
	body, err := codec.Marshal(&sched.Call{Type: sched.Call_SUBSCRIBE.Enum(), FrameworkId: info.Id, Subscribe: &sched.Call_Subscribe{FrameworkInfo: info}})
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.MediaType)
	req.Header.Set("Accept", codec.MediaType)
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("SUBSCRIBE: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("SUBSCRIBE answered %s", res.Status)
	}
	return &subscription{res: res, stream: res.Header.Get(mesosapi.StreamIDHeader), rr: mesosapi.NewRecordReader(res.Body, 64<<20),
		codec: codec, url: url, client: client}, nil
}

func (s *subscription) next() (*sched.Event, error) {
	rec, err := s.rr.Next()
	if err != nil {
		return nil, err
	}
	ev := &sched.Event{}
	return ev, s.codec.Unmarshal(rec, ev)
}

func (s *subscription) call(c *sched.Call) error { return s.callWant(c, http.StatusAccepted) }

// callWant sends a call and checks its answer's status.
func (s *subscription) callWant(c *sched.Call, want int) error {
	c.FrameworkId = s.fid
	body, err := s.codec.Marshal(c)
	if err != nil {
		return err
	}
	req, _ := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", s.codec.MediaType)
	req.Header.Set("Accept", s.codec.MediaType)
	req.Header.Set(mesosapi.StreamIDHeader, s.stream)
	res, err := s.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		return fmt.Errorf("%s answered %d; want %d", c.GetType(), res.StatusCode, want)
	}
	return nil
}

func pct(ds []time.Duration, p float64) float64 {
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, int(float64(len(ds))*p))].Microseconds()) / 1000
}

// BenchmarkSubscribeToOffers: a Mesos framework's SUBSCRIBE to its first
// OFFERS event on a 1,000-agent cluster with everything free; each op is
// one framework (failover_timeout 0: closing its stream removes it; the
// next op starts once it is gone). The first event holds 256 of the
// 1,000 offers (the master sends them 256 a message). Two figures per
// codec: p50-read-ms and p99-read-ms end when the client has read the
// event's whole record, before decoding it: the server's part, what the
// issue 15 target (p99 <= 10 ms) is judged on; p50-ms and p99-ms end when
// the client has also decoded it as a real client would (proto.Unmarshal,
// or protojson for JSON events), which is the client's own CPU.
func BenchmarkSubscribeToOffers(b *testing.B) {
	c, url, stop := apiCluster(b, 1000, "cpus:32;mem:65536")
	defer stop()
	client := &http.Client{}
	for _, codec := range codecs {
		b.Run(codecName(codec), func(b *testing.B) {
			var took, read []time.Duration
			var cpu time.Duration
			for i := range b.N {
				mark := c.Events.Mark()
				cpuBefore := cpuTime()
				start := time.Now()
				s, err := subscribe(client, url, codec, &mesos.FrameworkInfo{User: proto.String("nobody"), Name: proto.String(fmt.Sprintf("f%d", i)), Roles: []string{"r"},
					Capabilities: []*mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}})
				if err != nil {
					b.Fatal(err)
				}
				for {
					rec, err := s.rr.Next()
					if err != nil {
						b.Fatalf("the stream ended before an offer: %v", err)
					}
					got := time.Since(start)
					ev := &sched.Event{}
					if err := s.codec.Unmarshal(rec, ev); err != nil {
						b.Fatal(err)
					}
					if ev.GetType() == sched.Event_OFFERS {
						read = append(read, got)
						break
					}
				}
				took = append(took, time.Since(start))
				cpu += cpuTime() - cpuBefore
				b.StopTimer()
				s.res.Body.Close()
				c.Events.WaitForSince(b, mark, func(ev any) bool { _, ok := ev.(master.FrameworkRemoved); return ok })
				for _, barrier := range []struct {
					pid *actor.PID
					msg any
				}{{c.Master, &messages.GetState{}}, {c.Allocator, &messages.AllocatorSync{}}, {c.Master, &messages.GetState{}}} {
					if _, err := c.System.Root.RequestFuture(barrier.pid, barrier.msg, 10*time.Second).Result(); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			b.ReportMetric(pct(took, 0.5), "p50-ms")
			b.ReportMetric(pct(took, 0.99), "p99-ms")
			b.ReportMetric(pct(read, 0.5), "p50-read-ms")
			b.ReportMetric(pct(read, 0.99), "p99-read-ms")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkLaunchToRunning: tasks launched through the scheduler API and
// seen RUNNING (the UPDATE on the stream), per second. frameworks HTTP
// frameworks on 1,000 agents accept every offer with as many tasks as
// fit and acknowledge every update (a POST each, as Mesos requires) from
// a pool of goroutines; one op is 20,000 tasks. Two clients: ackers=http
// acknowledges with net/http's client from 16 goroutines per framework,
// one request at a time on each connection; ackers=pipelined writes the
// acknowledgements back to back on 2 kept-alive connections per framework
// and reads the answers in order (HTTP/1.1 pipelining, as libprocess'
// client does). The frameworks run in a
// child process (this test binary, told by floodChildEnv), so that the
// CPU of this process is the server's alone: server-cpu-us/task is the
// master, agents, allocator and API (getrusage of this process),
// client-cpu-us/task the frameworks' (the child's).
func BenchmarkLaunchToRunning(b *testing.B) {
	for _, codec := range codecs {
		for _, ackers := range []string{"http", "pipelined"} {
			b.Run(codecName(codec)+"/ackers="+ackers, func(b *testing.B) {
				var server, client time.Duration
				for range b.N {
					b.StopTimer()
					_, url, stop := apiCluster(b, floodAgents, "cpus:32;mem:65536")
					cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
					cmd.Env = append(os.Environ(), floodChildEnv+"="+url+","+codec.MediaType+","+ackers)
					cmd.Stderr = os.Stderr
					before := cpuTime()
					b.StartTimer()
					out, err := cmd.Output()
					b.StopTimer()
					server += cpuTime() - before
					if err != nil {
						b.Fatalf("the frameworks' process: %v: %s", err, out)
					}
					client += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
					ns, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "done ")
					elapsed, perr := strconv.ParseInt(ns, 10, 64)
					if !ok || perr != nil {
						b.Fatalf("the frameworks' process said %q", out)
					}
					b.ReportMetric(float64(floodTasks)/time.Duration(elapsed).Seconds(), "tasks/s")
					stop()
					b.StartTimer()
				}
				b.ReportMetric(float64(server.Microseconds())/float64(b.N*floodTasks), "server-cpu-us/task")
				b.ReportMetric(float64(client.Microseconds())/float64(b.N*floodTasks), "client-cpu-us/task")
			})
		}
	}
}

// The flood's frameworks, in a child process: floodChildEnv is
// "<url>,<media type>,<ackers>"; the child prints "done <ns>", the time
// from the first SUBSCRIBE to the last RUNNING, or the error.
const (
	floodChildEnv                                         = "AGORA_BENCH_MESOS_FLOOD"
	floodAgents, floodFrameworks, floodTasks, floodAckers = 1000, 10, 20_000, 16
	// floodPipes is the pipelined connections per framework.
	floodPipes = 2
)

func init() {
	spec := os.Getenv(floodChildEnv)
	if spec == "" {
		return
	}
	url, mediaType, _ := strings.Cut(spec, ",")
	mediaType, ackers, _ := strings.Cut(mediaType, ",")
	codec := mesosapi.ProtobufCodec
	if mediaType == mesosapi.MediaJSON {
		codec = mesosapi.JSONCodec
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, floodFrameworks)
	for f := range floodFrameworks {
		wg.Go(func() { errs <- runFlood(client, url, codec, f, floodTasks/floodFrameworks, ackers == "pipelined") })
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	fmt.Println("done", elapsed.Nanoseconds())
	os.Exit(0)
}

// cpuTime is this process's user and system CPU so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runFlood is one framework launching queue tasks of cpus:0.1;mem:128
// and returning once all are RUNNING.
func runFlood(client *http.Client, url string, codec mesosapi.Codec, n, queue int, pipelined bool) error {
	role := fmt.Sprintf("role%d", n)
	s, err := subscribe(client, url, codec, &mesos.FrameworkInfo{User: proto.String("nobody"), Name: proto.String(role), Roles: []string{role},
		Capabilities: []*mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}})
	if err != nil {
		return err
	}
	defer s.res.Body.Close()
	acks := make(chan *sched.Call, 4096)
	ackErr := make(chan error, floodAckers)
	var ackWG sync.WaitGroup
	if pipelined {
		for range floodPipes {
			p, err := newPipeline(s)
			if err != nil {
				return err
			}
			ackWG.Go(func() {
				if err := p.run(acks); err != nil {
					ackErr <- err
				}
			})
		}
	} else {
		for range floodAckers {
			ackWG.Go(func() {
				for a := range acks {
					if err := s.call(a); err != nil {
						ackErr <- err
						return
					}
				}
			})
		}
	}
	defer func() { close(acks); ackWG.Wait() }()
	scalar := func(name string, v float64) *mesos.Resource {
		return &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)},
			AllocationInfo: &mesos.Resource_AllocationInfo{Role: proto.String(role)}}
	}
	next, running := 0, 0
	for running < queue {
		select {
		case err := <-ackErr:
			return err
		default:
		}
		ev, err := s.next()
		if err != nil {
			return fmt.Errorf("framework %s: the stream ended with %d of %d RUNNING: %v", role, running, queue, err)
		}
		switch ev.GetType() {
		case sched.Event_SUBSCRIBED:
			s.fid = ev.GetSubscribed().GetFrameworkId()
		case sched.Event_OFFERS:
			for _, o := range ev.GetOffers().GetOffers() {
				var cpus, mem float64
				for _, r := range o.Resources {
					switch r.GetName() {
					case "cpus":
						cpus = r.GetScalar().GetValue()
					case "mem":
						mem = r.GetScalar().GetValue()
					}
				}
				var launch []*mesos.TaskInfo
				for ; next < queue && cpus >= 0.1-1e-9 && mem >= 128; cpus, mem = cpus-0.1, mem-128 {
					id := fmt.Sprintf("%s-%d", role, next)
					next++
					launch = append(launch, &mesos.TaskInfo{Name: proto.String(id), TaskId: &mesos.TaskID{Value: proto.String(id)}, AgentId: o.AgentId,
						Command: &mesos.CommandInfo{Value: proto.String("true")}, Resources: []*mesos.Resource{scalar("cpus", 0.1), scalar("mem", 128)}})
				}
				call := &sched.Call{Type: sched.Call_ACCEPT.Enum(), Accept: &sched.Call_Accept{OfferIds: []*mesos.OfferID{o.Id},
					Filters: &mesos.Filters{RefuseSeconds: proto.Float64(0)}}}
				if len(launch) > 0 {
					call.Accept.Operations = []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH.Enum(), Launch: &mesos.Offer_Operation_Launch{TaskInfos: launch}}}
				} else {
					call = &sched.Call{Type: sched.Call_DECLINE.Enum(), Decline: &sched.Call_Decline{OfferIds: []*mesos.OfferID{o.Id},
						Filters: &mesos.Filters{RefuseSeconds: proto.Float64(3600)}}}
				}
				if err := s.call(call); err != nil {
					return err
				}
			}
		case sched.Event_UPDATE:
			st := ev.GetUpdate().GetStatus()
			if st.GetState() == mesos.TaskState_TASK_RUNNING {
				running++
			}
			if len(st.Uuid) > 0 {
				acks <- &sched.Call{Type: sched.Call_ACKNOWLEDGE.Enum(), Acknowledge: &sched.Call_Acknowledge{AgentId: st.AgentId, TaskId: st.TaskId, Uuid: st.Uuid}}
			}
		}
	}
	return nil
}

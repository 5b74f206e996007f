package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/mesosapi"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// Mesos frameworks nobody here wrote, built from the Go module proxy
// (mesos-go v0.0.11, in the nested module testkit/mesosgo), run against
// agora dev through Mesos' v1 scheduler and executor APIs. mesos-go's
// frameworks speak plain HTTP only (msh builds http:// URLs;
// example-scheduler and example-executor have no flag for a client
// certificate or a CA), so the cluster runs --insecure.

var mesosGo struct {
	mu   sync.Mutex
	bins map[string]string
}

// mesosGoBin builds mesos-go's command name (api/v1/cmd/<name>) once.
func mesosGoBin(t *testing.T, name string) string {
	t.Helper()
	mesosGo.mu.Lock()
	defer mesosGo.mu.Unlock()
	if bin, ok := mesosGo.bins[name]; ok {
		return bin
	}
	bin := filepath.Join(filepath.Dir(agoraBin), "mesos-"+name)
	build := exec.Command("go", "build", "-o", bin, "github.com/mesos/mesos-go/api/v1/cmd/"+name)
	build.Dir = filepath.Join("..", "..", "testkit", "mesosgo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building mesos-go's %s: %v\n%s", name, err, out)
	}
	if mesosGo.bins == nil {
		mesosGo.bins = map[string]string{}
	}
	mesosGo.bins[name] = bin
	return bin
}

// waitExit waits (bounded) for a process to end and returns its exit code.
func waitExit(t *testing.T, p *proc, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("%s did not end within %v:\n%s", p.name, within, p.out.String())
		return -1
	}
}

func frameworkNamed(st *messages.MasterState, name string) *messages.FrameworkState {
	for _, f := range st.Frameworks {
		if f.Info.GetName() == name {
			return f
		}
	}
	return nil
}

func TestMesosFrameworksOnDev(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	msh, example := mesosGoBin(t, "msh"), mesosGoBin(t, "example-scheduler")
	_, dev := startNode(t, "dev", "dev", "--insecure", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	waitStateOf(t, "http", dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	// Three msh frameworks at once, each running one command task (as
	// nobody) that leaves a file: they share the agent, their tasks
	// finish, and msh exits 0 on TASK_FINISHED.
	out := searchable(t)
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	var shells []*proc
	for i := range 3 {
		shells = append(shells, startBin(t, msh, fmt.Sprintf("msh-%d", i), "-master", dev.HTTP, "-user", "nobody",
			"-framework_name", fmt.Sprintf("msh-%d", i), "--", "/bin/sh", "-c", `echo "ran $0" > "$1"`, fmt.Sprint(i), filepath.Join(out, fmt.Sprint(i))))
	}
	for i, p := range shells {
		if code := waitExit(t, p, 60*time.Second); code != 0 || !strings.Contains(p.out.String(), "TASK_FINISHED") {
			t.Fatalf("msh %d exited %d:\n%s", i, code, p.out.String())
		}
		b, err := os.ReadFile(filepath.Join(out, fmt.Sprint(i)))
		if err != nil || string(b) != fmt.Sprintf("ran %d\n", i) {
			t.Fatalf("msh %d's task left %q (%v)", i, b, err)
		}
	}
	// msh subscribes with Mesos' default failover_timeout, 0: each is
	// removed the moment its stream closes.
	waitStateOf(t, "http", dev.HTTP, func(st *messages.MasterState) bool { return len(st.Frameworks) == 0 })

	// mesos-go's example scheduler over JSON, with its own executor
	// (mesos-go's example-executor), which the agent fetches from the
	// scheduler's artifact server by URI and which speaks Mesos' v1
	// executor API: its five tasks finish ("mission accomplished"). Its
	// failover_timeout (1000h) keeps the framework, disconnected, once it
	// has exited.
	executor := mesosGoBin(t, "example-executor")
	ex := startBin(t, example, "example-scheduler", "-url", "http://"+dev.HTTP+"/api/v1/scheduler", "-codec", "json", "-user", "nobody",
		"-executor", executor, "-tasks", "5", "-cpu", "0.1", "-memory", "16", "-server.address", "127.0.0.1", "-metrics.port", "0")
	ex.out.waitFor(t, "mission accomplished")
	waitExit(t, ex, 30*time.Second)
	st := waitStateOf(t, "http", dev.HTTP, func(st *messages.MasterState) bool {
		f := frameworkNamed(st, "example")
		return f != nil && !f.Connected && !f.TearingDown
	})
	if f := frameworkNamed(st, "example"); f.Info.GetFailoverTimeoutNanos() != int64(1000*time.Hour) || f.Info.GetRoles()[0] != "*" {
		t.Fatalf("the example framework as the master holds it: %v", f.Info)
	}
}

// A Mesos framework over HTTPS with a framework certificate: its
// certificate's name is the framework's principal, it launches a command
// task, acknowledges its updates and sees it finish. Other certificates,
// or none, are refused as Mesos refuses them (403, 401).
func TestMesosSchedulerAPIOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	_, dev := startNode(t, "dev", "dev", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	waitState(t, dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	fwSrc, err := security.Options{Dir: filepath.Dir(operator.Files().CA)}.Load(security.RoleFramework, nil)
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + dev.HTTP + mesosapi.Path
	post := func(c *http.Client, streamID string, call *sched.Call) *http.Response {
		t.Helper()
		body, err := mesosapi.JSONCodec.Marshal(call)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", mesosapi.MediaJSON)
		req.Header.Set("Accept", mesosapi.MediaJSON)
		if streamID != "" {
			req.Header.Set(mesosapi.StreamIDHeader, streamID)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	subscribe := &sched.Call{Type: sched.Call_SUBSCRIBE.Enum(), Subscribe: &sched.Call_Subscribe{FrameworkInfo: &mesos.FrameworkInfo{
		User: proto.String("nobody"), Name: proto.String("tls-http"), FailoverTimeout: proto.Float64(60)}}}

	refused := func(c *http.Client, status int, text string) {
		t.Helper()
		res := post(c, "", subscribe)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != status || !strings.Contains(string(b), text) {
			t.Fatalf("SUBSCRIBE answered %d %q; want %d with %q", res.StatusCode, b, status, text)
		}
	}
	refused(security.HTTPClient(operator, 10*time.Second), http.StatusForbidden, "only frameworks subscribe")
	noCert := fwSrc.ClientConfig()
	noCert.GetClientCertificate = nil
	refused(&http.Client{Transport: &http.Transport{TLSClientConfig: noCert}, Timeout: 10 * time.Second}, http.StatusUnauthorized, "certificate")

	fw := security.HTTPClient(fwSrc, 0) // a stream: no overall timeout
	res := post(fw, "", subscribe)
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("SUBSCRIBE: %d %s", res.StatusCode, b)
	}
	stream := res.Header.Get(mesosapi.StreamIDHeader)
	records := mesosapi.NewRecordReader(res.Body, 16<<20)
	events := make(chan *sched.Event, 64)
	go func() {
		defer close(events)
		for {
			rec, err := records.Next()
			if err != nil {
				return
			}
			ev := &sched.Event{}
			if mesosapi.JSONCodec.Unmarshal(rec, ev) == nil {
				events <- ev
			}
		}
	}()
	nextEvent := func(want sched.Event_Type) *sched.Event {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("the stream ended before a %s event", want)
				}
				if ev.GetType() == want {
					return ev
				}
			case <-timeout:
				t.Fatalf("no %s event within 60 s", want)
			}
		}
	}
	fid := nextEvent(sched.Event_SUBSCRIBED).GetSubscribed().GetFrameworkId()
	offer := nextEvent(sched.Event_OFFERS).GetOffers().GetOffers()[0]
	task := &mesos.TaskInfo{Name: proto.String("hello"), TaskId: &mesos.TaskID{Value: proto.String("hello")}, AgentId: offer.AgentId,
		Command: &mesos.CommandInfo{Value: proto.String("echo hello")},
		Resources: []*mesos.Resource{
			{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(0.1)}},
			{Name: proto.String("mem"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(32)}},
		}}
	accept := &sched.Call{FrameworkId: fid, Type: sched.Call_ACCEPT.Enum(), Accept: &sched.Call_Accept{OfferIds: []*mesos.OfferID{offer.Id},
		Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH.Enum(), Launch: &mesos.Offer_Operation_Launch{TaskInfos: []*mesos.TaskInfo{task}}}}}}
	if r := post(fw, stream, accept); r.StatusCode != http.StatusAccepted {
		t.Fatalf("ACCEPT: %d", r.StatusCode)
	}
	for {
		st := nextEvent(sched.Event_UPDATE).GetUpdate().GetStatus()
		if len(st.Uuid) > 0 {
			ack := &sched.Call{FrameworkId: fid, Type: sched.Call_ACKNOWLEDGE.Enum(), Acknowledge: &sched.Call_Acknowledge{AgentId: st.AgentId, TaskId: st.TaskId, Uuid: st.Uuid}}
			if r := post(fw, stream, ack); r.StatusCode != http.StatusAccepted {
				t.Fatalf("ACKNOWLEDGE: %d", r.StatusCode)
			}
		}
		if st.GetState() == mesos.TaskState_TASK_FINISHED {
			break
		}
		if st.GetState() != mesos.TaskState_TASK_STARTING && st.GetState() != mesos.TaskState_TASK_RUNNING {
			t.Fatalf("task update %v", st)
		}
	}
	st := waitState(t, dev.HTTP, func(st *messages.MasterState) bool { return frameworkNamed(st, "tls-http") != nil })
	if p := frameworkNamed(st, "tls-http").Info.GetPrincipal(); p != "test-framework" {
		t.Fatalf("the framework's principal is %q; want its certificate's name", p)
	}
}

// BenchmarkMesosSubscribeToOffers measures, against agora dev (one agent,
// real processes, loopback), the time from a Mesos framework's SUBSCRIBE
// to its first OFFERS event, in each codec. Each framework leaves at once
// (failover_timeout 0: torn down when its stream closes), and the next
// subscribes.
func BenchmarkMesosSubscribeToOffers(b *testing.B) {
	_, dev := startNode(b, "dev", "dev", "--insecure", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", b.TempDir())
	waitStateOf(b, "http", dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	subscribe := &sched.Call{Type: sched.Call_SUBSCRIBE.Enum(), Subscribe: &sched.Call_Subscribe{FrameworkInfo: &mesos.FrameworkInfo{
		User: proto.String("nobody"), Name: proto.String("bench")}}}
	client := &http.Client{}
	for _, codec := range []mesosapi.Codec{mesosapi.ProtobufCodec, mesosapi.JSONCodec} {
		b.Run(codec.MediaType[len("application/"):], func(b *testing.B) {
			body, err := codec.Marshal(subscribe)
			if err != nil {
				b.Fatal(err)
			}
			took := make([]time.Duration, 0, b.N)
			for range b.N {
				start := time.Now()
				req, _ := http.NewRequest(http.MethodPost, "http://"+dev.HTTP+mesosapi.Path, bytes.NewReader(body))
				req.Header.Set("Content-Type", codec.MediaType)
				req.Header.Set("Accept", codec.MediaType)
				res, err := client.Do(req)
				if err != nil || res.StatusCode != http.StatusOK {
					b.Fatalf("SUBSCRIBE: %v %v", res, err)
				}
				records := mesosapi.NewRecordReader(res.Body, 16<<20)
				for {
					rec, err := records.Next()
					if err != nil {
						b.Fatalf("the stream ended before an offer: %v", err)
					}
					ev := &sched.Event{}
					if err := codec.Unmarshal(rec, ev); err != nil {
						b.Fatal(err)
					}
					if ev.GetType() == sched.Event_OFFERS {
						break
					}
				}
				took = append(took, time.Since(start))
				res.Body.Close()
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-p50")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "ms-p99")
			b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "ms-max")
		})
	}
}

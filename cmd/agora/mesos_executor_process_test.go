package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/mesosapi"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	exec "github.com/agora-sched/agora/messages/mesos/v1/executor"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// mesosExecutorEnv makes the test binary a small Mesos executor (Mesos'
// v1 executor API over HTTP, as a Mesos executor library does): it
// answers LAUNCH with TASK_RUNNING, finishes its tasks once the file
// named by the variable exists, and, with MESOS_CHECKPOINT=1, subscribes
// again after losing its agent, with what the agent has not acknowledged.
const mesosExecutorEnv = "AGORA_TEST_MESOS_EXECUTOR_GATE"

// mesosExecutorLingerEnv names a file the test executor waits for, when
// told to shut down, before it exits.
const mesosExecutorLingerEnv = "AGORA_TEST_MESOS_EXECUTOR_LINGER"

func mesosTestExecutor(gate string) int {
	endpoint, fid, eid := os.Getenv("MESOS_AGENT_ENDPOINT"), os.Getenv("MESOS_FRAMEWORK_ID"), os.Getenv("MESOS_EXECUTOR_ID")
	checkpoint := os.Getenv("MESOS_CHECKPOINT") == "1"
	recovery, err := time.ParseDuration(strings.TrimSuffix(os.Getenv("MESOS_RECOVERY_TIMEOUT"), "ecs"))
	if checkpoint && err != nil {
		log.Printf("MESOS_RECOVERY_TIMEOUT %q: %v", os.Getenv("MESOS_RECOVERY_TIMEOUT"), err)
		return 2
	}
	url := "http://" + endpoint + mesosapi.ExecutorPath
	ids := func(c *exec.Call) *exec.Call {
		c.FrameworkId, c.ExecutorId = &mesos.FrameworkID{Value: proto.String(fid)}, &mesos.ExecutorID{Value: proto.String(eid)}
		return c
	}
	post := func(c *exec.Call) (*http.Response, error) {
		body, _ := mesosapi.JSONCodec.Marshal(ids(c))
		res, err := http.Post(url, mesosapi.MediaJSON, bytes.NewReader(body))
		if err == nil && res.StatusCode != http.StatusOK && res.StatusCode != http.StatusAccepted {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			return nil, fmt.Errorf("%s: %s", res.Status, b)
		}
		return res, err
	}
	var mu sync.Mutex
	unackedTasks := map[string]*mesos.TaskInfo{}
	unackedUpdates := map[string]*exec.Call_Update{}
	running := map[string]bool{}
	send := func(task string, state mesos.TaskState) {
		uuid := make([]byte, 16)
		_, _ = rand.Read(uuid)
		u := &exec.Call_Update{Status: &mesos.TaskStatus{TaskId: &mesos.TaskID{Value: proto.String(task)}, State: state.Enum(), Uuid: uuid,
			Source: mesos.TaskStatus_SOURCE_EXECUTOR.Enum(), ExecutorId: &mesos.ExecutorID{Value: proto.String(eid)}}}
		unackedUpdates[string(uuid)] = u // resent on re-subscription if the agent does not acknowledge it
		if res, err := post(&exec.Call{Type: exec.Call_UPDATE.Enum(), Update: u}); err != nil {
			log.Printf("update %s %s not sent: %v", task, state, err)
		} else {
			res.Body.Close()
			log.Printf("update %s %s sent", task, state)
		}
	}
	go func() {
		for range time.Tick(100 * time.Millisecond) {
			if _, err := os.Stat(gate); err != nil {
				continue
			}
			mu.Lock()
			for task := range running {
				delete(running, task)
				send(task, mesos.TaskState_TASK_FINISHED)
			}
			mu.Unlock()
		}
	}()
	lost := time.Now()
	for {
		mu.Lock()
		sub := &exec.Call_Subscribe{}
		for _, t := range unackedTasks {
			sub.UnacknowledgedTasks = append(sub.UnacknowledgedTasks, t)
		}
		for _, u := range unackedUpdates {
			sub.UnacknowledgedUpdates = append(sub.UnacknowledgedUpdates, u)
		}
		mu.Unlock()
		res, err := post(&exec.Call{Type: exec.Call_SUBSCRIBE.Enum(), Subscribe: sub})
		if err == nil {
			log.Printf("subscribing with %d unacknowledged tasks and %d updates", len(sub.UnacknowledgedTasks), len(sub.UnacknowledgedUpdates))
			records := mesosapi.NewRecordReader(res.Body, 16<<20)
			for {
				rec, err := records.Next()
				if err != nil {
					break
				}
				ev := &exec.Event{}
				if mesosapi.JSONCodec.Unmarshal(rec, ev) != nil {
					continue
				}
				mu.Lock()
				switch ev.GetType() {
				case exec.Event_SUBSCRIBED:
					log.Printf("SUBSCRIBED pid %d", os.Getpid())
				case exec.Event_LAUNCH:
					t := ev.GetLaunch().GetTask()
					unackedTasks[t.GetTaskId().GetValue()] = t
					running[t.GetTaskId().GetValue()] = true
					send(t.GetTaskId().GetValue(), mesos.TaskState_TASK_RUNNING)
				case exec.Event_ACKNOWLEDGED:
					delete(unackedTasks, ev.GetAcknowledged().GetTaskId().GetValue())
					delete(unackedUpdates, string(ev.GetAcknowledged().GetUuid()))
				case exec.Event_SHUTDOWN:
					log.Print("SHUTDOWN")
					if linger := os.Getenv(mesosExecutorLingerEnv); linger != "" {
						// Runs on with no task until the test lets it go.
						for _, err := os.Stat(linger); err != nil; _, err = os.Stat(linger) {
							time.Sleep(50 * time.Millisecond)
						}
					}
					os.Exit(0)
				}
				mu.Unlock()
			}
			res.Body.Close()
			lost = time.Now()
			log.Print("disconnected from the agent")
		} else {
			log.Printf("subscription failed: %v", err)
		}
		if !checkpoint || time.Since(lost) > recovery {
			log.Print("giving up")
			return 1
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A Mesos executor outlives its agent, as Mesos' do when the framework
// checkpoints: SIGKILL the agent while the executor runs a task, let the
// task finish while the agent is down, start the agent again. The
// executor (launched with MESOS_CHECKPOINT=1) subscribes again with the
// update the dead agent never acknowledged; the restarted agent takes the
// re-subscription, and the framework sees its task FINISHED, once, never
// LOST or FAILED, from the same executor process.
func TestMesosExecutorResubscribesAfterAgentRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The agent's executor API must stay where the executor was told it is.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agentHTTP := ln.Addr().String()
	ln.Close()
	_, m := startNode(t, "master", "node", "--role=master", "--insecure", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "100ms")
	agentArgs := []string{"node", "--role=agent", "--insecure", "--listen", anyPort, "--agent-http", agentHTTP, "--master", m.Remoting,
		"--work-dir", filepath.Join(dir, "a"), "--resources", "cpus:2;mem:512", "--isolation", "none", "--registration-backoff", "100ms",
		"--executor-registration-timeout", "60s"}
	agent, _ := startNode(t, "agent", agentArgs...)
	waitStateOf(t, "http", m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	fw := subscribeMesosHTTP(t, m.HTTP, &mesos.FrameworkInfo{User: proto.String("root"), Name: proto.String("checkpointing"),
		FailoverTimeout: proto.Float64(3600), Checkpoint: proto.Bool(true)})
	offer := fw.next(sched.Event_OFFERS, 0).GetOffers().GetOffers()[0]
	gate := filepath.Join(dir, "gate")
	executor := &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("resubscriber")}, Type: mesos.ExecutorInfo_CUSTOM.Enum(),
		Command: &mesos.CommandInfo{Value: proto.String(self), Shell: proto.Bool(false), Arguments: []string{self},
			Environment: &mesos.Environment{Variables: []*mesos.Environment_Variable{{Name: proto.String(mesosExecutorEnv), Value: proto.String(gate)}}}},
		Resources: []*mesos.Resource{mesosScalar("cpus", 0.1), mesosScalar("mem", 32)}}
	task := &mesos.TaskInfo{Name: proto.String("survivor"), TaskId: &mesos.TaskID{Value: proto.String("survivor")}, AgentId: offer.AgentId,
		Executor: executor, Resources: []*mesos.Resource{mesosScalar("cpus", 0.1), mesosScalar("mem", 32)}}
	fw.launch(offer, task)
	fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_RUNNING)
	stdout := filepath.Join(dir, "a", "frameworks", "*", "tasks", "executor.resubscriber", "stderr")
	waitFile(t, stdout, "SUBSCRIBED pid")

	agent.signal(syscall.SIGKILL)
	<-agent.done
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The executor finished its task while no agent listened.
	waitFile(t, stdout, "update survivor TASK_FINISHED not sent")

	agent, _ = startNode(t, "agent-again", agentArgs...)
	agent.out.waitFor(t, "executor re-registered")
	fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_FINISHED)
	for _, s := range fw.seen {
		if strings.Contains(s, "TASK_LOST") || strings.Contains(s, "TASK_FAILED") {
			t.Fatalf("the task did not survive its agent's restart: updates %q", fw.seen)
		}
	}
	// The agent forwards the resent update as soon as it takes the
	// subscription, so the framework can see it before the executor has
	// read its SUBSCRIBED answer and logged it.
	waitFileCount(t, stdout, "SUBSCRIBED pid", 2)
	files, _ := filepath.Glob(stdout)
	b, _ := os.ReadFile(files[0])
	if n := strings.Count(string(b), "SUBSCRIBED pid"); n != 2 {
		t.Fatalf("the executor subscribed %d times; want twice (before and after the restart), from one process:\n%s", n, b)
	}
	if !strings.Contains(string(b), "subscribing with 0 unacknowledged tasks and 1 updates") {
		t.Fatalf("the executor did not resend its unacknowledged update:\n%s", b)
	}
}

// mesosScalar is a Mesos scalar resource of the default role.
func mesosScalar(name string, v float64) *mesos.Resource {
	return &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)}}
}

// mesosHTTP is a Mesos framework written against the v1 scheduler API by
// hand (JSON over plain HTTP): it acknowledges every update it reads.
type mesosHTTP struct {
	t      *testing.T
	url    string
	stream string
	fid    *mesos.FrameworkID
	events chan *sched.Event
	seen   []string // the updates read, as "STATE message"
}

func subscribeMesosHTTP(t *testing.T, masterHTTP string, info *mesos.FrameworkInfo) *mesosHTTP {
	t.Helper()
	f := &mesosHTTP{t: t, url: "http://" + masterHTTP + mesosapi.Path, events: make(chan *sched.Event, 64)}
	res := f.post(&sched.Call{Type: sched.Call_SUBSCRIBE.Enum(), Subscribe: &sched.Call_Subscribe{FrameworkInfo: info}})
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE: %d", res.StatusCode)
	}
	f.stream = res.Header.Get(mesosapi.StreamIDHeader)
	go func() {
		defer close(f.events)
		records := mesosapi.NewRecordReader(res.Body, 16<<20)
		for {
			rec, err := records.Next()
			if err != nil {
				return
			}
			ev := &sched.Event{}
			if mesosapi.JSONCodec.Unmarshal(rec, ev) == nil {
				f.events <- ev
			}
		}
	}()
	f.fid = f.next(sched.Event_SUBSCRIBED, 0).GetSubscribed().GetFrameworkId()
	return f
}

func (f *mesosHTTP) post(call *sched.Call) *http.Response {
	f.t.Helper()
	if call.GetType() != sched.Call_SUBSCRIBE {
		call.FrameworkId = f.fid
	}
	body, _ := mesosapi.JSONCodec.Marshal(call)
	req, _ := http.NewRequest(http.MethodPost, f.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", mesosapi.MediaJSON)
	req.Header.Set("Accept", mesosapi.MediaJSON)
	if f.stream != "" {
		req.Header.Set(mesosapi.StreamIDHeader, f.stream)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// call posts a call and wants it taken (202).
func (f *mesosHTTP) call(call *sched.Call) {
	f.t.Helper()
	res := f.post(call)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		f.t.Fatalf("%s: %d %s", call.GetType(), res.StatusCode, b)
	}
}

func (f *mesosHTTP) launch(offer *mesos.Offer, task *mesos.TaskInfo) {
	f.t.Helper()
	f.call(&sched.Call{Type: sched.Call_ACCEPT.Enum(), Accept: &sched.Call_Accept{OfferIds: []*mesos.OfferID{offer.Id},
		Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH.Enum(), Launch: &mesos.Offer_Operation_Launch{TaskInfos: []*mesos.TaskInfo{task}}}}}})
}

// next is the next event of type want (for UPDATE, of task state state),
// acknowledging the updates read meanwhile.
func (f *mesosHTTP) next(want sched.Event_Type, state mesos.TaskState) *sched.Event {
	f.t.Helper()
	timeout := time.After(90 * time.Second)
	for {
		select {
		case ev, ok := <-f.events:
			if !ok {
				f.t.Fatalf("the stream ended before a %s event", want)
			}
			if st := ev.GetUpdate().GetStatus(); st != nil {
				f.seen = append(f.seen, st.GetState().String()+" "+st.GetReason().String()+" "+st.GetMessage())
				if len(st.Uuid) > 0 {
					f.call(&sched.Call{Type: sched.Call_ACKNOWLEDGE.Enum(), Acknowledge: &sched.Call_Acknowledge{AgentId: st.AgentId, TaskId: st.TaskId, Uuid: st.Uuid}})
				}
			}
			if ev.GetType() == want && (want != sched.Event_UPDATE || ev.GetUpdate().GetStatus().GetState() == state) {
				return ev
			}
		case <-timeout:
			f.t.Fatalf("no %s %s event within 90 s; updates seen: %q", want, state, f.seen)
		}
	}
}

// An operator drains an agent where a Mesos framework runs a task: the
// framework gets an inverse offer for that agent, unavailable from the
// drain's deadline, answers it (202), and its task is killed at the
// deadline with REASON_AGENT_DRAINING.
func TestMesosFrameworkGetsInverseOfferOnDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	_, m := startNode(t, "master", "node", "--role=master", "--insecure", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "100ms")
	startNode(t, "agent", "node", "--role=agent", "--insecure", "--listen", anyPort, "--agent-http", anyPort, "--master", m.Remoting, "--hostname", "drained",
		"--work-dir", filepath.Join(dir, "a"), "--resources", "cpus:2;mem:512", "--isolation", "none")
	waitStateOf(t, "http", m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	fw := subscribeMesosHTTP(t, m.HTTP, &mesos.FrameworkInfo{User: proto.String("nobody"), Name: proto.String("drained")})
	offer := fw.next(sched.Event_OFFERS, 0).GetOffers().GetOffers()[0]
	fw.launch(offer, &mesos.TaskInfo{Name: proto.String("sleeper"), TaskId: &mesos.TaskID{Value: proto.String("sleeper")}, AgentId: offer.AgentId,
		Command: &mesos.CommandInfo{Value: proto.String("sleep 600")},
		Resources: []*mesos.Resource{
			{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(0.1)}},
			{Name: proto.String("mem"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(16)}},
		}})
	fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_RUNNING)

	before := time.Now()
	out, err := osexec.Command(agoraBin, "agents", "drain", "drained", "--deadline", "5s", "--master-http", m.HTTP, "--insecure").CombinedOutput()
	if err != nil {
		t.Fatalf("agora agents drain: %v\n%s", err, out)
	}
	io := fw.next(sched.Event_INVERSE_OFFERS, 0).GetInverseOffers().GetInverseOffers()[0]
	start := time.Unix(0, io.GetUnavailability().GetStart().GetNanoseconds())
	if io.GetAgentId().GetValue() != offer.AgentId.GetValue() || start.Before(before.Add(4*time.Second)) || start.After(time.Now().Add(6*time.Second)) {
		t.Fatalf("inverse offer %v; want agent %s unavailable from the drain's deadline, about 5 s from now", io, offer.AgentId.GetValue())
	}
	fw.call(&sched.Call{Type: sched.Call_ACCEPT_INVERSE_OFFERS.Enum(), AcceptInverseOffers: &sched.Call_AcceptInverseOffers{InverseOfferIds: []*mesos.OfferID{io.Id}}})
	killed := fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_KILLED).GetUpdate().GetStatus()
	if killed.GetReason() != mesos.TaskStatus_REASON_AGENT_DRAINING {
		t.Fatalf("the task ended %v; want killed with REASON_AGENT_DRAINING", killed)
	}
}

// A Mesos framework's drained agent is reactivated: its inverse offer is
// rescinded (RESCIND_INVERSE_OFFER, naming it). Then the framework shuts
// its custom executor down (SHUTDOWN): the executor process gets SHUTDOWN
// and exits, and the task it ran ends TASK_KILLED with
// REASON_EXECUTOR_TERMINATED. A SHUTDOWN naming an executor the framework
// does not run there is refused and logged, naming it: Mesos has no event
// for it (ERROR would end the framework's stream), its agent only logs.
func TestMesosFrameworkShutsItsExecutorDownAndDrainIsRescinded(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := workDir(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	master, m := startNode(t, "master", "node", "--role=master", "--insecure", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "100ms")
	startNode(t, "agent", "node", "--role=agent", "--insecure", "--listen", anyPort, "--agent-http", anyPort, "--master", m.Remoting, "--hostname", "host-x",
		"--work-dir", filepath.Join(dir, "a"), "--resources", "cpus:2;mem:512", "--isolation", "none")
	waitStateOf(t, "http", m.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	fw := subscribeMesosHTTP(t, m.HTTP, &mesos.FrameworkInfo{User: proto.String("root"), Name: proto.String("shutter")})
	offer := fw.next(sched.Event_OFFERS, 0).GetOffers().GetOffers()[0]
	executor := &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("shut")}, Type: mesos.ExecutorInfo_CUSTOM.Enum(),
		Command: &mesos.CommandInfo{Value: proto.String(self), Shell: proto.Bool(false), Arguments: []string{self},
			Environment: &mesos.Environment{Variables: []*mesos.Environment_Variable{{Name: proto.String(mesosExecutorEnv), Value: proto.String(filepath.Join(dir, "never"))}}}},
		Resources: []*mesos.Resource{mesosScalar("cpus", 0.1), mesosScalar("mem", 32)}}
	fw.launch(offer, &mesos.TaskInfo{Name: proto.String("victim"), TaskId: &mesos.TaskID{Value: proto.String("victim")}, AgentId: offer.AgentId,
		Executor: executor, Resources: []*mesos.Resource{mesosScalar("cpus", 0.1), mesosScalar("mem", 32)}})
	fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_RUNNING)

	agora := func(args ...string) string {
		out, err := osexec.Command(agoraBin, append(args, "--master-http", m.HTTP, "--insecure")...).CombinedOutput()
		if err != nil {
			t.Fatalf("agora %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	agora("agents", "drain", "host-x", "--deadline", "1h")
	io := fw.next(sched.Event_INVERSE_OFFERS, 0).GetInverseOffers().GetInverseOffers()[0]
	agora("agents", "reactivate", "host-x")
	if got := fw.next(sched.Event_RESCIND_INVERSE_OFFER, 0).GetRescindInverseOffer().GetInverseOfferId().GetValue(); got != io.GetId().GetValue() {
		t.Fatalf("rescinded inverse offer %q; want %q", got, io.GetId().GetValue())
	}

	shutdown := func(executorID string) {
		fw.call(&sched.Call{Type: sched.Call_SHUTDOWN.Enum(), Shutdown: &sched.Call_Shutdown{AgentId: offer.AgentId,
			ExecutorId: &mesos.ExecutorID{Value: proto.String(executorID)}}})
	}
	shutdown("not-mine")
	master.out.waitFor(t, "no executor not-mine")
	shutdown("shut")
	killed := fw.next(sched.Event_UPDATE, mesos.TaskState_TASK_KILLED).GetUpdate().GetStatus()
	if killed.GetReason() != mesos.TaskStatus_REASON_EXECUTOR_TERMINATED {
		t.Fatalf("the task ended %v; want TASK_KILLED with REASON_EXECUTOR_TERMINATED", killed)
	}
	waitFile(t, filepath.Join(dir, "a", "frameworks", "*", "tasks", "executor.shut", "stderr"), "SHUTDOWN")
}

package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/mesosapi"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// httpScheduler is a small Mesos v1 scheduler written against the API
// alone, as a framework outside Agora would be: it knows the masters'
// addresses, subscribes through any of them (a standby's 307 leads to
// the leader), and when its stream ends subscribes again with its
// FrameworkID. mesos-go's example scheduler cannot be used here: it
// retries only the URL it was redirected to, which is the dead leader's.
type httpScheduler struct {
	t       testing.TB
	client  *http.Client
	codec   mesosapi.Codec
	masters func() []string
	info    *mesos.FrameworkInfo

	// Of the current subscription.
	url    string // the leader's scheduler API, where calls go
	stream string
	events chan *sched.Event
	body   io.Closer

	redirects atomic.Int32 // 307s followed
}

func newHTTPScheduler(t testing.TB, masters func() []string, info *mesos.FrameworkInfo) *httpScheduler {
	t.Helper()
	fw, err := security.Options{Dir: filepath.Dir(operator.Files().CA)}.Load(security.RoleFramework, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &httpScheduler{t: t, client: security.HTTPClient(fw, 0), codec: mesosapi.ProtobufCodec, masters: masters, info: info}
	// Go's client follows a 307 with the same method and body.
	s.client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return fmt.Errorf("more than 5 redirects")
		}
		s.redirects.Add(1)
		return nil
	}
	t.Cleanup(func() {
		if s.body != nil {
			s.body.Close()
		}
	})
	return s
}

// subscribe asks each master in turn until one (or the leader it
// redirects to) opens a stream, and returns the SUBSCRIBED event. While a
// new leader is being elected, masters refuse (503) or are gone; it asks
// again.
func (s *httpScheduler) subscribe() *sched.Event_Subscribed {
	s.t.Helper()
	if s.body != nil {
		s.body.Close()
	}
	call := &sched.Call{Type: sched.Call_SUBSCRIBE.Enum(), Subscribe: &sched.Call_Subscribe{FrameworkInfo: s.info}}
	if s.info.Id != nil {
		call.FrameworkId = s.info.Id
	}
	body, err := s.codec.Marshal(call)
	if err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		for _, addr := range s.masters() {
			req, _ := http.NewRequest(http.MethodPost, "https://"+addr+mesosapi.Path, bytes.NewReader(body))
			req.Header.Set("Content-Type", s.codec.MediaType)
			req.Header.Set("Accept", s.codec.MediaType)
			res, err := s.client.Do(req)
			if err != nil {
				last = err.Error()
				continue
			}
			if res.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				last = fmt.Sprintf("%s: %d %s", addr, res.StatusCode, b)
				continue
			}
			s.url, s.stream, s.body = res.Request.URL.String(), res.Header.Get(mesosapi.StreamIDHeader), res.Body
			s.events = make(chan *sched.Event, 256)
			go func(events chan<- *sched.Event) {
				defer close(events)
				records := mesosapi.NewRecordReader(res.Body, 16<<20)
				for {
					rec, err := records.Next()
					if err != nil {
						return
					}
					ev := &sched.Event{}
					if s.codec.Unmarshal(rec, ev) == nil {
						events <- ev
					}
				}
			}(s.events)
			sub := s.next(sched.Event_SUBSCRIBED).GetSubscribed()
			if sub == nil {
				last = "the stream ended before SUBSCRIBED"
				continue
			}
			s.info.Id = sub.FrameworkId
			return sub
		}
		time.Sleep(50 * time.Millisecond) // no master can take it yet: ask again
	}
	s.t.Fatalf("no master took the subscription within 60 s; last answer: %s", last)
	return nil
}

// next returns the next event of type want, acknowledging updates on the
// way, or nil when the stream ends first.
func (s *httpScheduler) next(want sched.Event_Type) *sched.Event {
	s.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return nil
			}
			if st := ev.GetUpdate().GetStatus(); st != nil && len(st.Uuid) > 0 {
				s.call(&sched.Call{Type: sched.Call_ACKNOWLEDGE.Enum(), Acknowledge: &sched.Call_Acknowledge{AgentId: st.AgentId, TaskId: st.TaskId, Uuid: st.Uuid}})
			}
			if ev.GetType() == want {
				return ev
			}
		case <-timeout:
			s.t.Fatalf("no %s event within 60 s", want)
		}
	}
}

// call sends a call on the current subscription to the leader that holds it.
func (s *httpScheduler) call(c *sched.Call) {
	s.t.Helper()
	if err := s.send(c); err != nil {
		s.t.Fatal(err)
	}
}

// send is call for goroutines other than the test's: it returns what
// went wrong.
func (s *httpScheduler) send(c *sched.Call) error {
	c.FrameworkId = s.info.Id
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
		return fmt.Errorf("%s: %w", c.GetType(), err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s answered %d %s", c.GetType(), res.StatusCode, b)
	}
	return nil
}

// The acceptance: a Mesos HTTP framework (over TLS, with a
// framework certificate) runs a task on an HA cluster; the leader is
// SIGKILLed; the framework's stream ends, it subscribes again through the
// other masters (307 to the new leader) with its FrameworkID, keeps that
// ID, and its task is still RUNNING, by the new leader's reconciliation
// and by its state.
func TestMesosFrameworkAcrossLeaderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Consul and agora processes; make test runs it")
	}
	c := startHAMasters(t)
	first := c.leader(t, "")
	var standby string
	for _, m := range c.masters {
		if m.http != first.HttpAddress {
			standby = m.http
			break
		}
	}
	// The first subscription goes to a standby: it must be redirected.
	masters := []string{standby}
	s := newHTTPScheduler(t, func() []string { return masters }, &mesos.FrameworkInfo{
		User: proto.String("nobody"), Name: proto.String("mesos-ha"), FailoverTimeout: proto.Float64(3600),
		Roles: []string{"web"}, Capabilities: []*mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}})
	sub := s.subscribe()
	fid := sub.GetFrameworkId().GetValue()
	if s.redirects.Load() == 0 {
		t.Fatalf("the subscription through standby %s was not redirected (leader %s)", standby, first.HttpAddress)
	}

	var offer *mesos.Offer
	for offer == nil {
		ev := s.next(sched.Event_OFFERS)
		if ev == nil {
			t.Fatal("the stream ended before an offer")
		}
		offer = ev.GetOffers().GetOffers()[0]
	}
	task := &mesos.TaskInfo{Name: proto.String("long"), TaskId: &mesos.TaskID{Value: proto.String("long-1")}, AgentId: offer.AgentId,
		Command: &mesos.CommandInfo{Value: proto.String("sleep 600")},
		Resources: []*mesos.Resource{
			{Name: proto.String("cpus"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(0.1)},
				AllocationInfo: &mesos.Resource_AllocationInfo{Role: proto.String("web")}},
			{Name: proto.String("mem"), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(32)},
				AllocationInfo: &mesos.Resource_AllocationInfo{Role: proto.String("web")}},
		}}
	s.call(&sched.Call{Type: sched.Call_ACCEPT.Enum(), Accept: &sched.Call_Accept{OfferIds: []*mesos.OfferID{offer.Id},
		Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH.Enum(), Launch: &mesos.Offer_Operation_Launch{TaskInfos: []*mesos.TaskInfo{task}}}}}})
	for {
		ev := s.next(sched.Event_UPDATE)
		if ev == nil {
			t.Fatal("the stream ended before the task ran")
		}
		st := ev.GetUpdate().GetStatus()
		if st.GetState() == mesos.TaskState_TASK_RUNNING {
			break
		}
		if st.GetState() != mesos.TaskState_TASK_STARTING {
			t.Fatalf("task update before failover: %v", st)
		}
	}
	ours := func(st *messages.MasterState) bool {
		for _, f := range st.Frameworks {
			if f.Info.GetId().GetValue() == fid {
				return f.Connected && f.Tasks["TASK_RUNNING"] == 1 && len(f.Tasks) == 1 && reachable(st) == 3
			}
		}
		return false
	}
	waitState(t, first.HttpAddress, ours)

	// SIGKILL the leader. The framework now knows every master; the dead
	// one refuses connections, the others answer 503 until one leads and
	// then 307 to it.
	victim := c.byHTTP(first.HttpAddress)
	victim.p.signal(syscall.SIGKILL)
	<-victim.p.done
	for s.next(sched.Event_HEARTBEAT) != nil { // drain to the stream's end
	}
	masters = nil
	for _, m := range c.masters {
		masters = append(masters, m.http)
	}
	redirectsBefore := s.redirects.Load()
	again := s.subscribe()
	if got := again.GetFrameworkId().GetValue(); got != fid {
		t.Fatalf("after failover the framework is %q; want its FrameworkID %q kept", got, fid)
	}
	next := c.leader(t, first.Id)
	if s.url != "https://"+next.HttpAddress+mesosapi.Path {
		t.Fatalf("re-subscribed at %s; the new leader serves at %s", s.url, next.HttpAddress)
	}
	t.Logf("re-subscribed at the new leader %s; %d redirects followed on the way (standbys name the dead leader until the election ends)", next.HttpAddress, s.redirects.Load()-redirectsBefore)

	// The new leader learns the task from its agent's re-registration;
	// then reconciliation (Mesos' explicit form) says RUNNING.
	waitState(t, next.HttpAddress, ours)
	s.call(&sched.Call{Type: sched.Call_RECONCILE.Enum(), Reconcile: &sched.Call_Reconcile{Tasks: []*sched.Call_Reconcile_Task{{TaskId: task.TaskId, AgentId: offer.AgentId}}}})
	for {
		ev := s.next(sched.Event_UPDATE)
		if ev == nil {
			t.Fatal("the stream ended before the reconciliation's answer")
		}
		st := ev.GetUpdate().GetStatus()
		if st.GetTaskId().GetValue() != "long-1" {
			continue
		}
		if st.GetState() != mesos.TaskState_TASK_RUNNING {
			t.Fatalf("after failover the task is %v (%v): want it still RUNNING", st.GetState(), st)
		}
		if st.GetReason() == mesos.TaskStatus_REASON_RECONCILIATION {
			break
		}
	}
}

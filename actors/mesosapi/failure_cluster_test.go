package mesosapi_test

import (
	"net/http"
	"os/user"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/mesosapi"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"github.com/agora-sched/agora/testkit"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"
)

// A Mesos framework's custom executor, a real process on a real agent,
// exits with code 3 before finishing its task: the framework gets the
// FAILURE event Mesos sends (agent_id, executor_id, and status 3<<8, a
// waitpid status whose WEXITSTATUS is 3) and its task ends once,
// TASK_FAILED with REASON_EXECUTOR_TERMINATED; in both codecs.
func TestExecutorExitIsAFailureEvent(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	c, err := testkit.New(testkit.Options{Clock: clockwork.NewRealClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	c.AddAgent(testkit.AgentSpec{WorkDir: t.TempDir()})
	url, stop := serveAPI(c)
	defer stop()
	scalar := func(name string, v float64) *mesos.Resource {
		return &mesos.Resource{Name: proto.String(name), Type: mesos.Value_SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: proto.Float64(v)}}
	}
	for _, codec := range []mesosapi.Codec{mesosapi.JSONCodec, mesosapi.ProtobufCodec} {
		t.Run(codecName(codec), func(t *testing.T) {
			s, err := subscribe(&http.Client{}, url, codec,
				&mesos.FrameworkInfo{User: proto.String(me.Username), Name: proto.String("exits-" + codecName(codec))})
			if err != nil {
				t.Fatal(err)
			}
			defer s.res.Body.Close()
			// The stream is read on its own goroutine, so that a missing
			// event fails the test rather than hangs it.
			evs := make(chan *sched.Event, 64)
			go func() {
				defer close(evs)
				for {
					ev, err := s.next()
					if err != nil {
						return
					}
					evs <- ev
				}
			}()
			timeout := time.After(testkit.WaitTimeout)
			next := func(what string) *sched.Event {
				t.Helper()
				select {
				case ev, ok := <-evs:
					if !ok {
						t.Fatalf("the stream ended while waiting for %s", what)
					}
					return ev
				case <-timeout:
					t.Fatalf("no %s within %v", what, testkit.WaitTimeout)
				}
				return nil
			}
			ev := next("SUBSCRIBED")
			s.fid = ev.GetSubscribed().GetFrameworkId()
			// The first offer that holds the task and its executor: the
			// agent may come in parts (what the previous subtest's
			// framework left, freed at different times), as in Mesos.
			var offer *mesos.Offer
			for offer == nil {
				for _, o := range next("an offer").GetOffers().GetOffers() {
					if offer == nil && scalarOf(o, "cpus") >= 0.2 && scalarOf(o, "mem") >= 64 {
						offer = o
					}
				}
			}
			task := &mesos.TaskInfo{Name: proto.String("t1"), TaskId: &mesos.TaskID{Value: proto.String("t1")}, AgentId: offer.AgentId,
				Resources: []*mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)},
				Executor: &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("e1")}, Type: mesos.ExecutorInfo_CUSTOM.Enum(),
					Command:   &mesos.CommandInfo{Value: proto.String("exit 3"), Shell: proto.Bool(true)},
					Resources: []*mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)}}}
			if err := s.call(&sched.Call{Type: sched.Call_ACCEPT.Enum(), Accept: &sched.Call_Accept{OfferIds: []*mesos.OfferID{offer.Id},
				Operations: []*mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH.Enum(), Launch: &mesos.Offer_Operation_Launch{TaskInfos: []*mesos.TaskInfo{task}}}}}}); err != nil {
				t.Fatal(err)
			}
			// Mesos does not order FAILURE and the task's UPDATE: both come.
			var failure *sched.Event_Failure
			var ended []*mesos.TaskStatus
			for failure == nil || len(ended) == 0 {
				ev := next("the executor's FAILURE and its task's end")
				switch ev.GetType() {
				case sched.Event_FAILURE:
					failure = ev.GetFailure()
				case sched.Event_UPDATE:
					st := ev.GetUpdate().GetStatus()
					if st.GetState() != mesos.TaskState_TASK_STAGING && st.GetState() != mesos.TaskState_TASK_STARTING && st.GetState() != mesos.TaskState_TASK_RUNNING {
						ended = append(ended, st)
					}
					if len(st.Uuid) > 0 {
						if err := s.call(&sched.Call{Type: sched.Call_ACKNOWLEDGE.Enum(), Acknowledge: &sched.Call_Acknowledge{AgentId: st.AgentId, TaskId: st.TaskId, Uuid: st.Uuid}}); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			if failure.GetAgentId().GetValue() != offer.GetAgentId().GetValue() || failure.GetExecutorId().GetValue() != "e1" || failure.Status == nil ||
				failure.GetStatus() != 3<<8 {
				t.Fatalf("FAILURE %v; want executor e1 on agent %s, status %d (exit code 3)", failure, offer.GetAgentId().GetValue(), 3<<8)
			}
			if exitCode := (failure.GetStatus() >> 8) & 0xff; exitCode != 3 {
				t.Fatalf("WEXITSTATUS of the FAILURE's status is %d; want 3", exitCode)
			}
			if st := ended[0]; len(ended) != 1 || st.GetState() != mesos.TaskState_TASK_FAILED || st.GetReason() != mesos.TaskStatus_REASON_EXECUTOR_TERMINATED ||
				st.GetExecutorId().GetValue() != "e1" {
				t.Fatalf("the task ended %v; want TASK_FAILED once, REASON_EXECUTOR_TERMINATED, from executor e1", ended)
			}
		})
	}
}

// scalarOf is an offer's amount of a scalar resource.
func scalarOf(o *mesos.Offer, name string) float64 {
	v := 0.0
	for _, r := range o.Resources {
		if r.GetName() == name {
			v += r.GetScalar().GetValue()
		}
	}
	return v
}

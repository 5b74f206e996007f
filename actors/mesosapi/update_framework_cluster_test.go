package mesosapi_test

import (
	"net/http"
	"testing"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/actors/mesosapi"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"github.com/agora-sched/agora/testkit"
	"github.com/jonboulle/clockwork"
	"google.golang.org/protobuf/proto"
)

// UPDATE_FRAMEWORK against a real master: a framework subscribed with
// failover_timeout 0 (removed the moment its stream closes) sets one of
// an hour; the master takes the update (200), and when the stream closes
// the framework stays, so its scheduler subscribes again with its ID.
func TestUpdateFrameworkOnMaster(t *testing.T) {
	c, err := testkit.New(testkit.Options{Clock: clockwork.NewRealClock(), Agents: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	url, stop := serveAPI(c)
	defer stop()
	client := &http.Client{}
	info := &mesos.FrameworkInfo{User: proto.String("nobody"), Name: proto.String("f")}
	s, err := subscribe(client, url, mesosapi.JSONCodec, info)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s.next()
	if err != nil || ev.GetType() != sched.Event_SUBSCRIBED {
		t.Fatalf("first event %v, %v", ev, err)
	}
	s.fid = ev.GetSubscribed().GetFrameworkId()

	updated := proto.Clone(info).(*mesos.FrameworkInfo)
	updated.Id, updated.Name, updated.FailoverTimeout = s.fid, proto.String("renamed"), proto.Float64(3600)
	if err := s.callWant(&sched.Call{Type: sched.Call_UPDATE_FRAMEWORK.Enum(), UpdateFramework: &sched.Call_UpdateFramework{FrameworkInfo: updated}}, http.StatusOK); err != nil {
		t.Fatal(err)
	}
	mark := c.Events.Mark()
	s.res.Body.Close()
	gone := c.Events.WaitForSince(t, mark, func(ev any) bool {
		switch ev.(type) {
		case master.FrameworkDisconnected, master.FrameworkRemoved:
			return true
		}
		return false
	})
	if _, removed := gone.(master.FrameworkRemoved); removed {
		t.Fatal("the framework was removed when its stream closed: the update's failover_timeout did not take")
	}

	again, err := subscribe(client, url, mesosapi.JSONCodec, updated)
	if err != nil {
		t.Fatalf("the framework's scheduler subscribing again after its stream closed: %v (was it removed, failover_timeout still 0?)", err)
	}
	defer again.res.Body.Close()
	if ev, err := again.next(); err != nil || ev.GetSubscribed().GetFrameworkId().GetValue() != s.fid.GetValue() {
		t.Fatalf("re-subscribed as %v, %v; want framework %s", ev, err, s.fid.GetValue())
	}
}

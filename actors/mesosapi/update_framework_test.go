package mesosapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// UPDATE_FRAMEWORK (Mesos 1.9): the master gets the new FrameworkInfo as
// a re-subscription from the framework's bridge, then the suppressed
// roles; the call is answered 200 once the master has answered. Changes
// Agora cannot make are answered 400 naming them.
func TestUpdateFramework(t *testing.T) {
	h := newHarness(t)
	res := h.post(ProtobufCodec, "alice", "", subscribeCall(0))
	defer res.Body.Close()
	stream := res.Header.Get(StreamIDHeader)
	ev := &events{t: t, r: NewRecordReader(res.Body, 1<<20), c: ProtobufCodec}
	if e := ev.next(); e.GetType() != sched.Event_SUBSCRIBED {
		t.Fatalf("first event %v", e)
	}
	first, _ := next[*messages.SubscribeFramework](h)

	update := func(mutate func(*mesos.FrameworkInfo), suppressed ...string) *sched.Call {
		info := &mesos.FrameworkInfo{Id: &mesos.FrameworkID{Value: proto.String("F1")}, User: proto.String("u"), Name: proto.String("f")}
		mutate(info)
		return &sched.Call{FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")}, Type: sched.Call_UPDATE_FRAMEWORK.Enum(),
			UpdateFramework: &sched.Call_UpdateFramework{FrameworkInfo: info, SuppressedRoles: suppressed}}
	}
	renamed := update(func(i *mesos.FrameworkInfo) { i.Name, i.FailoverTimeout = proto.String("f2"), proto.Float64(60) }, "*")
	status(t, h.post(JSONCodec, "alice", stream, renamed), http.StatusOK, "")
	sub, r := next[*messages.SubscribeFramework](h)
	if sub.GetInfo().GetName() != "f2" || sub.GetInfo().GetId().GetValue() != "F1" || sub.GetInfo().GetFailoverTimeoutNanos() != int64(time.Minute) ||
		!r.sender.Equal(first.Pid) || !sub.Pid.Equal(first.Pid) || sub.Session != first.Session {
		t.Fatalf("the master got the update as %v from %v; want F1 renamed f2, failover 60s, from the bridge %v", sub, r.sender, first.Pid)
	}
	if s, _ := next[*messages.Suppress](h); len(s.Roles) != 1 || s.Roles[0] != "*" {
		t.Fatalf("suppressed %v; want [*]", s.Roles)
	}

	for _, tc := range []struct {
		name   string
		call   *sched.Call
		status int
		want   string
	}{
		{"roles", update(func(i *mesos.FrameworkInfo) { i.Role = proto.String("other") }), 400, "not supported by Agora yet: UPDATE_FRAMEWORK changing the roles"},
		{"user", update(func(i *mesos.FrameworkInfo) { i.User = proto.String("root") }), 400, "changing the user"},
		{"principal", update(func(i *mesos.FrameworkInfo) { i.Principal = proto.String("bob") }), 400, "cannot change the principal"},
		{"another framework", update(func(i *mesos.FrameworkInfo) { i.Id.Value = proto.String("F2") }), 400, "differs from 'framework_id'"},
		{"suppressing a role not its", update(func(*mesos.FrameworkInfo) {}, "r9"), 400, `suppressed role "r9"`},
		{"no framework_info", &sched.Call{FrameworkId: &mesos.FrameworkID{Value: proto.String("F1")}, Type: sched.Call_UPDATE_FRAMEWORK.Enum()}, 400, "framework_info"},
	} {
		t.Run(tc.name, func(t *testing.T) { status(t, h.post(JSONCodec, "alice", stream, tc.call), tc.status, tc.want) })
	}
	// Another client's stream ID is checked as for any call.
	status(t, h.post(JSONCodec, "bob", stream, renamed), http.StatusForbidden, "subscribed by alice")
}

func TestCheckFrameworkUpdate(t *testing.T) {
	base := func() framework {
		f, err := frameworkIn(&mesos.FrameworkInfo{User: proto.String("u"), Name: proto.String("f"), Roles: []string{"a", "b"},
			Capabilities: []*mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE.Enum()}}})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	same := base()
	same.info.Roles = []string{"b", "a"} // a set: order does not matter
	same.info.Name = "renamed"
	if err := checkFrameworkUpdate(base(), same); err != nil {
		t.Fatalf("renaming, roles reordered: %v", err)
	}
	revocable := base()
	revocable.info.Capabilities = []messages.Capability{messages.Capability_REVOCABLE_RESOURCES}
	if err := checkFrameworkUpdate(base(), revocable); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "REVOCABLE_RESOURCES") {
		t.Fatalf("adding REVOCABLE_RESOURCES: %v; want it refused by name", err)
	}
}

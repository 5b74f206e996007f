package master_test

import (
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
)

// Changing a role's weight or quota rescinds outstanding offers (the new
// policy applies at once) and shows in /state; a bad update is refused.
func TestRoleUpdateRescindsOffers(t *testing.T) {
	c := testkit.Start(t, testkit.Options{Agents: 1})
	c.StartScheduler(frameworkInfo("fw", "r"), nil)
	c.Events.WaitFor(t, offersOf("fw"))
	mark := c.Events.Mark()
	two := 2.0
	res := c.Request(t, c.Master, &messages.UpdateRole{Role: "r", Weight: &two,
		Quota: &messages.RoleQuota{Guarantee: []*messages.Resource{{Name: "cpus", Scalar: 1}}}})
	cfg, ok := res.(*messages.RoleConfig)
	if !ok || len(cfg.Roles) != 1 || cfg.Roles[0].Weight != 2 {
		t.Fatalf("reply: %v", res)
	}
	c.Events.WaitForSince(t, mark, func(ev any) bool {
		se, ok := ev.(testkit.SchedulerEvent)
		r, rescind := se.Event.(*messages.RescindOffer)
		return ok && rescind && r.Reason == "role policy changed"
	})
	// Offered again under the new policy.
	c.AdvanceUntil(t, mark, 20*time.Second, offersOf("fw"))
	c.StateWhere(t, func(st *messages.MasterState) bool { return len(st.GetRoles().GetRoles()) == 1 })

	bad := -1.0
	res = c.Request(t, c.Master, &messages.UpdateRole{Role: "r", Weight: &bad})
	if e, ok := res.(*messages.Error); !ok || e.Code != messages.Error_INVALID_ARGUMENT {
		t.Fatalf("bad weight: %v", res)
	}
}

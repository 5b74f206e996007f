package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// dueAt hands out, in a fixed order, the sent in-flight updates whose
// resend time has come (disarming them), and names the earliest resend
// still armed; an acknowledgement disarms its task's resend.
func TestUpdateResendsDue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	u := newUpdateQueues(2*time.Second, time.Minute)
	up := func(id string) *messages.StatusUpdate {
		return &messages.StatusUpdate{Status: &messages.TaskStatus{TaskId: &messages.TaskID{Value: id}, Uuid: []byte(id)}}
	}
	keys := []taskKey{{"f2", "a"}, {"f1", "b"}, {"f1", "a"}, {"f1", "c"}}
	for i, k := range keys {
		u.push(k, up(k.task))
		if k.task != "c" { // c's head never went out: never resent
			u.markSent(k)
		}
		u.setDue(k, t0.Add(time.Duration(i)*time.Second))
	}
	if got, next := u.dueAt(t0.Add(-time.Second)); len(got) != 0 || !next.Equal(t0) {
		t.Fatalf("before any is due: %v, next %v; want none, next %v", got, next, t0)
	}
	got, next := u.dueAt(t0.Add(3 * time.Second))
	if want := []taskKey{{"f1", "a"}, {"f1", "b"}, {"f2", "a"}}; !slices.Equal(got, want) || !next.IsZero() {
		t.Fatalf("at +3s: %v, next %v; want %v and nothing armed (c's resend dropped: not sent)", got, next, want)
	}
	if again, _ := u.dueAt(t0.Add(time.Hour)); len(again) != 0 {
		t.Fatalf("handed out twice: %v", again)
	}
	k := taskKey{"f1", "a"}
	u.setDue(k, t0.Add(time.Minute))
	if _, matched := u.ack(k, []byte("a")); !matched {
		t.Fatal("acknowledgement of the in-flight update not matched")
	}
	if got, next := u.dueAt(t0.Add(time.Hour)); len(got) != 0 || !next.IsZero() {
		t.Fatalf("after the acknowledgement: %v, next %v; want nothing", got, next)
	}
}

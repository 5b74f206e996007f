package agent

import (
	"bytes"
	"slices"
	"time"

	"github.com/agora-sched/agora/messages"
)

// updateQueues is the agent's status update manager (plain data): per task,
// updates wait in order and one is in flight until the scheduler
// acknowledges it; the in-flight one is resent with exponential backoff.
// An update goes out only once the checkpoint that holds it is durable, so
// the head of a queue may not have been sent yet.
type updateQueues struct {
	queues         map[taskKey]*updateQueue
	initial, limit time.Duration
}

type updateQueue struct {
	updates  []*messages.StatusUpdate
	backoff  time.Duration
	headSent bool      // updates[0] went out (and its retry is armed)
	due      time.Time // when updates[0] is resent if not acknowledged (zero: not armed)
}

func newUpdateQueues(initial, limit time.Duration) *updateQueues {
	return &updateQueues{queues: map[taskKey]*updateQueue{}, initial: initial, limit: limit}
}

// push queues an update.
func (u *updateQueues) push(key taskKey, up *messages.StatusUpdate) {
	q := u.queues[key]
	if q == nil {
		q = &updateQueue{backoff: u.initial}
		u.queues[key] = q
	}
	q.updates = append(q.updates, up)
}

// ack pops the in-flight update if uuid names it, and returns the next one
// to send, if any. matched is false for a stale or unknown acknowledgement.
// A head this run of the agent has not sent yet may still be acknowledged:
// a run before a restart sent it.
func (u *updateQueues) ack(key taskKey, uuid []byte) (next *messages.StatusUpdate, matched bool) {
	q := u.queues[key]
	if q == nil || len(q.updates) == 0 || !bytes.Equal(q.updates[0].Status.Uuid, uuid) {
		return nil, false
	}
	q.updates[0] = nil
	q.updates = q.updates[1:]
	q.backoff = u.initial
	q.headSent, q.due = false, time.Time{}
	if len(q.updates) == 0 {
		delete(u.queues, key)
		return nil, true
	}
	return q.updates[0], true
}

// inFlight returns the update at the head of the task's queue: awaiting
// acknowledgement once sent.
func (u *updateQueues) inFlight(key taskKey) *messages.StatusUpdate {
	if q := u.queues[key]; q != nil && len(q.updates) > 0 {
		return q.updates[0]
	}
	return nil
}

// sent reports whether the head of the task's queue went out.
func (u *updateQueues) sent(key taskKey) bool {
	q := u.queues[key]
	return q != nil && q.headSent
}

// markSent notes that the head of the task's queue went out.
func (u *updateQueues) markSent(key taskKey) {
	if q := u.queues[key]; q != nil && len(q.updates) > 0 {
		q.headSent = true
	}
}

// nextRetry returns how long to wait before resending the in-flight update,
// doubling each time up to the limit.
func (u *updateQueues) nextRetry(key taskKey) time.Duration {
	q := u.queues[key]
	if q == nil {
		return u.initial
	}
	d := q.backoff
	q.backoff = min(q.backoff*2, u.limit)
	return d
}

// setDue arms the resend of the task's in-flight update for at.
func (u *updateQueues) setDue(key taskKey, at time.Time) {
	if q := u.queues[key]; q != nil && len(q.updates) > 0 {
		q.due = at
	}
}

// dueAt returns the tasks whose in-flight update went out and is due for a
// resend at now, disarmed, ordered by framework and task (map order would
// make testkit's simulations irreproducible), and the earliest resend
// still armed after them (zero: none).
func (u *updateQueues) dueAt(now time.Time) (keys []taskKey, next time.Time) {
	for k, q := range u.queues {
		switch {
		case q.due.IsZero():
		case !q.due.After(now):
			q.due = time.Time{}
			if q.headSent && len(q.updates) > 0 {
				keys = append(keys, k)
			}
		case next.IsZero() || q.due.Before(next):
			next = q.due
		}
	}
	slices.SortFunc(keys, taskKey.compare)
	return keys, next
}

// all returns a task's unacknowledged updates, in order.
func (u *updateQueues) all(key taskKey) []*messages.StatusUpdate {
	if q := u.queues[key]; q != nil {
		return q.updates
	}
	return nil
}

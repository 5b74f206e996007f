package agent

import (
	"bytes"
	"time"

	"github.com/agora-sched/agora/messages"
)

// updateQueues is the agent's status update manager (plain data): per task,
// updates wait in order and one is in flight until the scheduler
// acknowledges it; the in-flight one is resent with exponential backoff.
type updateQueues struct {
	queues         map[taskKey]*updateQueue
	initial, limit time.Duration
}

type updateQueue struct {
	updates []*messages.StatusUpdate
	backoff time.Duration
}

func newUpdateQueues(initial, limit time.Duration) *updateQueues {
	return &updateQueues{queues: map[taskKey]*updateQueue{}, initial: initial, limit: limit}
}

// push queues an update; it returns true if it is now in flight (the
// queue was empty) and must be sent.
func (u *updateQueues) push(key taskKey, up *messages.StatusUpdate) bool {
	q := u.queues[key]
	if q == nil {
		q = &updateQueue{backoff: u.initial}
		u.queues[key] = q
	}
	q.updates = append(q.updates, up)
	return len(q.updates) == 1
}

// ack pops the in-flight update if uuid names it, and returns the next one
// to send, if any. matched is false for a stale or unknown acknowledgement.
func (u *updateQueues) ack(key taskKey, uuid []byte) (next *messages.StatusUpdate, matched bool) {
	q := u.queues[key]
	if q == nil || len(q.updates) == 0 || !bytes.Equal(q.updates[0].Status.Uuid, uuid) {
		return nil, false
	}
	q.updates[0] = nil
	q.updates = q.updates[1:]
	q.backoff = u.initial
	if len(q.updates) == 0 {
		delete(u.queues, key)
		return nil, true
	}
	return q.updates[0], true
}

// inFlight returns the update awaiting acknowledgement.
func (u *updateQueues) inFlight(key taskKey) *messages.StatusUpdate {
	if q := u.queues[key]; q != nil && len(q.updates) > 0 {
		return q.updates[0]
	}
	return nil
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

// pending reports whether the task still has unacknowledged updates.
func (u *updateQueues) pending(key taskKey) bool { return u.queues[key] != nil }

// all returns a task's unacknowledged updates, in order.
func (u *updateQueues) all(key taskKey) []*messages.StatusUpdate {
	if q := u.queues[key]; q != nil {
		return q.updates
	}
	return nil
}

package master

import (
	"fmt"

	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// outbox holds what the master sends an agent (and the status updates it
// forwards a framework that takes StatusUpdates) while it works through its
// mailbox, so that the RunTask, StatusUpdateAcknowledgement and StatusUpdate
// messages of a burst (the tasks of an accept, the acknowledgements a flood of status
// updates brings) go out as one RunTasks or StatusUpdateAcknowledgements
// each: over TCP, a message's own cost (envelope, encoding, a mailbox turn
// at each end) was most of what a small task cost the master and its
// agents. One flushOutbox to itself, queued behind what the mailbox holds
// when the first message is held, sends them all: a held message waits no
// longer than the messages already queued take.
//
// Order per destination is kept: once an agent has a held message, every
// later message to it is held too, and the flush sends them in order,
// batching only runs of one kind. A run of one goes as the plain message.
type outbox struct {
	held  map[core.Endpoint][]proto.Message
	order []core.Endpoint // destinations in the order they were first held
	armed bool            // a flushOutbox is queued
}

// flushOutbox: the master's turn to send what it holds.
type flushOutbox struct{}

// send sends msg to `to`, or holds it (see outbox); batch says the core
// marked it for batching (a RunTask or an acknowledgement to an agent that
// takes batches, a status update to a framework that takes them).
func (m *master) send(ctx actor.Context, to core.Endpoint, msg proto.Message, batch bool) {
	if q, held := m.out.held[to]; held {
		m.out.held[to] = append(q, msg)
		return
	}
	if !batch {
		if admit(m.cfg.Fence) {
			ctx.Send(m.pid(to), msg)
		}
		return
	}
	if m.out.held == nil {
		m.out.held = map[core.Endpoint][]proto.Message{}
	}
	m.out.held[to] = []proto.Message{msg}
	m.out.order = append(m.out.order, to)
	if !m.out.armed {
		m.out.armed = true
		ctx.Send(ctx.Self(), flushOutbox{})
	}
}

// flush sends everything held, in order, each run of one kind as its
// batch (coalesce). The fence is asked as each message leaves, as for one
// sent at once: a master deposed meanwhile sends nothing.
func (m *master) flush(ctx actor.Context) {
	for _, to := range m.out.order {
		msgs := m.out.held[to]
		n := 0
		for _, msg := range msgs {
			if admit(m.cfg.Fence) {
				msgs[n] = msg
				n++
			}
		}
		pid := m.pid(to)
		for _, msg := range coalesce(msgs[:n]) {
			ctx.Send(pid, msg)
		}
	}
	clear(m.out.held)
	clear(m.out.order)
	m.out.order = m.out.order[:0]
	m.out.armed = false
}

// coalesce returns msgs in order with each run of two or more RunTask, of
// StatusUpdateAcknowledgement or of StatusUpdate replaced by its batch.
func coalesce(msgs []proto.Message) []proto.Message {
	var out []proto.Message
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && sameBatch(msgs[i], msgs[j]) {
			j++
		}
		out = append(out, batchOf(msgs[i:j]))
		i = j
	}
	return out
}

// sameBatch: b may go in a's batch.
func sameBatch(a, b proto.Message) bool {
	switch a.(type) {
	case *messages.RunTask:
		_, ok := b.(*messages.RunTask)
		return ok
	case *messages.StatusUpdateAcknowledgement:
		_, ok := b.(*messages.StatusUpdateAcknowledgement)
		return ok
	case *messages.StatusUpdate:
		// Held only for a framework that takes StatusUpdates.
		_, ok := b.(*messages.StatusUpdate)
		return ok
	}
	return false
}

// batchOf is a run of one kind as one message: itself when alone.
func batchOf(run []proto.Message) proto.Message {
	if len(run) == 1 {
		return run[0]
	}
	switch run[0].(type) {
	case *messages.RunTask:
		b := &messages.RunTasks{Tasks: make([]*messages.RunTask, len(run))}
		for i, msg := range run {
			b.Tasks[i] = msg.(*messages.RunTask)
		}
		return b
	case *messages.StatusUpdateAcknowledgement:
		b := &messages.StatusUpdateAcknowledgements{Acks: make([]*messages.StatusUpdateAcknowledgement, len(run))}
		for i, msg := range run {
			b.Acks[i] = msg.(*messages.StatusUpdateAcknowledgement)
		}
		return b
	case *messages.StatusUpdate:
		b := &messages.StatusUpdates{Updates: make([]*messages.StatusUpdate, len(run))}
		for i, msg := range run {
			b.Updates[i] = msg.(*messages.StatusUpdate)
		}
		return b
	}
	panic(fmt.Sprintf("master outbox: a run of %d %T, which has no batch (sameBatch groups only batched kinds)", len(run), run[0]))
}

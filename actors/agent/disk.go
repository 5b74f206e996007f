package agent

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/agora-sched/agora/runtime/checkpoint"
	"github.com/asynkron/protoactor-go/actor"
)

// The agent's disk. Checkpoint writes and removals (each two fsyncs or
// more) run off the actor, on a few writer goroutines; each owner's in the
// order the agent asks for them. Each reports back as a diskDone message. What must follow a write
// waits for it with whenDurable: a status update is sent, an executor's
// update acknowledged, an executor told it is registered, a task launched,
// and the agent acts as registered, only once the state they depend on is
// on disk. An abandoned write (the agent stopped first) is therefore
// safe: nothing that depends on it went out.
//
// Writes are grouped by owner (a task, an executor, the agent's identity):
// an owner's writes replace one another, so of several queued for the same
// path only the last is carried out.

// Owners of disk writes.
const agentIDOwner = "agent_id"

func taskOwner(k taskKey) string         { return "task/" + k.framework + "/" + k.task }
func executorOwner(k executorKey) string { return "executor/" + k.framework + "/" + k.executor }

// diskOp writes data to path atomically, or removes path.
type diskOp struct {
	seq    uint64
	owner  string
	path   string
	data   []byte
	remove bool
}

// diskDone reports the op seq of owner carried out (and every earlier op
// of the owner, which it replaced or followed).
type diskDone struct {
	owner string
	seq   uint64
	path  string
	err   error
}

// disk is, on the actor's side, what each owner waits for, and the lanes
// the writers empty. An owner's ops all go to one lane, in order; lanes
// run side by side, so that the fsyncs of different tasks share the
// file system's journal commits instead of queueing for one writer.
type disk struct {
	seq    uint64
	owners map[string]*diskOwner // owners with writes in flight or waiters; removed when idle
	lanes  [diskLanes]*diskLane
}

// diskLanes is how many writers an agent runs.
const diskLanes = 8

// diskLane is a queue the actor fills and one writer goroutine empties.
type diskLane struct {
	running bool // the writer was started (actor side)

	mu    sync.Mutex
	queue []diskOp
	wake  chan struct{}
}

type diskOwner struct {
	queued, done uint64 // seq of the owner's last queued and last carried-out op
	err          error  // of the last carried-out op
	waiters      []diskWaiter
}

type diskWaiter struct {
	seq  uint64
	then func(actor.Context, error)
}

func newDisk() *disk {
	d := &disk{owners: map[string]*diskOwner{}}
	for i := range d.lanes {
		d.lanes[i] = &diskLane{wake: make(chan struct{}, 1)}
	}
	return d
}

// lane is the lane of owner's ops.
func (d *disk) lane(owner string) *diskLane {
	h := fnv.New32a()
	_, _ = h.Write([]byte(owner))
	return d.lanes[h.Sum32()%diskLanes]
}

// persist queues a durable write of data to path for owner.
func (a *agent) persist(owner, path string, data []byte) {
	a.queueDisk(diskOp{owner: owner, path: path, data: data})
}

// unpersist queues the durable removal of path for owner.
func (a *agent) unpersist(owner, path string) {
	a.queueDisk(diskOp{owner: owner, path: path, remove: true})
}

func (a *agent) queueDisk(op diskOp) {
	d := a.disk
	d.seq++
	op.seq = d.seq
	o := d.owners[op.owner]
	if o == nil {
		o = &diskOwner{}
		d.owners[op.owner] = o
	}
	o.queued = op.seq
	if a.cfg.WriteInline {
		// Done before the agent goes on: nothing can be waiting for it,
		// as whenDurable runs at once what is asked after it.
		done := carryOut(op, a.cfg.diskHook)
		o.done, o.err = done.seq, done.err
		if done.err != nil {
			a.logDiskError(done)
		}
		delete(d.owners, op.owner)
		return
	}
	l := d.lane(op.owner)
	l.mu.Lock()
	l.queue = append(l.queue, op)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default: // already woken
	}
	if !l.running {
		l.running = true
		sys, self, hook := a.sys, a.self, a.cfg.diskHook
		a.bg.run(func(ctx context.Context) { l.write(ctx, hook, func(m diskDone) { sys.Root.Send(self, m) }) })
	}
}

// whenDurable runs then once every write queued for owner so far is
// carried out: at once if none is pending. err is the last write's.
func (a *agent) whenDurable(ctx actor.Context, owner string, then func(actor.Context, error)) {
	o := a.disk.owners[owner]
	if o == nil || o.done >= o.queued {
		var err error
		if o != nil {
			err = o.err
		}
		then(ctx, err)
		return
	}
	o.waiters = append(o.waiters, diskWaiter{seq: o.queued, then: then})
}

func (a *agent) handleDiskDone(ctx actor.Context, m diskDone) {
	o := a.disk.owners[m.owner]
	if o == nil || m.seq <= o.done {
		return
	}
	o.done, o.err = m.seq, m.err
	if m.err != nil {
		a.logDiskError(m)
	}
	n := 0
	for n < len(o.waiters) && o.waiters[n].seq <= o.done {
		n++
	}
	ready := o.waiters[:n:n]
	o.waiters = o.waiters[n:]
	if o.done >= o.queued && len(o.waiters) == 0 {
		delete(a.disk.owners, m.owner)
	}
	for _, w := range ready {
		w.then(ctx, m.err)
	}
}

func (a *agent) logDiskError(m diskDone) {
	a.log.Error("checkpoint write failed: what it records would not survive an agent restart; the agent goes on (check the work dir's disk)",
		"owner", m.owner, "path", m.path, "err", m.err)
}

// carryOut does op (after hook, if any) and reports it.
func carryOut(op diskOp, hook func(path string)) diskDone {
	if hook != nil {
		hook(op.path)
	}
	var err error
	if op.remove {
		err = checkpoint.Remove(op.path)
	} else {
		err = checkpoint.WriteFile(op.path, op.data)
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", op.owner, err)
	}
	return diskDone{owner: op.owner, seq: op.seq, path: op.path, err: err}
}

// write is a lane's writer goroutine: it carries out queued ops in order
// until ctx is done, skipping an op when a later one in the same batch
// replaces it, and reports each with done.
func (l *diskLane) write(ctx context.Context, hook func(path string), done func(diskDone)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
		l.mu.Lock()
		batch := l.queue
		l.queue = nil
		l.mu.Unlock()
		last := make(map[string]int, len(batch))
		for i, op := range batch {
			last[op.path] = i
		}
		for i, op := range batch {
			if last[op.path] != i {
				continue // a later op on the same path replaces it
			}
			if ctx.Err() != nil {
				return
			}
			done(carryOut(op, hook))
		}
	}
}

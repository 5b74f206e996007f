package master

import (
	"sync"
	"sync/atomic"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/encoding/protojson"
)

// Snapshot is an immutable view of the master's state. Its JSON is rendered
// once, by the first reader that needs it, never by the master actor.
type Snapshot struct {
	State    *messages.MasterState
	jsonOnce sync.Once
	json     []byte
	// compact is the JSON on one line, for the state stream.
	compactOnce sync.Once
	compact     []byte
}

// JSON renders the snapshot with proto field names.
func (s *Snapshot) JSON() []byte {
	s.jsonOnce.Do(func() {
		s.json, _ = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true, Indent: "  "}.Marshal(s.State)
	})
	return s.json
}

// Publisher hands the master's latest snapshot to readers on other
// goroutines (HTTP, CLI) so that reading state never blocks the master.
type Publisher struct {
	cur     atomic.Pointer[Snapshot]
	mu      sync.Mutex
	changed chan struct{}
}

// Latest returns the newest snapshot, or nil before the first.
func (p *Publisher) Latest() *Snapshot { return p.cur.Load() }

// State is the newest snapshot's state, or nil before the first.
func (p *Publisher) State() *messages.MasterState {
	if s := p.Latest(); s != nil {
		return s.State
	}
	return nil
}

// Changed returns a channel closed when a snapshot newer than Latest() at
// the time of the call is published.
func (p *Publisher) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

func (p *Publisher) publish(st *messages.MasterState) {
	p.mu.Lock()
	p.cur.Store(&Snapshot{State: st})
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
	p.mu.Unlock()
}

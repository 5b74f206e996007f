package leader

import (
	"context"
	"sync"

	"github.com/agora-sched/agora/messages"
)

// Group is an election held in memory, for tests and simulations in one
// process: contenders are elected in the order they campaign, each term
// with the next epoch, and a term ends when its master resigns, its
// campaign's context ends, or the test deposes it (as a lost session
// would). Its detectors see every change. The zero value is ready.
type Group struct {
	mu      sync.Mutex
	epoch   uint64
	term    *Term
	queue   []*candidate
	leader  *messages.MasterInfo
	changed chan struct{} // closed and replaced on every change
}

type candidate struct {
	info    *messages.MasterInfo
	elected chan *Term
}

// Contender is a contender for info in this election.
func (g *Group) Contender(info *messages.MasterInfo) Contender {
	return groupContender{g: g, info: info}
}

type groupContender struct {
	g    *Group
	info *messages.MasterInfo
}

// Campaign implements Contender.
func (c groupContender) Campaign(ctx context.Context) (*Term, error) {
	g := c.g
	cand := &candidate{info: c.info, elected: make(chan *Term, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, cand)
	g.electLocked()
	g.mu.Unlock()
	select {
	case term := <-cand.elected:
		go func() {
			select {
			case <-ctx.Done():
				term.Resign()
			case <-term.Lost():
			}
		}()
		return term, nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case term := <-cand.elected: // elected meanwhile: give it up
			g.endLocked(term, ErrResigned)
		default:
			for i, q := range g.queue {
				if q == cand {
					g.queue = append(g.queue[:i], g.queue[i+1:]...)
					break
				}
			}
		}
		return nil, ctx.Err()
	}
}

// electLocked starts the next term if none runs and someone waits.
func (g *Group) electLocked() {
	if g.term != nil || len(g.queue) == 0 {
		return
	}
	cand := g.queue[0]
	g.queue = g.queue[1:]
	g.epoch++
	var term *Term
	term = newTerm(cand.info, g.epoch, func(context.Context) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.term != term {
			return ErrDeposed
		}
		g.setLeaderLocked(term.Leader)
		return nil
	}, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.endLocked(term, ErrResigned)
	})
	g.term = term
	cand.elected <- term
}

// endLocked ends term (if it is the current one) and elects the next.
func (g *Group) endLocked(term *Term, err error) {
	term.end(err)
	if g.term != term {
		return
	}
	g.term = nil
	if g.leader != nil {
		g.setLeaderLocked(nil)
	}
	g.electLocked()
}

// Depose ends the current term as a lost session would (its master sees
// ErrDeposed) and elects the next contender waiting, if any. It returns
// false when no term runs.
func (g *Group) Depose() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.term == nil {
		return false
	}
	g.endLocked(g.term, ErrDeposed)
	return true
}

// Leader is the current leader as detectors see it (nil: none, or not
// announced yet).
func (g *Group) Leader() *messages.MasterInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.leader
}

func (g *Group) setLeaderLocked(info *messages.MasterInfo) {
	g.leader = info
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
}

// Detector is a detector of this election's leader.
func (g *Group) Detector() Detector { return groupDetector{g} }

type groupDetector struct{ g *Group }

// Detect implements Detector.
func (d groupDetector) Detect(ctx context.Context, previous *messages.MasterInfo) (*messages.MasterInfo, error) {
	g := d.g
	for {
		g.mu.Lock()
		if !Same(g.leader, previous) {
			defer g.mu.Unlock()
			return g.leader, nil
		}
		if g.changed == nil {
			g.changed = make(chan struct{})
		}
		changed := g.changed
		g.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

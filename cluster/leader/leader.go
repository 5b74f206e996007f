package leader

import (
	"context"
	"sync"

	"github.com/agora-sched/agora/messages"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Contender campaigns for leadership on behalf of one master.
type Contender interface {
	// Campaign blocks until this master is elected and returns its term,
	// or returns the error that stopped the campaign (ctx's when it
	// ended). ctx bounds the term too: when it ends, the term is resigned.
	// Detectors see the new leader only once the term is announced
	// (Term.Announce), which the master does when it is ready to serve:
	// agents and schedulers that find it then do not knock at a master
	// still starting.
	Campaign(ctx context.Context) (*Term, error)
}

// Detector finds the leading master.
type Detector interface {
	// Detect returns the leader as soon as it differs from previous (nil
	// when none is elected now), blocking while it does not. It retries
	// failures itself and returns an error only when ctx ends, wrapping
	// ctx's error and the last failure.
	Detect(ctx context.Context, previous *messages.MasterInfo) (*messages.MasterInfo, error)
}

// Watch calls changed with every change of leader (nil: none is elected
// now) until ctx ends. changed runs on Watch's goroutine.
func Watch(ctx context.Context, d Detector, changed func(*messages.MasterInfo)) {
	var last *messages.MasterInfo
	for {
		info, err := d.Detect(ctx, last)
		if err != nil {
			return
		}
		last = info
		changed(info)
	}
}

// WaitFor returns the first leader d detects that satisfies ok, waiting up
// to ctx for one.
func WaitFor(ctx context.Context, d Detector, ok func(*messages.MasterInfo) bool) (*messages.MasterInfo, error) {
	var info *messages.MasterInfo
	for {
		var err error
		if info, err = d.Detect(ctx, info); err != nil {
			return nil, err
		}
		if info != nil && ok(info) {
			return info, nil
		}
	}
}

// Same reports whether a and b are the same leader in the same term.
func Same(a, b *messages.MasterInfo) bool { return proto.Equal(a, b) }

// Term is one period of leadership of one master.
type Term struct {
	// Leader is this master as elected: its MasterInfo with the term's
	// epoch. Read only.
	Leader *messages.MasterInfo

	lost    chan struct{}
	endOnce sync.Once
	err     error
	// release gives the lock up and returns when it is released or
	// cannot be; it runs once, on Resign.
	release     func()
	releaseOnce sync.Once
	// announce makes the term visible to detectors.
	announce func(ctx context.Context) error
}

func newTerm(info *messages.MasterInfo, epoch uint64, announce func(context.Context) error, release func()) *Term {
	info = proto.Clone(info).(*messages.MasterInfo)
	info.Epoch = epoch
	return &Term{Leader: info, lost: make(chan struct{}), announce: announce, release: release}
}

// Announce publishes the term, so that detectors find this master; call
// it once the master serves. An error means the term could not be
// published (it is lost, or Consul did not answer in time): resign.
func (t *Term) Announce(ctx context.Context) error {
	select {
	case <-t.lost:
		return t.err
	default:
	}
	return t.announce(ctx)
}

// Epoch is the term's epoch, larger than every earlier term's.
func (t *Term) Epoch() uint64 { return t.Leader.GetEpoch() }

// Lost is closed when the term has ended: the master must stop acting as
// leader at once (Err says why).
func (t *Term) Lost() <-chan struct{} { return t.lost }

// Err is why the term ended (ErrLeaseExpired, ErrLockLost, ErrResigned,
// ErrDeposed), nil while it lasts.
func (t *Term) Err() error {
	select {
	case <-t.lost:
		return t.err
	default:
		return nil
	}
}

// Resign ends the term and gives up the lock, so that another master can
// lead at once (a master shutting down, or one that cannot lead). It
// returns once the lock is released or could not be (within a deadline).
func (t *Term) Resign() {
	t.end(ErrResigned)
	t.releaseOnce.Do(func() {
		if t.release != nil {
			t.release()
		}
	})
}

// end closes Lost with err; the first reason stays.
func (t *Term) end(err error) {
	t.endOnce.Do(func() {
		t.err = err
		close(t.lost)
	})
}

// Key is the lock key of a cluster in Consul's KV store.
func Key(cluster string) string { return "agora/" + cluster + "/leader" }

// Decode reads the leader's MasterInfo from the lock key's value; nil when
// the key has no holder or no elected leader's value (epoch 0: a holder
// that has not published its epoch yet).
func Decode(value []byte, session string) *messages.MasterInfo {
	if session == "" || len(value) == 0 {
		return nil
	}
	info := &messages.MasterInfo{}
	if err := protojson.Unmarshal(value, info); err != nil || info.Epoch == 0 {
		return nil
	}
	return info
}

func encode(info *messages.MasterInfo, epoch uint64) ([]byte, error) {
	info = proto.Clone(info).(*messages.MasterInfo)
	info.Epoch = epoch
	return protojson.Marshal(info)
}

package mastership

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/actors/allocation"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
)

// Config is what a seat is built from.
type Config struct {
	System *actor.ActorSystem
	// Info is this master (with its Pid); each term's epoch is set on a
	// copy.
	Info *messages.MasterInfo
	// Term builds the configurations of a term's master and allocator
	// actors for info (this master with the term's epoch), when the term
	// starts: an error (its role configuration cannot be read, say) gives
	// the term up. The seat sets master.Config.Allocator, and
	// master.Config.Info, allocation.Config.Master and both clocks when
	// nil (a master.Config.Info of Term's own, to name each term's master
	// apart as testkit does, must carry info's epoch).
	Term func(info *messages.MasterInfo) (master.Config, allocation.Config, error)
	// Standby: hold the master's name with a standby actor while not
	// leading (several masters). Without it the name is free between
	// terms (a single master; testkit).
	Standby bool
	// Stop stops actors and returns once they have stopped; default
	// StopFuture on each. testkit's serial clusters drain their
	// dispatcher instead.
	Stop   func(pids ...*actor.PID)
	Clock  clockwork.Clock
	Logger *slog.Logger
	// Registerer takes the seat's metrics; nil: a registry of its own.
	Registerer prometheus.Registerer
	// WarmHeap is how many bytes a standby keeps allocated and written
	// while it stands by, freed and collected as it starts to lead (0:
	// none). The new leader's heap then grows into pages the process
	// already has instead of faulting in fresh ones while it takes every
	// agent's re-registration: on a virtual machine each fault is dear,
	// and at 40,000 agents they were a seventh of the rebuild's CPU
	// (docs/benchmarks.md, session 18). About the leader's resident
	// memory is what pays; the standby holds it meanwhile.
	WarmHeap int
}

// Seat is a master node's place in the election: leading or standing by.
type Seat struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	leading  atomic.Bool
	own      atomic.Pointer[messages.MasterInfo] // this master's term while leading
	detected atomic.Pointer[messages.MasterInfo] // the leader as last detected

	mu      sync.Mutex // serializes Lead and StepDown
	term    *term
	standby *actor.PID
	warm    []byte // Config.WarmHeap, while standing by
}

// term is what a term runs.
type term struct {
	info   *messages.MasterInfo
	master *actor.PID
	alloc  *actor.PID
	fenced *atomic.Bool
}

// New builds a seat; it neither leads nor stands by until Run or Lead.
func New(cfg Config) *Seat {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Stop == nil {
		sys := cfg.System
		cfg.Stop = func(pids ...*actor.PID) {
			for _, pid := range pids {
				_ = sys.Root.StopFuture(pid).Wait()
			}
		}
	}
	return &Seat{cfg: cfg, log: cfg.Logger.With("component", "mastership", "master_id", cfg.Info.GetId()), metrics: newMetrics(cfg.Registerer)}
}

// Run stands by and campaigns with contender until ctx ends: each term it
// wins it leads until the term is lost, then stands by and campaigns
// again. detector (nil: none) keeps the leader the standby names current.
// On return the seat no longer leads and its lock is given up.
func (s *Seat) Run(ctx context.Context, contender leader.Contender, detector leader.Detector) {
	s.mu.Lock()
	s.warmLocked()
	s.spawnStandbyLocked()
	s.mu.Unlock()
	if detector != nil {
		go leader.Watch(ctx, detector, s.Follow)
	}
	clock := s.cfg.Clock
	retry := time.Second
	for ctx.Err() == nil {
		// Standing by again (after a term, or a term that could not
		// start): warm before campaigning. Not in StepDown, which a
		// shutting-down master also calls before it gives the lock up.
		s.mu.Lock()
		s.warmLocked()
		s.mu.Unlock()
		t, err := contender.Campaign(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("cannot campaign for leadership; retrying", "err", err, "retry_in", retry)
				sleep(ctx, clock, retry)
				retry = min(2*retry, 15*time.Second)
			}
			continue
		}
		retry = time.Second
		if err := s.Lead(t.Epoch()); err != nil {
			// Another master may be able to: give the lock up.
			s.log.Error("elected but cannot start leading; giving up the lock", "epoch", t.Epoch(), "err", err)
			t.Resign()
			sleep(ctx, clock, 5*time.Second)
			continue
		}
		// Serving now: let agents and schedulers find it.
		if err := t.Announce(ctx); err != nil {
			s.StepDown(err)
			t.Resign()
			continue
		}
		select {
		case <-t.Lost():
			s.StepDown(t.Err())
		case <-ctx.Done():
			s.StepDown(leader.ErrResigned)
			t.Resign() // after stepping down: a successor may start at once
		}
	}
}

// Lead starts a term with epoch: the allocator, then the master, in place
// of the standby.
func (s *Seat) Lead(epoch uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.term != nil {
		return fmt.Errorf("already leading with epoch %d", s.term.info.Epoch)
	}
	info := proto.Clone(s.cfg.Info).(*messages.MasterInfo)
	info.Epoch = epoch
	// What can fail is read before the standby gives up the name.
	mcfg, acfg, err := s.cfg.Term(info)
	if err != nil {
		return err
	}
	if s.standby != nil {
		s.cfg.Stop(s.standby)
		s.standby = nil
	}
	s.coolLocked()
	t := &term{info: info, fenced: &atomic.Bool{}}
	fence := &termFence{fenced: t.fenced, sent: s.metrics.sent, dropped: s.metrics.fenced}
	sys := s.cfg.System
	if acfg.Master == nil {
		acfg.Master = actor.NewPID(sys.Address(), master.Name)
	}
	if acfg.Clock == nil {
		acfg.Clock = s.cfg.Clock
	}
	if mcfg.Clock == nil {
		mcfg.Clock = s.cfg.Clock
	}
	acfg.Fence = fence
	if t.alloc, err = sys.Root.SpawnNamed(allocation.Props(acfg), allocation.Name); err != nil {
		s.spawnStandbyLocked()
		return fmt.Errorf("spawn the allocator: %w", err)
	}
	if mcfg.Info == nil {
		mcfg.Info = info
	} else if mcfg.Info.GetEpoch() != epoch {
		s.cfg.Stop(t.alloc)
		s.spawnStandbyLocked()
		return fmt.Errorf("the term's master is configured with epoch %d, not the term's %d", mcfg.Info.GetEpoch(), epoch)
	}
	mcfg.Allocator = t.alloc
	mcfg.Fence = fence
	if t.master, err = sys.Root.SpawnNamed(master.Props(mcfg), master.Name); err != nil {
		s.cfg.Stop(t.alloc)
		s.spawnStandbyLocked()
		return fmt.Errorf("spawn the master: %w", err)
	}
	s.term = t
	s.own.Store(info)
	s.leading.Store(true)
	s.metrics.leading.Set(1)
	s.metrics.epoch.Set(float64(epoch))
	s.log.Info("leading", "epoch", epoch)
	sys.EventStream.Publish(Leading{Epoch: epoch})
	return nil
}

// Events a seat publishes on its actor system's EventStream (tests and
// testkit wait on them).
type (
	// Leading: a term started; its master and allocator run.
	Leading struct{ Epoch uint64 }
	// SteppedDown: a term ended and its actors have stopped; Took is the
	// time from the decision to their stop.
	SteppedDown struct {
		Epoch  uint64
		Reason error
		Took   time.Duration
	}
	// StandingBy: the standby actor holds the master's name.
	StandingBy struct{}
	// HeapWarmed: the standby holds Bytes of warm heap (Config.WarmHeap).
	HeapWarmed struct{ Bytes int }
)

// StepDown ends the current term at once (reason says why): the HTTP API
// stops answering as leader and the term's actors stop sending, then they
// are stopped and the standby takes the master's name.
func (s *Seat) StepDown(reason error) {
	decided := s.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.term
	if t == nil {
		return
	}
	s.leading.Store(false)
	t.fenced.Store(true)
	s.term = nil
	s.own.Store(nil)
	s.metrics.leading.Set(0)
	s.metrics.epoch.Set(0)
	s.metrics.stepDowns.Inc()
	s.log.Error("stepping down: no longer leading; the master and allocator send nothing more and are stopping",
		"epoch", t.info.Epoch, "reason", errorText(reason))
	s.cfg.Stop(t.master, t.alloc)
	s.spawnStandbyLocked()
	took := s.cfg.Clock.Since(decided)
	s.log.Info("stepped down: master and allocator stopped", "epoch", t.info.Epoch, "took", took)
	s.cfg.System.EventStream.Publish(SteppedDown{Epoch: t.info.Epoch, Reason: reason, Took: took})
}

func errorText(err error) string {
	if err == nil {
		return "unknown"
	}
	return err.Error()
}

// Follow records the leader as detected (nil: none), for the standby's
// answers and the HTTP redirect.
func (s *Seat) Follow(info *messages.MasterInfo) { s.detected.Store(info) }

// Leading reports whether this master leads now.
func (s *Seat) Leading() bool { return s.leading.Load() }

// Leader is the leader as this master knows it: itself while leading, the
// detected one otherwise (nil: unknown).
func (s *Seat) Leader() *messages.MasterInfo {
	if own := s.own.Load(); own != nil {
		return own
	}
	return s.detected.Load()
}

// Master and Allocator are the current term's actors (nil between terms).
func (s *Seat) Master() *actor.PID {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.term == nil {
		return nil
	}
	return s.term.master
}

// Allocator is the current term's allocator actor (nil between terms).
func (s *Seat) Allocator() *actor.PID {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.term == nil {
		return nil
	}
	return s.term.alloc
}

func (s *Seat) spawnStandbyLocked() {
	if !s.cfg.Standby || s.standby != nil {
		return
	}
	pid, err := s.cfg.System.Root.SpawnNamed(StandbyProps(s.Leader, s.log), master.Name)
	if err != nil {
		// The stopped master still holds the name (Stop timed out):
		// messages to it are dead letters until then.
		s.log.Error("cannot start the standby actor", "err", err)
		return
	}
	s.standby = pid
	s.cfg.System.EventStream.Publish(StandingBy{})
}

// warmLocked allocates and writes Config.WarmHeap for the standby to hold
// until it leads. Every page is written: a page only allocated costs its
// fault when the next term first writes it.
func (s *Seat) warmLocked() {
	if s.cfg.WarmHeap <= 0 || !s.cfg.Standby || s.warm != nil {
		return
	}
	start := s.cfg.Clock.Now()
	s.warm = make([]byte, s.cfg.WarmHeap)
	for i := 0; i < len(s.warm); i += os.Getpagesize() {
		s.warm[i] = 1
	}
	s.metrics.warmHeap.Set(float64(len(s.warm)))
	s.log.Info("standing by with a warm heap for the next term", "bytes", len(s.warm), "took", s.cfg.Clock.Since(start))
	s.cfg.System.EventStream.Publish(HeapWarmed{Bytes: len(s.warm)})
}

// coolLocked frees the warm heap as a term starts and collects it at once
// (a collection of the standby's small heap, before the term's actors
// exist): left to the next collection, which the warm heap's size puts far
// off, the term would grow into fresh pages beside it.
func (s *Seat) coolLocked() {
	if s.warm == nil {
		return
	}
	s.warm = nil
	start := s.cfg.Clock.Now()
	runtime.GC()
	s.metrics.warmHeap.Set(0)
	s.log.Info("the warm heap is free for the term", "took", s.cfg.Clock.Since(start))
}

// termFence is a term's actors' fence: it counts what they send, and
// admits nothing once the term has ended. (Asked by the actors before each
// send rather than installed as sender middleware, which would wrap every
// message in an envelope: an allocation per offer.)
type termFence struct {
	fenced        *atomic.Bool
	sent, dropped prometheus.Counter
}

// Admit implements master.Fence.
func (f *termFence) Admit() bool {
	if f.fenced.Load() {
		f.dropped.Inc()
		return false
	}
	f.sent.Inc()
	return true
}

// Handler serves api while leading and redirects (307) to the leader
// otherwise; metrics is always this node's own.
func (s *Seat) Handler(api, metrics http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			metrics.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/redirect" || r.URL.Path == "/master/redirect" {
			s.redirect(w, r)
			return
		}
		if s.leading.Load() {
			api.ServeHTTP(w, r)
			return
		}
		l := s.Leader()
		if l == nil || l.HttpAddress == "" || l.Id == s.cfg.Info.GetId() {
			http.Error(w, "this master is not leading (it stands by) and knows of no leader now; retry shortly", http.StatusServiceUnavailable)
			return
		}
		u := *r.URL
		u.Scheme, u.Host = "http", l.HttpAddress
		if r.TLS != nil {
			u.Scheme = "https" // masters of a cluster serve alike
		}
		http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
	})
}

// redirect answers Mesos' /redirect and /master/redirect, which tools use
// to find the leader: 307 to "//leader:port" from any master, the leader
// included, and 503 while none is known.
func (s *Seat) redirect(w http.ResponseWriter, r *http.Request) {
	addr := ""
	if s.leading.Load() {
		addr = s.cfg.Info.GetHttpAddress()
	} else if l := s.Leader(); l != nil {
		addr = l.HttpAddress
	}
	if addr == "" {
		http.Error(w, "no leading master is known now; retry shortly", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Location", "//"+addr)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// StandbyProps is the actor that holds the master's name on a master that
// does not lead: it answers every request with Error{NOT_LEADER} naming
// the leader (leader(), nil when none is known), so an agent or scheduler
// configured with this address learns where to go.
func StandbyProps(leader func() *messages.MasterInfo, logger *slog.Logger) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		msg, ok := ctx.Message().(proto.Message)
		if !ok || ctx.Sender() == nil {
			return
		}
		switch msg.(type) {
		case *messages.Error:
			return
		case *actor.Touch:
			return // a liveness probe (/health): the actor system answers it
		}
		l := leader()
		text := "this master is a standby and knows of no leader now; retry shortly"
		if l != nil {
			text = fmt.Sprintf("this master is a standby; the leader is %s (epoch %d)", l.Address, l.Epoch)
		}
		logger.Debug("standby refused a request", "type", fmt.Sprintf("%T", msg), "sender", ctx.Sender())
		ctx.Respond(&messages.Error{Code: messages.Error_NOT_LEADER, Message: text, Request: string(msg.ProtoReflect().Descriptor().FullName()), Leader: l})
	})
}

type metrics struct {
	leading, epoch, warmHeap prometheus.Gauge
	stepDowns, sent, fenced  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		leading: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "master", Name: "leading",
			Help: "1 while this master leads, 0 while it stands by."}),
		epoch: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "master", Name: "epoch",
			Help: "Epoch of this master's current term (0: not leading)."}),
		warmHeap: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "agora", Subsystem: "master", Name: "warm_heap_bytes",
			Help: "Bytes this standby holds written for its next term (--standby-warm-heap); 0 while leading."}),
		stepDowns: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "step_downs_total",
			Help: "Terms this master ended (lease expired, lock lost, shut down)."}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "messages_sent_total",
			Help: "Messages the leading master's actors sent; it stops growing when the master steps down."}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "agora", Subsystem: "master", Name: "messages_fenced_total",
			Help: "Messages a stepping-down master's actors tried to send after their term ended, dropped."}),
	}
	reg.MustRegister(m.leading, m.epoch, m.warmHeap, m.stepDowns, m.sent, m.fenced)
	return m
}

func sleep(ctx context.Context, clock clockwork.Clock, d time.Duration) {
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.Chan():
	}
}

package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/hashicorp/consul/api"
	"github.com/jonboulle/clockwork"
)

// Defaults for ConsulConfig.
const (
	DefaultCheckTTL  = 2 * time.Second
	DefaultLockDelay = 500 * time.Millisecond
)

// campaignWait is how long a standby's blocking query on the lock key
// waits for a change (the lock is freed: it changes at once).
const campaignWait = 10 * time.Second

// NewConsulClient is a Consul API client for addr (host:port) whose every
// request ends within maxCall even when the caller set no deadline: a
// partitioned connection otherwise hangs until TCP gives up, minutes later.
// Callers still pass deadlines of their own; this is the backstop.
func NewConsulClient(addr string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.HttpClient = &http.Client{Transport: cfg.Transport, Timeout: maxCall}
	return api.NewClient(cfg)
}

// maxCall bounds every Consul request, blocking queries included (their
// wait plus Consul's jitter of a sixteenth, plus slack).
const maxCall = detectWait + detectWait/16 + 10*time.Second

// ConsulConfig is what a Consul contender needs.
type ConsulConfig struct {
	// Client talks to a Consul agent (NewConsulClient).
	Client *api.Client
	// Cluster names the lock key (Key).
	Cluster string
	// Info is this master; each term's epoch is set on a copy.
	Info *messages.MasterInfo
	// CheckTTL is the TTL of the master's own check that its session is
	// bound to: how long Consul waits for a pass before it ends the
	// session (default 2 s). The check is passed every CheckTTL/4.
	CheckTTL time.Duration
	// LockDelay keeps a released lock from being taken again at once
	// (default 500 ms; Consul's own default is 15 s): epochs, not lock
	// delay, keep a deposed leader harmless.
	LockDelay time.Duration
	// Margin is taken off the lease for the clocks' rates and the time
	// to stop leading (default CheckTTL/10; below CheckTTL/2).
	Margin time.Duration
	Clock  clockwork.Clock
	Logger *slog.Logger
}

// ConsulContender campaigns for a cluster's lock in Consul.
type ConsulContender struct {
	cfg     ConsulConfig
	key     string
	checkID string
	period  time.Duration // between renewal rounds
	call    time.Duration // deadline of a campaign call
	log     *slog.Logger

	mu   sync.Mutex
	last *keeper // the previous campaign's, which deregisters the check when done
}

// NewConsulContender checks cfg and fills in its defaults.
func NewConsulContender(cfg ConsulConfig) (*ConsulContender, error) {
	if cfg.Client == nil || cfg.Cluster == "" || cfg.Info.GetId() == "" {
		return nil, errors.New("leader: a Consul contender needs a client, a cluster name and this master's Info with its ID")
	}
	if cfg.CheckTTL <= 0 {
		cfg.CheckTTL = DefaultCheckTTL
	}
	if cfg.LockDelay < 0 {
		cfg.LockDelay = 0
	}
	if cfg.Margin <= 0 {
		cfg.Margin = cfg.CheckTTL / 10
	}
	if cfg.Margin >= cfg.CheckTTL/2 {
		return nil, fmt.Errorf("leader: lease margin %v must be under half the check TTL %v", cfg.Margin, cfg.CheckTTL)
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	key := Key(cfg.Cluster)
	return &ConsulContender{cfg: cfg, key: key, checkID: "agora-master-" + cfg.Info.GetId(), period: cfg.CheckTTL / 4,
		call: max(cfg.CheckTTL, time.Second), log: cfg.Logger.With("component", "election", "key", key)}, nil
}

// Campaign implements Contender. It registers the master's TTL check,
// keeps passing it, and contends for the lock with a new session until it
// is elected or ctx ends; Consul errors are retried with backoff. One
// campaign or term at a time: Campaign first waits for the last one's
// keeper to give up its session and check.
func (c *ConsulContender) Campaign(ctx context.Context) (*Term, error) {
	k := &keeper{c: c, done: make(chan struct{}), lease: Lease{TTL: c.cfg.CheckTTL, Margin: c.cfg.Margin}}
	c.mu.Lock()
	last := c.last
	c.last = k
	c.mu.Unlock()
	if last != nil {
		// The last term's keeper deregisters the check when it ends
		// (within its calls' deadlines): not after we register it again.
		<-last.done
	}
	if err := c.registerCheck(ctx); err != nil {
		close(k.done)
		return nil, err
	}
	kctx, stop := context.WithCancel(ctx)
	go k.run(kctx)
	retry := 500 * time.Millisecond
	for {
		term, err := c.elect(kctx, k, stop)
		if term != nil {
			return term, nil
		}
		if ctx.Err() != nil {
			stop()
			<-k.done
			return nil, ctx.Err()
		}
		c.log.Warn("election round failed; retrying", "err", err, "retry_in", retry)
		sleep(ctx, c.cfg.Clock, retry)
		retry = min(2*retry, 5*time.Second)
	}
}

func (c *ConsulContender) registerCheck(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, c.call)
	defer cancel()
	err := c.cfg.Client.Agent().CheckRegisterOpts(&api.AgentCheckRegistration{
		ID: c.checkID, Name: "agora master " + c.cfg.Info.GetId(),
		AgentServiceCheck: api.AgentServiceCheck{TTL: c.cfg.CheckTTL.String(), Status: api.HealthPassing},
	}, (&api.QueryOptions{}).WithContext(cctx))
	if err != nil {
		return fmt.Errorf("register the master's TTL check with Consul: %w (is the Consul agent running and reachable?)", err)
	}
	return nil
}

// elect creates a session and contends with it until this master holds
// the lock (it returns the term, and the keeper owns the session) or a
// Consul call fails.
func (c *ConsulContender) elect(ctx context.Context, k *keeper, stop context.CancelFunc) (*Term, error) {
	cctx, cancel := context.WithTimeout(ctx, c.call)
	sid, _, err := c.cfg.Client.Session().Create(&api.SessionEntry{
		Name:       "agora master " + c.cfg.Info.GetId(),
		NodeChecks: []string{"serfHealth", c.checkID},
		LockDelay:  c.cfg.LockDelay,
		Behavior:   api.SessionBehaviorRelease,
	}, (&api.WriteOptions{}).WithContext(cctx))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("create a Consul session: %w", err)
	}
	kept := false
	defer func() {
		if !kept {
			c.destroy(sid)
		}
	}()
	kv := c.cfg.Client.KV()
	var index uint64
	for ctx.Err() == nil {
		wctx, cancel := context.WithTimeout(ctx, campaignWait+campaignWait/16+c.call)
		pair, meta, err := kv.Get(c.key, (&api.QueryOptions{WaitIndex: index, WaitTime: campaignWait, RequireConsistent: index == 0}).WithContext(wctx))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", c.key, err)
		}
		if meta.LastIndex < index {
			index = 0 // the index went backwards (Consul restored): start over
		} else {
			index = meta.LastIndex
		}
		switch {
		case pair != nil && pair.Session == sid:
			// The modify index of our acquisition is the epoch: Consul's
			// raft index only grows, so it is above every earlier term's.
			term, err := k.begin(ctx, sid, pair.ModifyIndex, stop)
			if err != nil {
				return nil, err
			}
			kept = true
			return term, nil
		case pair == nil || pair.Session == "":
			ok, err := c.acquire(ctx, sid, 0)
			if err != nil {
				return nil, err
			}
			if !ok {
				// The last holder's lock delay: try once it is over.
				sleep(ctx, c.cfg.Clock, max(c.cfg.LockDelay, 50*time.Millisecond))
				index = 0
			}
		}
	}
	return nil, ctx.Err()
}

// acquire takes the lock for sid with this master's Info at epoch as its
// value (0: not published yet, which detectors ignore).
func (c *ConsulContender) acquire(ctx context.Context, sid string, epoch uint64) (bool, error) {
	value, err := encode(c.cfg.Info, epoch)
	if err != nil {
		return false, err
	}
	cctx, cancel := context.WithTimeout(ctx, c.call)
	defer cancel()
	ok, _, err := c.cfg.Client.KV().Acquire(&api.KVPair{Key: c.key, Value: value, Session: sid}, (&api.WriteOptions{}).WithContext(cctx))
	if err != nil {
		return false, fmt.Errorf("acquire %s: %w", c.key, err)
	}
	return ok, nil
}

// pass passes the master's TTL check.
func (c *ConsulContender) pass(ctx context.Context) error {
	if err := c.cfg.Client.Agent().UpdateTTLOpts(c.checkID, "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("pass the master's TTL check: %w", err)
	}
	return nil
}

// confirm reads the lock key consistently: ErrLockLost unless sid holds it.
func (c *ConsulContender) confirm(ctx context.Context, sid string) error {
	pair, _, err := c.cfg.Client.KV().Get(c.key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("confirm the lock %s: %w", c.key, err)
	}
	if pair == nil || pair.Session != sid {
		return ErrLockLost
	}
	return nil
}

// destroy ends a session (the lock, if held, is released at once) and
// deregisters nothing; best effort within a deadline.
func (c *ConsulContender) destroy(sid string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.call)
	defer cancel()
	if _, err := c.cfg.Client.Session().Destroy(sid, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		c.log.Warn("cannot destroy the Consul session; Consul ends it when the check goes critical", "session", sid, "err", err)
	}
}

func (c *ConsulContender) deregisterCheck() {
	ctx, cancel := context.WithTimeout(context.Background(), c.call)
	defer cancel()
	_ = c.cfg.Client.Agent().CheckDeregisterOpts(c.checkID, (&api.QueryOptions{}).WithContext(ctx))
}

// keeper is one campaign's goroutine: it passes the check every period
// and, once a term begins, also confirms the lock and keeps the lease,
// ending the term when either fails for too long. It gives up the session
// and the check when its context ends or the term does.
type keeper struct {
	c    *ConsulContender
	done chan struct{}

	mu    sync.Mutex
	term  *Term
	sid   string
	lease Lease
}

// begin runs a first renewal round (the lease starts with it) and starts
// the term; its Announce publishes the epoch in the lock's value.
func (k *keeper) begin(ctx context.Context, sid string, epoch uint64, stop context.CancelFunc) (*Term, error) {
	start := k.c.cfg.Clock.Now()
	if err := k.c.renew(ctx, sid, start.Add(k.c.period)); err != nil {
		return nil, fmt.Errorf("elected with epoch %d but cannot confirm it: %w", epoch, err)
	}
	announce := func(ctx context.Context) error {
		if ok, err := k.c.acquire(ctx, sid, epoch); err != nil || !ok {
			if err == nil {
				err = ErrLockLost
			}
			return fmt.Errorf("publish epoch %d: %w", epoch, err)
		}
		return nil
	}
	term := newTerm(k.c.cfg.Info, epoch, announce, func() { stop(); <-k.done })
	k.mu.Lock()
	k.term, k.sid = term, sid
	k.lease.Renew(start)
	expires := k.lease.Expires()
	k.mu.Unlock()
	k.c.log.Info("elected leading master", "epoch", epoch, "lease_until", expires.Format(time.RFC3339Nano))
	return term, nil
}

// renew is one round: pass the check, then confirm the lock, both by
// deadline.
func (c *ConsulContender) renew(ctx context.Context, sid string, deadline time.Time) error {
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := c.pass(rctx); err != nil {
		return err
	}
	return c.confirm(rctx, sid)
}

func (k *keeper) run(ctx context.Context) {
	defer close(k.done)
	defer k.finish()
	clock := k.c.cfg.Clock
	failing := false // log a streak of failed passes once
	for ctx.Err() == nil {
		start := clock.Now()
		k.mu.Lock()
		term, sid, lease := k.term, k.sid, k.lease
		k.mu.Unlock()
		if term == nil {
			rctx, cancel := context.WithTimeout(ctx, k.c.period)
			err := k.c.pass(rctx)
			cancel()
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				k.c.log.Warn("cannot pass the master's TTL check; retrying every period", "period", k.c.period, "err", err)
				failing = true
			case err == nil && failing:
				k.c.log.Info("the master's TTL check passes again")
				failing = false
			}
		} else {
			err := k.c.renew(ctx, sid, lease.RoundDeadline(start, k.c.period))
			if ctx.Err() != nil || !k.settle(term, start, err) {
				return
			}
		}
		if !k.sleep(ctx, start.Add(k.c.period)) {
			return
		}
	}
}

// settle applies a round's outcome to the lease; false when the term ended.
func (k *keeper) settle(term *Term, start time.Time, err error) bool {
	now := k.c.cfg.Clock.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case errors.Is(err, ErrLockLost):
		k.c.log.Error("lost leadership: another session (or none) holds the lock", "epoch", term.Epoch())
		term.end(ErrLockLost)
		return false
	case err == nil && k.lease.Renew(start):
		return true
	case err == nil || k.lease.Expired(now):
		k.c.log.Error("lost leadership: Consul did not confirm the lock within the lease; stepping down before a successor can be elected",
			"epoch", term.Epoch(), "lease_expired", k.lease.Expires().Format(time.RFC3339Nano), "err", err)
		term.end(ErrLeaseExpired)
		return false
	default:
		k.c.log.Warn("lease renewal failed; still leading until the lease runs out", "epoch", term.Epoch(),
			"lease_until", k.lease.Expires().Format(time.RFC3339Nano), "err", err)
		return true
	}
}

// sleep waits until next, or while leading until the lease runs out
// first (the term then ends); false when the keeper must stop.
func (k *keeper) sleep(ctx context.Context, next time.Time) bool {
	clock := k.c.cfg.Clock
	k.mu.Lock()
	term, expires := k.term, k.lease.Expires()
	k.mu.Unlock()
	wake := next
	if term != nil && expires.Before(wake) {
		wake = expires
	}
	t := clock.NewTimer(wake.Sub(clock.Now()))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.Chan():
	}
	if term == nil || clock.Now().Before(expires) {
		return true
	}
	k.c.log.Error("lost leadership: Consul did not confirm the lock within the lease; stepping down before a successor can be elected",
		"epoch", term.Epoch(), "lease_expired", expires.Format(time.RFC3339Nano))
	term.end(ErrLeaseExpired)
	return false
}

// finish ends the term (if the context ended it), gives up the session
// and the check.
func (k *keeper) finish() {
	k.mu.Lock()
	term, sid := k.term, k.sid
	k.mu.Unlock()
	if term != nil {
		term.end(ErrResigned)
	}
	if sid != "" {
		k.c.destroy(sid)
	}
	k.c.deregisterCheck()
}

func sleep(ctx context.Context, clock clockwork.Clock, d time.Duration) {
	t := clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.Chan():
	}
}

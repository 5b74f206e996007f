// Package election elects the leading master with a Consul lock.
//
// Masters contend for one key (agora/<cluster>/leader) with Consul
// sessions. The holder's value is its MasterInfo (JSON), with an epoch
// taken from the key's modify index at acquisition: Consul's raft index
// only grows, so every new leader has a larger epoch than the one before,
// and agents and schedulers can ignore a deposed leader (fencing).
//
// Failure detection is fast on purpose. A session TTL alone is slow (at
// least 10 s, and Consul waits up to twice that), so the session is bound
// to a TTL check of the master's own (default 2 s) that the campaign keeps
// passing; if the master dies or stalls, the check goes critical, Consul
// invalidates the session and the lock is released. Lock delay, which
// keeps the lock from being taken again at once, defaults to 500 ms
// instead of Consul's 15 s: fencing epochs, not lock delay, keep a deposed
// leader harmless.
//
// A leader that loses its session (or sees another holder) reports Lost
// at once and must stop acting as leader; the campaign then starts over as
// a standby.
package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Defaults for Config.
const (
	DefaultCheckTTL  = 2 * time.Second
	DefaultLockDelay = 500 * time.Millisecond
)

// Config is what a campaign needs.
type Config struct {
	Client *api.Client
	// Key is the lock key, such as agora/prod/leader (see LeaderKey).
	Key string
	// Info is this master; its epoch is set on election.
	Info *messages.MasterInfo
	// CheckTTL is the TTL of the master's own check the session is bound
	// to; it is passed every CheckTTL/4.
	CheckTTL  time.Duration
	LockDelay time.Duration
	Logger    *slog.Logger
}

// LeaderKey is the lock key of a cluster.
func LeaderKey(cluster string) string { return "agora/" + cluster + "/leader" }

// Event is a change in leadership as this master sees it.
type Event struct {
	// Leading: this master was elected (Epoch is its epoch) or, when
	// false, lost leadership or follows Leader (nil: no leader now).
	Leading bool
	Epoch   uint64
	Leader  *messages.MasterInfo
}

// Run campaigns until ctx ends, sending every change on events. It returns
// ctx's error, or an error if the check cannot be registered at all.
func Run(ctx context.Context, cfg Config, events chan<- Event) error {
	if cfg.CheckTTL <= 0 {
		cfg.CheckTTL = DefaultCheckTTL
	}
	if cfg.LockDelay < 0 {
		cfg.LockDelay = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &campaign{ctx: ctx, cfg: cfg, events: events, log: cfg.Logger.With("component", "election", "key", cfg.Key)}
	c.checkID = "agora-master-" + cfg.Info.GetId()
	agent := cfg.Client.Agent()
	if err := agent.CheckRegister(&api.AgentCheckRegistration{
		ID: c.checkID, Name: "agora master " + cfg.Info.GetId(),
		AgentServiceCheck: api.AgentServiceCheck{TTL: cfg.CheckTTL.String(), Status: api.HealthPassing,
			DeregisterCriticalServiceAfter: ""},
	}); err != nil {
		return fmt.Errorf("register the master's TTL check with Consul: %w (is the local Consul agent running?)", err)
	}
	defer func() { _ = agent.CheckDeregister(c.checkID) }()
	go c.passCheck(ctx)
	for ctx.Err() == nil {
		if err := c.round(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("election round failed; retrying", "err", err)
			wait(ctx, time.Second)
		}
	}
	return ctx.Err()
}

type campaign struct {
	ctx     context.Context
	cfg     Config
	events  chan<- Event
	log     *slog.Logger
	checkID string
	leader  *messages.MasterInfo // last leader reported to events
	leading bool
}

// passCheck keeps the master's check passing while the process runs.
func (c *campaign) passCheck(ctx context.Context) {
	t := time.NewTicker(c.cfg.CheckTTL / 4)
	defer t.Stop()
	for {
		if err := c.cfg.Client.Agent().UpdateTTL(c.checkID, "", api.HealthPassing); err != nil && ctx.Err() == nil {
			c.log.Warn("cannot pass the master's TTL check", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round creates a session and campaigns with it until it is lost.
func (c *campaign) round(ctx context.Context) error {
	sessions := c.cfg.Client.Session()
	sid, _, err := sessions.Create(&api.SessionEntry{
		Name:       "agora master " + c.cfg.Info.GetId(),
		NodeChecks: []string{"serfHealth", c.checkID},
		LockDelay:  c.cfg.LockDelay,
		Behavior:   api.SessionBehaviorRelease,
	}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = sessions.Destroy(sid, (&api.WriteOptions{}).WithContext(dctx))
	}()
	kv := c.cfg.Client.KV()
	var index uint64
	for ctx.Err() == nil {
		pair, meta, err := kv.Get(c.cfg.Key, (&api.QueryOptions{WaitIndex: index, WaitTime: 30 * time.Second, RequireConsistent: index == 0}).WithContext(ctx))
		if err != nil {
			return fmt.Errorf("watch %s: %w", c.cfg.Key, err)
		}
		index = meta.LastIndex
		switch {
		case pair != nil && pair.Session == sid:
			if !c.leading {
				if err := c.lead(ctx, sid, pair); err != nil {
					return err
				}
			}
		case c.leading:
			c.leading = false
			c.log.Error("lost leadership: the session was invalidated or another master holds the lock")
			c.emit(Event{Leading: false, Leader: Decode(pair)})
			return nil // a new session for the next round
		case pair == nil || pair.Session == "":
			ok, err := c.acquire(ctx, sid, 0)
			if err != nil {
				return err
			}
			if !ok {
				// Lock delay after the last holder's session ended:
				// try again once it is over.
				c.follow(nil)
				wait(ctx, max(c.cfg.LockDelay, 50*time.Millisecond))
				index = 0
			}
		default:
			c.follow(Decode(pair))
		}
		if ok, err := c.sessionAlive(ctx, sid); err != nil || !ok {
			if c.leading {
				c.leading = false
				c.log.Error("lost leadership: session invalidated")
				c.emit(Event{Leading: false})
			}
			return err
		}
	}
	return ctx.Err()
}

func (c *campaign) acquire(ctx context.Context, sid string, epoch uint64) (bool, error) {
	info := proto.Clone(c.cfg.Info).(*messages.MasterInfo)
	info.Epoch = epoch
	value, err := protojson.Marshal(info)
	if err != nil {
		return false, err
	}
	ok, _, err := c.cfg.Client.KV().Acquire(&api.KVPair{Key: c.cfg.Key, Value: value, Session: sid}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("acquire %s: %w", c.cfg.Key, err)
	}
	return ok, nil
}

// lead takes the epoch from the modify index of our acquisition, writes it
// into the value for detectors, and reports the election.
func (c *campaign) lead(ctx context.Context, sid string, pair *api.KVPair) error {
	epoch := pair.ModifyIndex
	if ok, err := c.acquire(ctx, sid, epoch); err != nil || !ok {
		if err == nil {
			err = errors.New("lock lost while publishing the epoch")
		}
		return err
	}
	c.leading = true
	info := proto.Clone(c.cfg.Info).(*messages.MasterInfo)
	info.Epoch = epoch
	c.leader = info
	c.log.Info("elected leading master", "epoch", epoch)
	c.emit(Event{Leading: true, Epoch: epoch, Leader: info})
	return nil
}

func (c *campaign) follow(info *messages.MasterInfo) {
	if proto.Equal(info, c.leader) {
		return
	}
	c.leader = info
	c.emit(Event{Leader: info})
}

func (c *campaign) sessionAlive(ctx context.Context, sid string) (bool, error) {
	s, _, err := c.cfg.Client.Session().Info(sid, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("session info: %w", err)
	}
	return s != nil, nil
}

func (c *campaign) emit(ev Event) {
	select {
	case c.events <- ev:
	case <-c.ctx.Done():
	}
}

// Decode reads the leader's MasterInfo from the lock key (for detectors
// too); nil when there is no holder or the value is not one.
func Decode(pair *api.KVPair) *messages.MasterInfo {
	if pair == nil || pair.Session == "" || len(pair.Value) == 0 {
		return nil
	}
	info := &messages.MasterInfo{}
	if err := protojson.Unmarshal(pair.Value, info); err != nil || info.Epoch == 0 {
		return nil
	}
	return info
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

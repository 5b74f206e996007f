package kvconfig

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/agora-sched/agora/cluster/acl"
	"github.com/hashicorp/consul/api"
)

// ACLsKey is where a cluster's access control list lives (JSON, as
// package acl reads it), so that every master enforces the same list and a
// new leader finds it.
func ACLsKey(cluster string) string { return "agora/" + cluster + "/acls" }

// LoadACLs reads the list and the Consul index it was read at (where a
// watch starts). None stored is a nil list: none configured.
func LoadACLs(ctx context.Context, client *api.Client, key string) (*acl.List, []byte, uint64, error) {
	pair, meta, err := client.KV().Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read the access control list from Consul key %s: %w", key, err)
	}
	if pair == nil {
		return nil, nil, meta.LastIndex, nil
	}
	l, err := acl.Parse(pair.Value)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("access control list in Consul key %s (fix it with agora acls set, or consul kv put): %w", key, err)
	}
	return l, pair.Value, meta.LastIndex, nil
}

// SaveACLs stores a list's text; the write gives up when ctx ends.
func SaveACLs(ctx context.Context, client *api.Client, key string, text []byte) error {
	if _, err := acl.Parse(text); err != nil {
		return err
	}
	if _, err := client.KV().Put(&api.KVPair{Key: key, Value: text}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("write the access control list to Consul key %s: %w", key, err)
	}
	return nil
}

// ACLWatch follows a list in Consul KV with blocking queries.
type ACLWatch struct {
	Client *api.Client
	Key    string
	// Index and Text are what is in force (LoadACLs' answer): the watch
	// waits for a change after Index, and ignores a write of the same text.
	Index uint64
	Text  []byte
	// Apply takes each new valid list.
	Apply func(*acl.List, []byte)
	// Refused hears of a new value that is not a valid list, or of the
	// key's deletion: the list in force stays (deleting the key must not
	// open the cluster; restart the masters without --acls for that).
	Refused func(error)
	// Failed hears of Consul errors; the watch retries after Backoff,
	// doubled up to 30 s while they last.
	Failed  func(error)
	Backoff time.Duration
	// Wait bounds one blocking query (Consul caps it at 10 min).
	Wait time.Duration
}

// Run watches until ctx ends.
func (w ACLWatch) Run(ctx context.Context) {
	backoff := w.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	wait := w.Wait
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	index, text, delay := w.Index, w.Text, backoff
	for ctx.Err() == nil {
		pair, meta, err := w.Client.KV().Get(w.Key, (&api.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.Failed(fmt.Errorf("watch the access control list in Consul key %s: %w; retrying in %s", w.Key, err, delay))
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 30*time.Second)
			continue
		}
		delay = backoff
		switch {
		case meta.LastIndex < index:
			index = 0 // Consul's index went back (a snapshot restore): start over
			continue
		case meta.LastIndex == index:
			continue // the wait ended without a change
		}
		index = meta.LastIndex
		if pair == nil {
			if text != nil {
				w.Refused(fmt.Errorf("the access control list's Consul key %s was deleted; the list in force stays (put a new one with agora acls set)", w.Key))
				text = nil
			}
			continue
		}
		if bytes.Equal(pair.Value, text) {
			continue
		}
		text = pair.Value
		l, err := acl.Parse(pair.Value)
		if err != nil {
			w.Refused(fmt.Errorf("access control list in Consul key %s: %w; the list in force stays", w.Key, err))
			continue
		}
		w.Apply(l, pair.Value)
	}
}

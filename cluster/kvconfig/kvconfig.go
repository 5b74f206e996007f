// Package kvconfig keeps the operator's role configuration (weights and
// quotas) in Consul KV when masters run with HA: it is configuration, not
// cluster state, and every master that leads must find it.
package kvconfig

import (
	"context"
	"fmt"

	"github.com/agora-sched/agora/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/encoding/protojson"
)

// RolesKey is where a cluster's role configuration lives.
func RolesKey(cluster string) string { return "agora/" + cluster + "/roles" }

// LoadRoles reads the role configuration; none stored is an empty one.
func LoadRoles(ctx context.Context, client *api.Client, key string) (*messages.RoleConfig, error) {
	pair, _, err := client.KV().Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read role configuration from Consul key %s: %w", key, err)
	}
	cfg := &messages.RoleConfig{}
	if pair == nil {
		return cfg, nil
	}
	if err := protojson.Unmarshal(pair.Value, cfg); err != nil {
		return nil, fmt.Errorf("role configuration in Consul key %s is not valid (fix or delete it): %w", key, err)
	}
	return cfg, nil
}

// SaveRoles returns a function that stores the role configuration; the
// write gives up when ctx ends (a stalled Consul must not hold it).
func SaveRoles(client *api.Client, key string) func(context.Context, *messages.RoleConfig) error {
	return func(ctx context.Context, cfg *messages.RoleConfig) error {
		value, err := protojson.MarshalOptions{Indent: "  "}.Marshal(cfg)
		if err != nil {
			return err
		}
		if _, err := client.KV().Put(&api.KVPair{Key: key, Value: value}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
			return fmt.Errorf("write role configuration to Consul key %s: %w", key, err)
		}
		return nil
	}
}

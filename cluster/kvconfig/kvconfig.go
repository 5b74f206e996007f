// Package kvconfig keeps the operator's role configuration (weights and
// quotas) in Consul KV when masters run with HA: it is configuration, not
// cluster state, and every master that leads must find it.
package kvconfig

import (
	"context"

	"github.com/agora-sched/agora/messages"
	"github.com/hashicorp/consul/api"
)

// RolesKey is where a cluster's role configuration lives.
func RolesKey(cluster string) string { return "agora/" + cluster + "/roles" }

// LoadRoles reads the role configuration; none stored is an empty one.
func LoadRoles(ctx context.Context, client *api.Client, key string) (*messages.RoleConfig, error) {
	cfg := &messages.RoleConfig{}
	if err := load(ctx, client, key, "role configuration", cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// SaveRoles returns a function that stores the role configuration; the
// write gives up when ctx ends (a stalled Consul must not hold it).
func SaveRoles(client *api.Client, key string) func(context.Context, *messages.RoleConfig) error {
	return func(ctx context.Context, cfg *messages.RoleConfig) error {
		return save(ctx, client, key, "role configuration", cfg)
	}
}

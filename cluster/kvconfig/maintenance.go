package kvconfig

import (
	"context"
	"fmt"

	"github.com/agora-sched/agora/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The maintenance schedule is configuration as the roles are: every master
// that leads must find it, so with HA it lives in Consul KV.

// MaintenanceKey is where a cluster's maintenance schedule lives.
func MaintenanceKey(cluster string) string { return "agora/" + cluster + "/maintenance" }

// LoadMaintenance reads the maintenance schedule; none stored is empty.
func LoadMaintenance(ctx context.Context, client *api.Client, key string) (*messages.MaintenanceSchedule, error) {
	s := &messages.MaintenanceSchedule{}
	if err := load(ctx, client, key, "maintenance schedule", s); err != nil {
		return nil, err
	}
	return s, nil
}

// SaveMaintenance returns a function that stores the schedule; the write
// gives up when ctx ends.
func SaveMaintenance(client *api.Client, key string) func(context.Context, *messages.MaintenanceSchedule) error {
	return func(ctx context.Context, s *messages.MaintenanceSchedule) error {
		return save(ctx, client, key, "maintenance schedule", s)
	}
}

// load reads key into m (left empty when nothing is stored).
func load(ctx context.Context, client *api.Client, key, what string, m proto.Message) error {
	pair, _, err := client.KV().Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("read %s from Consul key %s: %w", what, key, err)
	}
	if pair == nil {
		return nil
	}
	if err := protojson.Unmarshal(pair.Value, m); err != nil {
		return fmt.Errorf("%s in Consul key %s is not valid (fix or delete it): %w", what, key, err)
	}
	return nil
}

// save writes m to key.
func save(ctx context.Context, client *api.Client, key, what string, m proto.Message) error {
	value, err := protojson.MarshalOptions{Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := client.KV().Put(&api.KVPair{Key: key, Value: value}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return fmt.Errorf("write %s to Consul key %s: %w", what, key, err)
	}
	return nil
}

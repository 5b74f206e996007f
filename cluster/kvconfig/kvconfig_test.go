package kvconfig_test

import (
	"context"
	"testing"

	"github.com/agora-sched/agora/cluster/consultest"
	"github.com/agora-sched/agora/cluster/kvconfig"
	"github.com/agora-sched/agora/messages"
	"github.com/hashicorp/consul/api"
	"google.golang.org/protobuf/proto"
)

func TestRolesRoundTripThroughConsul(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul server; make test runs it")
	}
	client := consultest.Client(t, consultest.Start(t))
	key := kvconfig.RolesKey("test")
	got, err := kvconfig.LoadRoles(context.Background(), client, key)
	if err != nil || len(got.Roles) != 0 {
		t.Fatalf("nothing stored yet: %v, %v", got, err)
	}
	want := &messages.RoleConfig{Roles: []*messages.RoleSettings{{Role: "prod", Weight: 2}}}
	if err := kvconfig.SaveRoles(client, key)(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	got, err = kvconfig.LoadRoles(context.Background(), client, key)
	if err != nil || len(got.Roles) != 1 || got.Roles[0].Role != "prod" || got.Roles[0].Weight != 2 {
		t.Fatalf("loaded %v, %v", got, err)
	}
	if _, err := client.KV().Put(&api.KVPair{Key: key, Value: []byte("not json")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kvconfig.LoadRoles(context.Background(), client, key); err == nil {
		t.Fatal("a corrupt configuration was accepted")
	}
}

// The maintenance schedule survives a failover: a new leader loads what
// the last one stored.
func TestMaintenanceRoundTripThroughConsul(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul server; make test runs it")
	}
	client := consultest.Client(t, consultest.Start(t))
	key := kvconfig.MaintenanceKey("test")
	got, err := kvconfig.LoadMaintenance(context.Background(), client, key)
	if err != nil || len(got.Windows) != 0 {
		t.Fatalf("nothing stored yet: %v, %v", got, err)
	}
	want := &messages.MaintenanceSchedule{Windows: []*messages.MaintenanceWindow{{Machines: []string{"node-1"}, StartUnixNano: 1_800_000_000_000_000_000, DurationNanos: 3600e9}}}
	if err := kvconfig.SaveMaintenance(client, key)(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	got, err = kvconfig.LoadMaintenance(context.Background(), client, key)
	if err != nil || !proto.Equal(got, want) {
		t.Fatalf("loaded %v, %v; want %v", got, err, want)
	}
	if _, err := client.KV().Put(&api.KVPair{Key: key, Value: []byte("not json")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kvconfig.LoadMaintenance(context.Background(), client, key); err == nil {
		t.Fatal("a corrupt schedule was accepted")
	}
}

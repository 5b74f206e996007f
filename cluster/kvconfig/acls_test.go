package kvconfig_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/cluster/consultest"
	"github.com/agora-sched/agora/cluster/kvconfig"
	"github.com/hashicorp/consul/api"
)

// A list put in Consul reaches the watch at once (a blocking query, no
// polling); a bad one is refused and the one in force stays.
func TestACLsWatchedInConsul(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Consul server; make test runs it")
	}
	client := consultest.Client(t, consultest.Start(t))
	key := kvconfig.ACLsKey("test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, text, index, err := kvconfig.LoadACLs(ctx, client, key)
	if err != nil || l != nil || text != nil {
		t.Fatalf("nothing stored yet: %v %q %v", l, text, err)
	}
	applied, refused := make(chan *acl.List, 4), make(chan error, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		kvconfig.ACLWatch{Client: client, Key: key, Index: index, Apply: func(l *acl.List, _ []byte) { applied <- l },
			Refused: func(err error) { refused <- err }, Failed: func(err error) { t.Log(err) }}.Run(ctx)
	}()
	if err := kvconfig.SaveACLs(ctx, client, key, []byte(`{"view_state": [{"principals": ["alice"]}]}`)); err != nil {
		t.Fatal(err)
	}
	if l := <-applied; !l.Allows("alice", acl.ViewState, "") || l.Allows("bob", acl.ViewState, "") {
		t.Fatal("the stored list was not the one applied")
	}
	if err := kvconfig.SaveACLs(ctx, client, key, []byte(`{"view_stat": []}`)); !errors.Is(err, acl.ErrInvalid) {
		t.Fatalf("SaveACLs stored an invalid list: %v", err)
	}
	if _, err := client.KV().Put(&api.KVPair{Key: key, Value: []byte(`{"view_stat": []}`)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-refused; !errors.Is(err, acl.ErrInvalid) {
		t.Fatalf("refused: %v", err)
	}
	if _, err := client.KV().Delete(key, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-refused; err == nil {
		t.Fatal("a deleted key was not refused")
	}
	if len(applied) != 0 {
		t.Fatal("a bad list or a deletion was applied")
	}
	l, text, _, err = kvconfig.LoadACLs(ctx, client, key)
	if err != nil || l != nil || text != nil {
		t.Fatalf("after the deletion: %v %q %v", l, text, err)
	}
	cancel()
	<-done
}

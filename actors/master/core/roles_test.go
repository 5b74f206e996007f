package core

import (
	"errors"
	"testing"

	"github.com/agora-sched/agora/messages"
)

func res(text string) []*messages.Resource {
	rs, err := messages.ParseResources(text)
	if err != nil {
		panic(err)
	}
	return rs
}

func TestRoleUpdates(t *testing.T) {
	r, _ := NewRoles(nil)
	two := 2.0
	s, err := r.Apply(&messages.UpdateRole{Role: "eng/ml", Weight: &two})
	if err != nil {
		t.Fatal(err)
	}
	r.Commit(s)
	s, err = r.Apply(&messages.UpdateRole{Role: "eng/ml", Quota: &messages.RoleQuota{Guarantee: res("cpus:4;mem:4096"), Limit: res("cpus:8")}})
	if err != nil {
		t.Fatal(err)
	}
	r.Commit(s)
	cfg := r.Config()
	if len(cfg.Roles) != 1 || cfg.Roles[0].Weight != 2 || messages.FormatResources(cfg.Roles[0].Quota.Guarantee) != "cpus:4;mem:4096" {
		t.Fatalf("config: %v", cfg)
	}
	q := PolicyQuota(cfg.Roles[0].Quota)
	if q.Limit[0] != 8000 || q.Limit[1] != 1<<63-1 {
		t.Fatalf("limit: cpus capped, mem unlimited: %v", q.Limit)
	}
	// Round trip through persistence.
	again, err := NewRoles(cfg)
	if err != nil || len(again.Config().Roles) != 1 {
		t.Fatalf("reload: %v %v", again, err)
	}
	// Clearing everything forgets the role.
	one := 0.0
	s, _ = r.Apply(&messages.UpdateRole{Role: "eng/ml", Weight: &one, ClearQuota: true})
	r.Commit(s)
	if len(r.Config().Roles) != 0 {
		t.Fatalf("cleared role kept: %v", r.Config())
	}
	neg := -1.0
	for name, u := range map[string]*messages.UpdateRole{
		"bad role":          {Role: "a//b", Weight: &two},
		"negative weight":   {Role: "r", Weight: &neg},
		"guarantee > limit": {Role: "r", Quota: &messages.RoleQuota{Guarantee: res("cpus:4"), Limit: res("cpus:2")}},
		"ports in quota":    {Role: "r", Quota: &messages.RoleQuota{Guarantee: res("ports:[1-2]")}},
		"unknown resource":  {Role: "r", Quota: &messages.RoleQuota{Guarantee: res("bananas:2")}},
		"set and clear":     {Role: "r", Quota: &messages.RoleQuota{}, ClearQuota: true},
	} {
		if _, err := r.Apply(u); !errors.Is(err, ErrInvalidRoleConfig) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

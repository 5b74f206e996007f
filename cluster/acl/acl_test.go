package acl

import (
	"errors"
	"testing"
)

func TestListsAllowWhatTheyNameAndDenyTheRest(t *testing.T) {
	l, err := Parse([]byte(`{
	  "register_frameworks": [{"principals": ["alice"], "roles": ["eng", "eng/*"]}, {"principals": ["*"], "roles": ["sandbox"]}],
	  "run_tasks": [{"principals": ["alice"], "users": ["alice"]}],
	  "update_roles": [{"principals": ["ops"], "roles": ["*"]}],
	  "view_state": [{"principals": ["*"]}],
	  "create_volumes": [{"principals": ["alice"], "roles": ["eng/*"]}],
	  "destroy_volumes": [{"principals": ["ops"], "creator_principals": ["*"]}, {"principals": ["alice"], "creator_principals": ["alice"]}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		principal string
		action    Action
		object    string
		want      bool
	}{
		{"alice", RegisterFramework, "eng", true},
		{"alice", RegisterFramework, "eng/ml", true},
		{"alice", RegisterFramework, "engineering", false}, // eng/* covers eng's children only
		{"alice", RegisterFramework, "prod", false},
		{"bob", RegisterFramework, "sandbox", true},
		{"bob", RegisterFramework, "eng", false},
		{"alice", RunTask, "alice", true},
		{"alice", RunTask, "root", false},
		{"ops", UpdateRole, "prod", true},
		{"alice", UpdateRole, "eng", false},
		{"anyone", ViewState, "", true},
		{"ops", DrainAgent, "", false}, // no rule: denied
		{"ops", TeardownFramework, "alice", false},
		{"alice", CreateVolumes, "eng/db", true},
		{"alice", CreateVolumes, "prod", false},
		{"alice", DestroyVolumes, "alice", true},
		{"alice", DestroyVolumes, "bob", false}, // another's volume
		{"ops", DestroyVolumes, "bob", true},
	} {
		if got := l.Allows(c.principal, c.action, c.object); got != c.want {
			t.Errorf("%s %s %q: %v, want %v", c.principal, c.action, c.object, got, c.want)
		}
	}
	var none *List
	if !none.Allows("anyone", DrainAgent, "") || none.Enabled() {
		t.Fatal("no list configured allows everything")
	}
}

func TestListsRefuseWhatTheyCannotMean(t *testing.T) {
	for name, text := range map[string]string{
		"unknown action":   `{"register_framework": [{"principals": ["a"], "roles": ["r"]}]}`,
		"unknown field":    `{"run_tasks": [{"principals": ["a"], "user": ["root"]}]}`,
		"no principals":    `{"view_state": [{}]}`,
		"no objects":       `{"run_tasks": [{"principals": ["a"]}]}`,
		"not json":         `{"view_state": [`,
		"wrong object key": `{"update_roles": [{"principals": ["a"], "users": ["x"]}]}`,
	} {
		if _, err := Parse([]byte(text)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

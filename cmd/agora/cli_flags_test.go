package main

import (
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// Issue 16 asks of the CLI: every flag also an environment variable (the
// README promises it), one --timeout on every command that asks the
// master, --json on every listing. Checked on kong's model of the
// commands, so that a new command or flag that forgets one fails here.
func TestClientCommandsTimeoutJSONAndEnv(t *testing.T) {
	var c cli
	parser, err := kong.New(&c, kong.Name("agora"), kong.DefaultEnvars("AGORA"), vars(), kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	// Listings: what prints the cluster's objects rather than acting.
	listings := map[string]bool{"status": true, "tasks list": true, "frameworks list": true, "frameworks describe": true, "agents list": true,
		"agents describe": true, "roles": true, "maintenance show": true, "volumes list": true}
	seen := map[string]bool{}
	var walk func(n *kong.Node, inherited []*kong.Flag)
	walk = func(n *kong.Node, inherited []*kong.Flag) {
		flags := append(append([]*kong.Flag{}, inherited...), n.Flags...)
		leaf := true
		for _, child := range n.Children {
			if child.Type == kong.CommandNode {
				leaf = false
				walk(child, flags)
			}
		}
		if !leaf || n.Type != kong.CommandNode {
			return
		}
		path := strings.TrimPrefix(n.FullPath(), "agora ")
		seen[path] = true
		has := map[string]bool{}
		for _, f := range flags {
			has[f.Name] = true
			if f.Name != "help" && len(f.Envs) == 0 {
				t.Errorf("agora %s --%s has no environment variable", path, f.Name)
			}
		}
		if (has["master-http"] || path == "run") && !has["timeout"] {
			t.Errorf("agora %s asks the master but has no --timeout", path)
		}
		if listings[path] && !has["json"] {
			t.Errorf("agora %s lists but has no --json", path)
		}
	}
	walk(parser.Model.Node, nil)
	for path := range listings {
		if !seen[path] {
			t.Errorf("no command agora %s: update the listings of this test", path)
		}
	}
}

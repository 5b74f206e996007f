package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/consultest"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
)

// With several masters the list lives in Consul KV (--acls consul): agora
// acls set stores it, every master follows it with a blocking query, and a
// new leader enforces the list in force without anyone setting it again.
func TestACLsFromConsulSurviveFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes and Consul; make test runs it")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	c := &haCluster{consul: consultest.Start(t)}
	c.election = "consul://" + c.consul + "/test-" + hex.EncodeToString(b)
	dir := workDir(t)
	for i := 0; i < 2; i++ {
		m := &haMaster{name: fmt.Sprintf("master-%d", i), args: []string{"node", "--role=master", "--listen", anyPort, "--http", anyPort,
			"--work-dir", filepath.Join(dir, fmt.Sprintf("m%d", i)), "--election", c.election, "--allocation-interval", "100ms", "--acls", "consul"}}
		m.start(t)
		c.masters = append(c.masters, m)
	}
	startNode(t, "agent", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--work-dir", filepath.Join(dir, "a"),
		"--master", c.election, "--tls-dir", agentDir(t, "ha-a1"), "--resources", "cpus:2;mem:512", "--isolation", "none")

	cli := func(args ...string) (string, error) {
		out, err := exec.Command(agoraBin, append(args, "--master-http", c.election)...).CombinedOutput()
		return string(out), err
	}
	const list = `{
	  "register_frameworks": [{"principals": [%s], "roles": ["eng"]}],
	  "run_tasks": [{"principals": ["*"], "users": ["*"]}],
	  "view_state": [{"principals": ["test-operator"]}],
	  "update_acls": [{"principals": ["test-operator"]}]
	}`
	set := func(principals string) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "acls.json")
		if err := os.WriteFile(path, []byte(strings.Replace(list, "%s", principals, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := cli("acls", "set", path); err != nil {
			t.Fatalf("agora acls set: %v\n%s", err, out)
		}
	}
	set(`"alice"`)
	first := c.leader(t, "")
	leaderProc := c.byHTTP(first.HttpAddress)
	leaderProc.p.out.waitFor(t, "access control list loaded")
	if out, err := cli("acls", "get"); err != nil || !strings.Contains(out, `"alice"`) {
		t.Fatalf("agora acls get: %v\n%s", err, out)
	}
	waitState(t, first.HttpAddress, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	run := func(remoting, principal string) (string, error) {
		out, err := exec.Command(agoraBin, "run", "--master", remoting, "--role", "eng", "--name", "ha-acl-"+principal, "--timeout", "60s",
			"--tls-dir", certDir(t, security.RoleFramework, principal), "--", "true").CombinedOutput()
		return string(out), err
	}
	if out, err := run(first.Address, "bob"); err == nil || !strings.Contains(out, "may not register frameworks") {
		t.Fatalf("bob before the list let him in: %v\n%s", err, out)
	}
	stored := time.Now()
	set(`"alice", "bob"`)
	for _, m := range c.masters {
		waitCount(t, m.p, "access control list loaded", 2) // the standby follows the key too
	}
	t.Logf("both masters loaded the new list %v after agora acls set began", time.Since(stored).Round(time.Millisecond))
	if out, err := run(first.Address, "bob"); err != nil {
		t.Fatalf("bob on the first leader: %v\n%s", err, out)
	}

	// The leader dies; the standby leads with the list from Consul.
	leaderProc.p.signal(syscall.SIGKILL)
	second := c.leader(t, first.Id)
	waitState(t, second.HttpAddress, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	if out, err := run(second.Address, "bob"); err != nil {
		t.Fatalf("bob on the new leader: %v\n%s", err, out)
	}
	if out, err := run(second.Address, "carol"); err == nil || !strings.Contains(out, "may not register frameworks") {
		t.Fatalf("carol on the new leader: %v\n%s", err, out)
	}
}

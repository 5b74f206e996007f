package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
)

// Issue 14, item 3 on real processes with TLS: a master with --acls lets
// framework principal alice register in role eng only; bob is refused (and
// counted in /metrics); an operator the list does not let configure roles
// is refused on agora weights set; the file is rewritten to let bob in,
// and bob subscribes without a restart; an HTTP client with no certificate
// reads /state with --credentials, but only as a principal with view_state.
func TestACLsAndCredentialsOnATLSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := t.TempDir()
	aclFile, credFile := filepath.Join(dir, "acls.json"), filepath.Join(dir, "credentials.json")
	writeFile := func(path, text string) {
		t.Helper()
		// Replaced by rename, as editors and config managers do: the master
		// never reads half a file.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	const aclsWith = `{
	  "register_frameworks": [{"principals": [%s], "roles": ["eng"]}],
	  "run_tasks": [{"principals": ["*"], "users": ["*"]}],
	  "update_roles": [{"principals": ["test-operator"], "roles": ["*"]}],
	  "view_state": [{"principals": ["test-operator", "ops"]}]
	}`
	writeFile(aclFile, strings.Replace(aclsWith, "%s", `"alice"`, 1))
	writeFile(credFile, `{"credentials": [{"principal": "ops", "secret": "ops-secret"}, {"principal": "intern", "secret": "intern-secret"}]}`)

	m, info := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "100ms", "--acls", aclFile, "--credentials", credFile, "--reload-interval", "100ms")
	startNode(t, "agent", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--master", info.Remoting,
		"--work-dir", workDir(t), "--resources", "cpus:2;mem:512", "--isolation", "none", "--tls-dir", agentDir(t, "a1"))
	waitState(t, info.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	run := func(principal string) (string, error) {
		out, err := exec.Command(agoraBin, "run", "--master", info.Remoting, "--role", "eng", "--name", "acl-"+principal, "--timeout", "60s",
			"--tls-dir", certDir(t, security.RoleFramework, principal), "--", "true").CombinedOutput()
		return string(out), err
	}
	if out, err := run("alice"); err != nil {
		t.Fatalf("alice, allowed in eng: %v\n%s", err, out)
	}
	out, err := run("bob")
	if err == nil || !strings.Contains(out, `principal \"bob\" may not register frameworks in role \"eng\"`) && !strings.Contains(out, `principal "bob" may not register frameworks in role "eng"`) {
		t.Fatalf("bob, not in the list: %v\n%s", err, out)
	}
	if n := metric(t, info.HTTP, `agora_permission_denied_total{action="register_frameworks"}`); n < 1 {
		t.Fatalf("bob's refusal not counted: %v", n)
	}

	// An operator certificate the list does not let configure roles.
	out2, err := exec.Command(agoraBin, "weights", "set", "eng", "2", "--master-http", info.HTTP,
		"--tls-dir", certDir(t, security.RoleOperator, "viewer")).CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "update_roles") {
		t.Fatalf("weights set by an operator without update_roles: %v\n%s", err, out2)
	}
	if n := metric(t, info.HTTP, `agora_permission_denied_total{action="update_roles"}`); n != 1 {
		t.Fatalf("update_roles refusals counted: %v, want 1", n)
	}

	// A rewrite that is not a valid list is refused, and counted; the list
	// in force stays.
	writeFile(aclFile, `{"register_framework": [{"principals": ["*"], "roles": ["*"]}]}`)
	m.out.waitFor(t, "access control list refused")
	if n := metric(t, info.HTTP, `agora_master_acl_loads_total{result="refused"}`); n != 1 {
		t.Fatalf("refused lists counted: %v, want 1", n)
	}
	if out, err := run("bob"); err == nil || !strings.Contains(out, "may not register frameworks") {
		t.Fatalf("bob after a bad list: %v\n%s", err, out)
	}

	// The file rewritten: bob is in without a restart.
	writeFile(aclFile, strings.Replace(aclsWith, "%s", `"alice", "bob"`, 1))
	m.out.waitFor(t, "access control list loaded")
	if out, err := run("bob"); err != nil {
		t.Fatalf("bob after the list let him in: %v\n%s", err, out)
	}
	if n := metric(t, info.HTTP, `agora_master_acl_loads_total{result="applied"}`); n != 1 {
		t.Fatalf("list reloads counted: %v, want 1", n)
	}

	// No certificate: credentials, by HTTP Basic and as a bearer token.
	cfg, err := security.CAClientConfig(operator.Files().CA)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	get := func(auth func(*http.Request)) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+info.HTTP+"/state", nil)
		auth(req)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for name, c := range map[string]struct {
		auth func(*http.Request)
		want int
	}{
		"basic":         {func(r *http.Request) { r.SetBasicAuth("ops", "ops-secret") }, http.StatusOK},
		"bearer":        {func(r *http.Request) { r.Header.Set("Authorization", "Bearer ops-secret") }, http.StatusOK},
		"wrong secret":  {func(r *http.Request) { r.SetBasicAuth("ops", "intern-secret") }, http.StatusUnauthorized},
		"none":          {func(*http.Request) {}, http.StatusUnauthorized},
		"no view_state": {func(r *http.Request) { r.SetBasicAuth("intern", "intern-secret") }, http.StatusForbidden},
	} {
		resp := get(c.auth)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %s; want %d", name, resp.Status, c.want)
		}
		if c.want == http.StatusUnauthorized && len(resp.Header.Values("WWW-Authenticate")) == 0 {
			t.Errorf("%s: 401 without a WWW-Authenticate challenge", name)
		}
	}
	// Credentials are reloaded too: a rotated secret works, the old one no
	// longer does.
	writeFile(credFile, `{"credentials": [{"principal": "ops", "secret": "rotated"}]}`)
	m.out.waitFor(t, "credentials reloaded")
	if resp := get(func(r *http.Request) { r.SetBasicAuth("ops", "rotated") }); resp.StatusCode != http.StatusOK {
		t.Errorf("the rotated secret: %s", resp.Status)
	}
	if resp := get(func(r *http.Request) { r.SetBasicAuth("ops", "ops-secret") }); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old secret after rotation: %s", resp.Status)
	}

	// The CLI, as the credentials' principal.
	status := exec.Command(agoraBin, "status", "--master-http", info.HTTP, "--tls-ca", operator.Files().CA)
	status.Env = append(os.Environ(), "AGORA_PRINCIPAL=ops", "AGORA_SECRET=rotated")
	if out, err := status.CombinedOutput(); err != nil || !strings.Contains(string(out), "agents: 1 reachable") {
		t.Fatalf("agora status with credentials: %v\n%s", err, out)
	}
}

// certDir is a --tls-dir holding the cluster's CA and a certificate of
// role for name, made the first time a test asks for it.
func certDir(t testing.TB, role security.Role, name string) string {
	t.Helper()
	certsMu.Lock()
	defer certsMu.Unlock()
	dir := filepath.Dir(operator.Files().CA)
	out := filepath.Join(dir, "certs", string(role)+"-"+name)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	ca, err := security.ReadPEM(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := security.Issue(ca, security.Request{Identity: security.Identity{Role: role, Name: name}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := security.DirFiles(out, role)
	if err := security.WriteFiles(p, f.Cert, f.Key, false); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.CA, ca.Cert, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// A list or credentials that do not load stop a master from starting: it
// must not serve with less protection than its operator asked for.
func TestBadACLFlagsStopStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"run_task": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	master := []string{"node", "--role=master", "--listen", anyPort, "--http", anyPort}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(master, "--acls", filepath.Join(dir, "missing.json")), "no such file"},
		{append(master, "--acls", bad), `unknown action "run_task"`},
		{append(master, "--acls", "consul"), "needs --election"},
		{append(master, "--credentials", bad), "invalid credentials file"},
		{append(master, "--acls", bad, "--reload-interval", "0s"), "--reload-interval"},
		{[]string{"node", "--role=agent", "--master=127.0.0.1:1", "--acls", bad}, "are for masters"},
	} {
		out, err := exec.Command(agoraBin, append(tc.args, "--work-dir", t.TempDir())...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: err=%v, output %q should name %s", tc.args, err, out, tc.want)
		}
	}
}

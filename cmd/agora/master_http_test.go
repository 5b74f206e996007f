package main

import (
	"crypto/tls"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
)

// Issue 16: the operator commands (status, tasks, agents, roles, ...)
// never hang and say what is wrong with --master-http: nothing listening,
// a remoting port (a Mesos habit: one port for all), an agent's HTTP API,
// a server that never answers (bounded by --timeout), a Consul that does
// not answer. Real servers on loopback: proto.actor's remoting with the
// tests' master certificate, the agent's HTTP API, a TCP listener that
// accepts and stays silent.
func TestMasterCallSaysWhatTheAddressIs(t *testing.T) {
	if operator == nil {
		t.Fatal("TestMain made no certificates")
	}
	dir := filepath.Dir(operator.Files().CA)
	flags := tlsFlags{TLSDir: dir}

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nothing := closed.Addr().String()
	closed.Close()

	master, err := security.Options{Dir: dir}.Load(security.RoleMaster, nil)
	if err != nil {
		t.Fatal(err)
	}
	node, err := remoting.Start(remoting.Config{Bind: "127.0.0.1:0", TLS: master})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.System.Shutdown() })

	agentCert, err := security.Options{Dir: dir}.Load(security.RoleAgent, nil)
	if err != nil {
		t.Fatal(err)
	}
	agentLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agentAPI := &http.Server{Handler: agent.HTTPHandler(agent.HTTPConfig{WorkDir: t.TempDir()})}
	go agentAPI.Serve(tls.NewListener(agentLn, agentCert.ServerConfig(security.ClientOptional)))
	t.Cleanup(func() { agentAPI.Close() })

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	const timeout = 500 * time.Millisecond
	for _, c := range []struct{ name, addr, want string }{
		{"nothing listens", nothing, "nothing listens at " + nothing + ": is the master running, and is that its HTTP address"},
		{"a remoting port", node.Address, node.Address + " is a remoting address (agora node --listen), not the master's HTTP API"},
		{"an agent's HTTP API", agentLn.Addr().String(), "serves no /tasks: it is not the master's HTTP API (an agent's?)"},
		{"a silent server", silent.Addr().String(), "did not answer within 500ms: is that the master's --http address?"},
		{"no Consul", "consul://" + nothing + "/agora", "no leading master found at consul://" + nothing + "/agora within 500ms (--timeout)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := masterCall(flags, authFlags{}, c.addr, timeout, http.MethodGet, "/tasks?limit=1", nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v; want an error saying %q", err, c.want)
			}
			// The timeout bounds the call; 5 s is slack for a loaded machine.
			if took := time.Since(start); took > timeout+5*time.Second {
				t.Fatalf("took %v with a timeout of %v", took, timeout)
			}
		})
	}
}

// With --principal and --secret (no certificate), a command given a
// standby's address still authenticates to the leader it is redirected
// to on another host: Go's client drops the Authorization header on a
// redirect to another host, so masterCall signs every redirected request
// (the leader is verified against the cluster's CA as the standby was).
// Two TLS servers on two loopback addresses: the standby's answer is the
// 307 mastership.Seat gives, the leader wants the credentials.
func TestMasterCallKeepsCredentialsThroughAStandby(t *testing.T) {
	if operator == nil {
		t.Fatal("TestMain made no certificates")
	}
	dir := filepath.Dir(operator.Files().CA)
	cert, err := security.Options{Dir: dir}.Load(security.RoleMaster, nil)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(host string, h http.Handler) string {
		ln, err := net.Listen("tcp", host+":0")
		if err != nil {
			t.Skipf("no loopback address %s here: %v", host, err)
		}
		srv := &http.Server{Handler: h}
		go srv.Serve(tls.NewListener(ln, cert.ServerConfig(security.ClientOptional)))
		t.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	leaderAddr := serve("127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, secret, ok := r.BasicAuth(); !ok || user != "ops" || secret != "ops-secret" {
			http.Error(w, "401: no credentials", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{}`))
	}))
	standby := serve("127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+leaderAddr+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	body, err := masterCall(tlsFlags{TLSCA: operator.Files().CA}, authFlags{Principal: "ops", Secret: "ops-secret"}, standby, 5*time.Second,
		http.MethodGet, "/state", nil)
	if err != nil || string(body) != "{}" {
		t.Fatalf("through the standby: %q, %v; want the leader's answer", body, err)
	}
}

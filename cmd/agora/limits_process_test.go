package main

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/cluster/remoting"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// The limits of issue 14 on a TLS cluster, attacked as the issue did:
// amounts that wrapped in fixed point, a fake agent's million cpus, a
// role that escapes (x/../victim), and an HTTP body that stalls. Each is
// refused with its code and limit in the text, and nothing is applied.
func TestLimitsOnATLSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	dir := t.TempDir()
	m, info := startNode(t, "master", "node", "--role=master", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--http-read-timeout", "2s")

	// A fake agent with a valid agent certificate speaks to the master
	// from this process; the master's answers come to errs.
	src, err := security.Options{Dir: agentDir(t, "fake")}.Load(security.RoleAgent, nil)
	if err != nil {
		t.Fatal(err)
	}
	node, err := remoting.Start(remoting.Config{Bind: anyPort, TLS: src})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Stop()
	errs := make(chan *messages.Error, 4)
	me := node.System.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if e, ok := ctx.Message().(*messages.Error); ok {
			errs <- e
		}
	}))
	register := func(cpus float64) *messages.Error {
		t.Helper()
		// Sent as from me: the master takes a registration only with a PID
		// of the node it comes from.
		node.System.Root.RequestWithCustomSender(actor.NewPID(info.Remoting, master.Name), &messages.RegisterAgent{Pid: me,
			Info: &messages.AgentInfo{Hostname: "fake", Resources: []*messages.Resource{{Name: messages.CPUs, Scalar: cpus}, {Name: messages.Mem, Scalar: 1024}}}}, me)
		select {
		case e := <-errs:
			return e
		case <-time.After(30 * time.Second):
			t.Fatalf("the master never answered a registration with cpus:%g\n%s", cpus, m.out.String())
			return nil
		}
	}
	// 1e300 wrapped to a negative amount in milli-units; it is no amount.
	if e := register(1e300); e.Code != messages.Error_INVALID_ARGUMENT || !strings.Contains(e.Message, "over the limit of 1e+11") {
		t.Errorf("cpus:1e300: %v %q; want INVALID_ARGUMENT naming the limit", e.Code, e.Message)
	}
	// A million cpus is an amount, but no machine: the per-agent limit.
	if e := register(1e6); e.Code != messages.Error_LIMIT_EXCEEDED || !strings.Contains(e.Message, "--max-agent-resources") {
		t.Errorf("cpus:1e6: %v %q; want LIMIT_EXCEEDED naming --max-agent-resources", e.Code, e.Message)
	}
	m.out.waitFor(t, "request refused: limit exceeded")
	if n := metric(t, info.HTTP, `agora_master_limit_exceeded_total{limit="--max-agent-resources"}`); n != 1 {
		t.Errorf("limit_exceeded_total{--max-agent-resources} = %v; want 1", n)
	}

	// A quota of 1e300 cpus is refused by the master's API, not accepted
	// and then dropped by the allocator.
	client := operatorClient(20 * time.Second)
	put := func(path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, "https://"+info.HTTP+path, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, text := put("/quota/eng", `{"guarantee": "cpus:1e300"}`); code != http.StatusBadRequest || !strings.Contains(text, "INVALID_ARGUMENT") || !strings.Contains(text, "over the limit") {
		t.Errorf("quota cpus:1e300: %d %q; want 400 INVALID_ARGUMENT naming the limit", code, text)
	}
	// x/../victim, escaped so that no path cleaning hides it, and from the
	// CLI, which checks the name before it sends anything.
	if code, text := put("/weights/x%2F..%2Fvictim", "7"); code != http.StatusBadRequest || !strings.Contains(text, `".." segment`) {
		t.Errorf("weight of x/../victim: %d %q; want 400 naming the .. segment", code, text)
	}
	out, err := exec.Command(agoraBin, "weights", "set", "--master-http", info.HTTP, "x/../victim", "7").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "invalid role name") {
		t.Errorf("agora weights set x/../victim 7: %v\n%s", err, out)
	}

	// A body that stalls: the server cuts it at --http-read-timeout and
	// applies nothing of the part it got (a weight of 7 of "75").
	conn, err := tls.Dial("tcp", info.HTTP, operator.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "PUT /weights/victim HTTP/1.1\r\nHost: master\r\nContent-Length: 2\r\n\r\n7"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "nothing applied") {
		t.Errorf("stalled body: %s %q; want 400, nothing applied", resp.Status, b)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("stalled body answered after %s, before the read timeout", waited)
	}
	// An oversized body is refused whole.
	if code, _ := put("/weights/victim", strings.Repeat("7", 2<<10)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 KiB weight: %d; want 413", code)
	}

	// Nothing of it applied: no role configured, no agent admitted.
	resp, err = client.Get("https://" + info.HTTP + "/roles")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), "victim") || strings.Contains(string(b), "eng") {
		t.Errorf("roles after the refused changes: %s", b)
	}
	st := waitState(t, info.HTTP, func(*messages.MasterState) bool { return true })
	if len(st.Agents) != 0 {
		t.Errorf("agents admitted: %v", st.Agents)
	}
}

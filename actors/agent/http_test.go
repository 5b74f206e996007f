package agent_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/health"
	"github.com/agora-sched/agora/actors/scheduler"
	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestSandboxHTTP(t *testing.T) {
	dir := t.TempDir()
	sb := filepath.Join(dir, "frameworks", "f1", "tasks", "t1")
	if err := os.MkdirAll(sb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sb, "stdout"), []byte("hello world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(agent.HTTPHandler(agent.HTTPConfig{WorkDir: dir}))
	defer srv.Close()
	get := func(path string) (int, string, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("X-Agora-Offset")
	}
	if code, body, off := get("/sandboxes/f1/t1/stdout"); code != 200 || body != "hello world\n" || off != "12" {
		t.Fatalf("%d %q %s", code, body, off)
	}
	if code, body, _ := get("/sandboxes/f1/t1/stdout?offset=6"); code != 200 || body != "world\n" {
		t.Fatalf("offset: %d %q", code, body)
	}
	for _, bad := range []string{"/sandboxes/f1/t1/passwd", "/sandboxes/../t1/stdout", "/sandboxes/f1/nope/stdout", "/sandboxes/f1/..%2F..%2Fetc/stdout",
		"/sandboxes/f1/nope", "/sandboxes/f1/..%2F..%2Fetc"} {
		if code, _, _ := get(bad); code == 200 {
			t.Errorf("%s: served", bad)
		}
	}
	// The sandbox's listing, for the master's web UI.
	code, body, _ := get("/sandboxes/f1/t1")
	list := &messages.SandboxListing{}
	if err := protojson.Unmarshal([]byte(body), list); code != 200 || err != nil || len(list.Files) != 1 ||
		list.Files[0].Name != "stdout" || list.Files[0].Size != 12 || !strings.HasPrefix(list.Files[0].Mode, "-rw") {
		t.Fatalf("listing: %d %s (%v)", code, body, err)
	}
}

// The attack, as a task does it: it replaces its stderr with a link to
// /etc/shadow (a file its user cannot read). The agent's HTTP API, root,
// refuses to serve it (403, saying why); the task's stdout is served.
func TestSandboxHTTPRefusesATaskLinkToShadow(t *testing.T) {
	shadow, err := os.ReadFile("/etc/shadow")
	if err != nil || len(shadow) == 0 {
		t.Fatalf("this test reads /etc/shadow as root to check it is not served: %v", err)
	}
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256"})
	dir := searchableDir(t)
	addAgent(t, c, testkit.AgentSpec{WorkDir: dir, TaskUser: "nobody"})
	task := scheduler.Command("t1", "echo hi; echo oops >&2; ln -sf /etc/shadow stderr", scheduler.Resources("cpus:0.1;mem:16"))
	c.StartScheduler(&messages.FrameworkInfo{Name: "fw", Roles: []string{"r"}}, &launcher{task: task})
	c.Events.WaitFor(t, testkit.IsStatus("fw", "t1", messages.TaskState_TASK_FINISHED))
	fw := c.StateWhere(t, func(s *messages.MasterState) bool { return len(s.Frameworks) == 1 }).Frameworks[0].Info.Id.Value

	srv := httptest.NewServer(agent.HTTPHandler(agent.HTTPConfig{WorkDir: dir}))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/sandboxes/" + fw + "/t1/stderr")
	if code != http.StatusForbidden || !strings.Contains(body, "not a regular file") || strings.Contains(body, strings.SplitN(string(shadow), "\n", 2)[0]) {
		t.Fatalf("stderr linked to /etc/shadow: %d %q", code, body)
	}
	if code, body := get("/sandboxes/" + fw + "/t1/stdout"); code != 200 || body != "hi\n" {
		t.Fatalf("stdout: %d %q", code, body)
	}
}

// /health answers 200 while the agent actor takes its probe, and 503
// naming it once the actor is stopped (a PoisonPill, as an attacker would
// send), though the HTTP server still runs.
func TestAgentHealthSeesAStoppedActor(t *testing.T) {
	c := testkit.Start(t, testkit.Options{AgentResources: "cpus:1;mem:256", Concurrent: true})
	pid := c.AddAgent(testkit.AgentSpec{})
	c.Events.WaitFor(t, func(ev any) bool { _, ok := ev.(agent.Registered); return ok })
	srv := httptest.NewServer(agent.HTTPHandler(agent.HTTPConfig{WorkDir: t.TempDir(), Health: func(ctx context.Context) error {
		return health.Check(ctx, c.System.Root, health.Actor{Name: "agent", PID: pid})
	}}))
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + "/health")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 || body != "ok\n" {
		t.Fatalf("live agent: %d %q", code, body)
	}
	if err := c.System.Root.PoisonFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "the agent actor") {
		t.Fatalf("stopped agent: %d %q", code, body)
	}
}

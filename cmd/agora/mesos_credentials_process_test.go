package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/mesosapi"
	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	sched "github.com/agora-sched/agora/messages/mesos/v1/scheduler"
	"google.golang.org/protobuf/proto"
)

// mesos-go's example scheduler authenticates with HTTP Basic (its
// -authmode basic, as against a Mesos master run with
// --authenticate_http_frameworks) against a cluster run --insecure with
// --credentials and an access control list: its principal is the
// framework's, the list lets that principal register, and its tasks run in
// its own executor to the end. Another principal is refused by the list
// (403), and a request with no or wrong credentials is answered 401 with a
// challenge, as Mesos answers.
func TestMesosFrameworkWithCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	example, executor := mesosGoBin(t, "example-scheduler"), mesosGoBin(t, "example-executor")
	dir := t.TempDir()
	creds, acls, password := filepath.Join(dir, "credentials.json"), filepath.Join(dir, "acls.json"), filepath.Join(dir, "password")
	for path, text := range map[string]string{
		creds:    `{"credentials": [{"principal": "spark", "secret": "spark-secret"}, {"principal": "intern", "secret": "intern-secret"}]}`,
		acls:     `{"register_frameworks": [{"principals": ["spark"], "roles": ["*"]}], "run_tasks": [{"principals": ["*"], "users": ["*"]}], "view_state": [{"principals": ["*"]}]}`,
		password: "spark-secret",
	} {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// agora dev takes no --credentials: a master and an agent.
	_, dev := startNode(t, "master", "node", "--role=master", "--insecure", "--listen", anyPort, "--http", anyPort, "--work-dir", filepath.Join(dir, "m"),
		"--allocation-interval", "100ms", "--credentials", creds, "--acls", acls)
	startNode(t, "agent", "node", "--role=agent", "--insecure", "--listen", anyPort, "--agent-http", anyPort, "--master", dev.Remoting,
		"--work-dir", workDir(t), "--resources", "cpus:2;mem:512", "--isolation", "none")
	waitStateOf(t, "http", dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })

	subscribe := func(user, secret string) (*http.Response, string) {
		t.Helper()
		body, _ := mesosapi.JSONCodec.Marshal(&sched.Call{Type: sched.Call_SUBSCRIBE.Enum(), Subscribe: &sched.Call_Subscribe{FrameworkInfo: &mesos.FrameworkInfo{
			User: proto.String("nobody"), Name: proto.String("refused")}}})
		req, _ := http.NewRequest(http.MethodPost, "http://"+dev.HTTP+mesosapi.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", mesosapi.MediaJSON)
		if user != "" {
			req.SetBasicAuth(user, secret)
		}
		res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		return res, b.String()
	}
	for _, c := range [][2]string{{"", ""}, {"spark", "wrong"}} {
		if res, text := subscribe(c[0], c[1]); res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("SUBSCRIBE with credentials %q: %d %q; want 401 with a challenge", c, res.StatusCode, text)
		}
	}
	if res, text := subscribe("intern", "intern-secret"); res.StatusCode != http.StatusForbidden || !bytes.Contains([]byte(text), []byte("register_frameworks")) {
		t.Fatalf("SUBSCRIBE as a principal the list does not allow: %d %q; want 403 naming register_frameworks", res.StatusCode, text)
	}

	ex := startBin(t, example, "example-scheduler", "-url", "http://"+dev.HTTP+"/api/v1/scheduler", "-codec", "protobuf", "-user", "nobody",
		"-authmode", "basic", "-credentials.username", "spark", "-credentials.passwordFile", password, "-principal", "spark",
		"-executor", executor, "-tasks", "2", "-cpu", "0.1", "-memory", "16", "-server.address", "127.0.0.1", "-metrics.port", "0")
	ex.out.waitFor(t, "mission accomplished")
	waitExit(t, ex, 30*time.Second)
	st := waitStateOf(t, "http", dev.HTTP, func(st *messages.MasterState) bool { return frameworkNamed(st, "example") != nil })
	if p := frameworkNamed(st, "example").Info.GetPrincipal(); p != "spark" {
		t.Fatalf("the framework's principal is %q; want its credentials' principal", p)
	}
}

package mesosapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/agora-sched/agora/cluster/credentials"
	"github.com/agora-sched/agora/cluster/security"
	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
)

// HTTP frameworks authenticate with the master's --credentials as Mesos'
// basic HTTP authenticator takes them (HTTP Basic), or with a bearer
// token; the principal subscribes as a framework of that name. Missing or
// wrong credentials are answered 401 with the challenges a client can
// answer, as Mesos answers them.
func TestFrameworkCredentials(t *testing.T) {
	set, err := credentials.Parse([]byte(`{"credentials": [{"principal": "spark", "secret": "s3cret"}, {"principal": "ops", "secret": "t0ken"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan received, 100)
	sys := actor.NewActorSystem()
	master := sys.Root.Spawn(fakeMaster(got))
	srv := New(Config{System: sys, Master: func() *actor.PID { return master },
		Authenticate: FrameworkCredentials(func() security.Authenticator { return set })})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); sys.Shutdown() })
	h := &harness{t: t, sys: sys, master: master, got: got, url: hs.URL + Path}

	subscribe := func(auth func(*http.Request)) *http.Response {
		t.Helper()
		body, _ := JSONCodec.Marshal(subscribeCall(0))
		req, _ := http.NewRequest(http.MethodPost, h.url, bytes.NewReader(body))
		req.Header.Set("Content-Type", MediaJSON)
		auth(req)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, c := range []struct {
		name string
		auth func(*http.Request)
		want string
	}{
		{"basic", func(r *http.Request) { r.SetBasicAuth("spark", "s3cret") }, "spark"},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer t0ken") }, "ops"},
	} {
		res := subscribe(c.auth)
		if res.StatusCode != http.StatusOK {
			status(t, res, http.StatusOK, "")
		}
		_, r := next[*messages.SubscribeFramework](h)
		if r.who != (security.Identity{Role: security.RoleFramework, Name: c.want}) {
			t.Fatalf("%s: the master saw the subscription from %v; want framework %s", c.name, r.who, c.want)
		}
		res.Body.Close()
	}
	for _, c := range []struct {
		name string
		auth func(*http.Request)
		text string
	}{
		{"wrong secret", func(r *http.Request) { r.SetBasicAuth("spark", "t0ken") }, "credentials not accepted"},
		{"unknown principal", func(r *http.Request) { r.SetBasicAuth("mallory", "s3cret") }, "credentials not accepted"},
		{"bad bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, "credentials not accepted"},
		{"none", func(*http.Request) {}, "this master authenticates frameworks"},
	} {
		res := subscribe(c.auth)
		if ch := res.Header.Values("WWW-Authenticate"); len(ch) != 2 {
			t.Fatalf("%s: challenges %q; want Basic and Bearer", c.name, ch)
		}
		status(t, res, http.StatusUnauthorized, c.text)
	}
	select {
	case r := <-got:
		if _, ok := r.msg.(*messages.SubscribeFramework); ok {
			t.Fatalf("a refused request reached the master: %v from %v", r.msg, r.who)
		}
	default:
	}

	// Without credentials configured, the connection says who the client
	// is (here plain HTTP: insecure), as before.
	open := FrameworkCredentials(func() security.Authenticator { return nil })
	req := httptest.NewRequest(http.MethodPost, Path, nil)
	if id, err := open(req); err != nil || id != security.Insecure {
		t.Fatalf("no credentials configured: %v %v; want the insecure identity", id, err)
	}
}

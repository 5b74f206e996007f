package master_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agora-sched/agora/actors/health"
	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/testkit"
	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
)

// /health answers 200 only while the master and the allocator actors take
// its probe: a PoisonPill (as an attacker would send) to either leaves the
// HTTP API and its snapshots up, and /health says which stopped.
func TestHealthSeesAStoppedMasterOrAllocator(t *testing.T) {
	for _, victim := range []string{"allocator", "master"} {
		t.Run(victim, func(t *testing.T) {
			c := testkit.Start(t, testkit.Options{Concurrent: true})
			for { // the master publishes its first snapshot as it starts
				changed := c.Publisher.Changed()
				if c.Publisher.Latest() != nil {
					break
				}
				<-changed
			}
			srv := httptest.NewServer(master.HTTPHandler(c.Publisher, prometheus.NewRegistry(), nil, nil, func(ctx context.Context) error {
				return health.Check(ctx, c.System.Root, health.Actor{Name: "master", PID: c.Master}, health.Actor{Name: "allocator", PID: c.Allocator})
			}, nil))
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
				t.Fatalf("live master: %d %q", code, body)
			}
			pid := map[string]*actor.PID{"allocator": c.Allocator, "master": c.Master}[victim]
			if err := c.System.Root.PoisonFuture(pid).Wait(); err != nil {
				t.Fatal(err)
			}
			if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "the "+victim+" actor") {
				t.Fatalf("stopped %s: %d %q", victim, code, body)
			}
		})
	}
}

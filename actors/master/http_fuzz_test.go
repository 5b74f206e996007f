package master

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/master/core"
	policy "github.com/agora-sched/agora/allocator"
	"github.com/agora-sched/agora/messages"
	"github.com/prometheus/client_golang/prometheus"
)

// FuzzHTTPHandler sends the master's HTTP API random methods, paths,
// queries and bodies. Role changes go to a real core (an operator's
// request), whose allocator messages go to a real allocation policy.
// Whatever comes: no panic; no 5xx but for what the server says of itself
// (503 starting); a 4xx says why in its body; and the allocator takes
// every change the core accepted (no quota the master takes and the
// allocator refuses).
func FuzzHTTPHandler(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"GET", "/state", ""},
		{"GET", "/state?since=1&wait=1ms", ""},
		{"GET", "/state?since=x&wait=-1s", ""},
		{"GET", "/state/summary?since=1&wait=1ms", ""},
		{"GET", "/roles", ""},
		{"GET", "/health", ""},
		{"GET", "/tasks/t1?framework=m-F1", ""},
		{"PUT", "/weights/eng", "2"},
		{"PUT", "/weights/x/../victim", "7"},
		{"PUT", "/weights/eng", "NaN"},
		{"PUT", "/weights/eng", "1e300"},
		{"PUT", "/quota/eng", `{"guarantee": "cpus:4;mem:4096", "limit": "cpus:8"}`},
		{"PUT", "/quota/eng", `{"guarantee": "cpus:1e300"}`},
		{"PUT", "/quota/eng", `{"limit": "mem:9e15;mem:9e15"}`},
		{"PUT", "/quota/eng", `{"guarantee": "ports:[1-2]", "limit": "foo:1"}`},
		{"PUT", "/quota/a%00b", `{}`},
		{"DELETE", "/quota/eng", ""},
		{"POST", "/state", "x"},
		{"GET", "/metrics", ""},
	} {
		f.Add(s.method, s.path, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		// A master of its own for every input, so that a crasher
		// reproduces alone.
		pub := &Publisher{}
		pub.publish(&messages.MasterState{Master: &messages.MasterInfo{Id: "m"}, SnapshotUnixNano: 1})
		reg := prometheus.NewRegistry()
		NewMetrics(reg)
		var mu sync.Mutex
		now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		c := core.New(core.Config{Info: &messages.MasterInfo{Id: "m", Epoch: 1}})
		c.Start(now)
		pol, _ := policy.New("drf", policy.Options{Seed: 1})
		var refused error
		operator := core.Peer{Endpoint: core.Endpoint{Address: "o:1", ID: "op"}, Role: core.RoleOperator, Principal: "op"}
		update := func(_ context.Context, u *messages.UpdateRole) (*messages.RoleConfig, error) {
			mu.Lock()
			defer mu.Unlock()
			var cfg *messages.RoleConfig
			var err error
			for _, e := range c.UpdateRole(operator, u, now).Effects {
				switch e := e.(type) {
				case core.ToAllocator:
					if _, aerr := policy.Apply(pol, e.Msg, now); aerr != nil {
						refused = errors.Join(refused, aerr)
					}
				case core.Send:
					switch m := e.Msg.(type) {
					case *messages.RoleConfig:
						cfg = m
					case *messages.Error:
						err = errors.New(m.Message)
					}
				}
			}
			if cfg == nil && err == nil {
				err = errors.New("the core did not answer")
			}
			return cfg, err
		}
		lookup := func(_ context.Context, q *messages.GetTask) (*messages.TaskLocation, error) {
			mu.Lock()
			defer mu.Unlock()
			return c.FindTask(q)
		}
		health := func(context.Context) error { return nil }
		h := HTTPHandler(pub, reg, update, lookup, health, nil)
		// A request already cancelled: a long poll answers at once.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, err := http.NewRequestWithContext(ctx, method, "http://master"+target, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(target, "/") {
			return // not a request a client can send
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %q %q: %d %s", method, target, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && strings.TrimSpace(rec.Body.String()) == "" {
			t.Fatalf("%s %q %q: %d with no reason given", method, target, body, rec.Code)
		}
		mu.Lock()
		defer mu.Unlock()
		if refused != nil {
			t.Fatalf("%s %q %q: the master took a change the allocator refused: %v", method, target, body, refused)
		}
	})
}

package agent_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-sched/agora/actors/agent"
)

// FuzzSandboxHTTP sends the agent's HTTP API random methods, paths,
// queries and bodies, on a work dir with one task whose stdout is a file
// and whose stderr links to a secret outside its sandbox. Whatever comes:
// no panic; no 5xx but for what the server says of itself (501: no
// cgroups here); a 4xx says why; the secret is never served, and nothing
// but the one task's stdout is served at all.
func FuzzSandboxHTTP(f *testing.F) {
	for _, s := range []string{
		"/sandboxes/f1/t1/stdout", "/sandboxes/f1/t1/stdout?offset=6", "/sandboxes/f1/t1/stdout?offset=-9223372036854775808",
		"/sandboxes/f1/t1/stdout?offset=99999999999999999999", "/sandboxes/f1/t1/stderr", "/sandboxes/f1/t1/passwd",
		"/sandboxes/../t1/stdout", "/sandboxes/f1/..%2F..%2Fsecret/stdout", "/sandboxes/f1/t1%2F..%2F..%2F..%2F/stdout",
		"/sandboxes/%00/t1/stdout", "/usage/f1/t1", "/usage/../..", "/health", "/sandboxes/f1/t1/stdout/extra",
	} {
		f.Add("GET", s, []byte(nil))
	}
	f.Add("PUT", "/sandboxes/f1/t1/stdout", []byte("overwrite"))
	dir := f.TempDir()
	work := filepath.Join(dir, "work")
	sb := filepath.Join(work, "frameworks", "f1", "tasks", "t1")
	secret := filepath.Join(dir, "secret")
	if err := os.MkdirAll(sb, 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sb, "stdout"), []byte("hello world\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(secret, []byte("SECRET-4b1d"), 0o600); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(sb, "stderr")); err != nil {
		f.Fatal(err)
	}
	h := agent.HTTPHandler(agent.HTTPConfig{WorkDir: work, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		req, err := http.NewRequestWithContext(context.Background(), method, "http://agent"+target, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(target, "/") {
			return // not a request a client can send
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		out := rec.Body.String()
		switch {
		case rec.Code >= 500 && rec.Code != http.StatusNotImplemented:
			t.Fatalf("%s %q: %d %s", method, target, rec.Code, out)
		case rec.Code >= 400 && strings.TrimSpace(out) == "":
			t.Fatalf("%s %q: %d with no reason given", method, target, rec.Code)
		case strings.Contains(out, "SECRET"):
			t.Fatalf("%s %q: served the secret outside the sandbox: %d %q", method, target, rec.Code, out)
		case rec.Code == http.StatusOK && req.URL.Path != "/health" && !strings.HasSuffix("hello world\n", out):
			t.Fatalf("%s %q: served %q", method, target, out)
		}
	})
}

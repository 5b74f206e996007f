package agent_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/agora-sched/agora/actors/agent"
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
	srv := httptest.NewServer(agent.HTTPHandler(dir, nil))
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
	for _, bad := range []string{"/sandboxes/f1/t1/passwd", "/sandboxes/../t1/stdout", "/sandboxes/f1/nope/stdout", "/sandboxes/f1/..%2F..%2Fetc/stdout"} {
		if code, _, _ := get(bad); code == 200 {
			t.Errorf("%s: served", bad)
		}
	}
}

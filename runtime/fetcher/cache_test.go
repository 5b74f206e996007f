package fetcher

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// countingServer serves /<name> as a body of size bytes ("/missing" is
// 404) and counts the requests for each path.
type countingServer struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newCountingServer(t *testing.T, sizes map[string]int) *countingServer {
	s := &countingServer{hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		n, ok := sizes[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(strings.Repeat(r.URL.Path[1:2], n)))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *countingServer) requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// Mesos' fetcher cache: a URI marked cache is downloaded once per user
// and URI and copied from the cache into each sandbox; one not marked is
// downloaded every time; another user downloads their own copy.
func TestCacheServesRepeatedFetches(t *testing.T) {
	srv := newCountingServer(t, map[string]int{"a.sh": 10, "plain": 10})
	cache, err := NewCache(filepath.Join(t.TempDir(), "cache"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(user string, uri *messages.CommandInfo_URI) string {
		t.Helper()
		sandbox := t.TempDir()
		if err := Fetch(context.Background(), Config{Cache: cache, User: user}, []*messages.CommandInfo_URI{uri}, sandbox); err != nil {
			t.Fatal(err)
		}
		return sandbox
	}
	cached := &messages.CommandInfo_URI{Value: srv.URL + "/a.sh", Executable: true, Cache: true}
	for range 3 {
		sandbox := fetch("alice", cached)
		st, err := os.Stat(filepath.Join(sandbox, "a.sh"))
		if err != nil || st.Size() != 10 || st.Mode().Perm() != 0o755 {
			t.Fatalf("a cached file in the sandbox: %v %v", st, err)
		}
	}
	if n := srv.requests("/a.sh"); n != 1 {
		t.Fatalf("3 fetches of a cached URI by one user made %d requests; want 1", n)
	}
	fetch("bob", cached)
	if n := srv.requests("/a.sh"); n != 2 {
		t.Fatalf("another user's fetch made %d requests in all; want 2 (caches are per user)", n)
	}
	for range 2 {
		fetch("alice", &messages.CommandInfo_URI{Value: srv.URL + "/plain"})
	}
	if n := srv.requests("/plain"); n != 2 {
		t.Fatalf("a URI not marked cache was requested %d times in 2 fetches; want 2", n)
	}
	if hits, misses, bytes := cache.Stats(); hits != 2 || misses != 2 || bytes != 20 {
		t.Fatalf("cache stats: %d hits, %d misses, %d bytes; want 2, 2, 20", hits, misses, bytes)
	}
}

// The cache holds at most its size: the least recently used file goes
// first; a file larger than the whole cache is fetched but not kept.
func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	srv := newCountingServer(t, map[string]int{"a": 40, "b": 40, "c": 40, "huge": 200})
	dir := filepath.Join(t.TempDir(), "cache")
	cache, err := NewCache(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(name string) {
		t.Helper()
		uri := &messages.CommandInfo_URI{Value: srv.URL + "/" + name, Cache: true}
		if err := Fetch(context.Background(), Config{Cache: cache, User: "u"}, []*messages.CommandInfo_URI{uri}, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	fetch("a")
	fetch("b")
	fetch("a") // a is now the most recently used
	fetch("c") // 120 bytes > 100: b goes
	fetch("a")
	fetch("b")
	for name, want := range map[string]int{"/a": 1, "/b": 2, "/c": 1} {
		if n := srv.requests(name); n != want {
			t.Errorf("%s requested %d times; want %d", name, n, want)
		}
	}
	fetch("huge")
	fetch("huge")
	if n := srv.requests("/huge"); n != 2 {
		t.Errorf("a file larger than the cache was requested %d times in 2 fetches; want 2 (never kept)", n)
	}
	if _, _, bytes := cache.Stats(); bytes > 100 {
		t.Errorf("the cache holds %d bytes; at most 100", bytes)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("the cache directory holds %d files; want 2 (evicted and spooled files removed)", len(entries))
	}
}

// A failed fetch names the URI and why, is ErrFailed (the agent's
// REASON_FETCHER_FAILED), and caches nothing; the per-fetch size limit
// holds for a cached URI too.
func TestCacheFailuresAndLimit(t *testing.T) {
	srv := newCountingServer(t, map[string]int{"big": 100})
	cache, err := NewCache(filepath.Join(t.TempDir(), "cache"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	missing := &messages.CommandInfo_URI{Value: srv.URL + "/missing", Cache: true}
	for range 2 {
		err := Fetch(context.Background(), Config{Cache: cache, User: "u"}, []*messages.CommandInfo_URI{missing}, t.TempDir())
		if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), missing.Value) || !strings.Contains(err.Error(), "404") {
			t.Fatalf("a missing file: %v; want ErrFailed naming the URI and 404", err)
		}
	}
	if n := srv.requests("/missing"); n != 2 {
		t.Fatalf("a failed download was cached: %d requests for 2 fetches", n)
	}
	big := &messages.CommandInfo_URI{Value: srv.URL + "/big", Cache: true}
	err = Fetch(context.Background(), Config{Cache: cache, User: "u", MaxBytes: 50}, []*messages.CommandInfo_URI{big}, t.TempDir())
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrFailed) {
		t.Fatalf("a cached URI past the fetch's limit: %v; want ErrTooLarge", err)
	}
	if _, _, bytes := cache.Stats(); bytes != 0 {
		t.Fatalf("a refused download left %d bytes in the cache", bytes)
	}
	if _, err := NewCache(t.TempDir(), 0); err == nil {
		t.Fatal("a cache of 0 bytes was made")
	}
}

// BenchmarkFetch fetches a 4 MiB file into a fresh sandbox over loopback
// HTTP, downloaded each time or served from the cache.
func BenchmarkFetch(b *testing.B) {
	body := make([]byte, 4<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()
	cache, err := NewCache(filepath.Join(b.TempDir(), "cache"), 64<<20)
	if err != nil {
		b.Fatal(err)
	}
	for _, cached := range []bool{false, true} {
		name := "download"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) {
			uris := []*messages.CommandInfo_URI{{Value: srv.URL + "/app.bin", Cache: cached}}
			b.SetBytes(int64(len(body)))
			for range b.N {
				sandbox := b.TempDir()
				if err := Fetch(context.Background(), Config{Cache: cache, User: "u"}, uris, sandbox); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

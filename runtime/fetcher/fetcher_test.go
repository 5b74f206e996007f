package fetcher

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
)

func tgz(t *testing.T, files map[string]string) []byte {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}

func TestFetch(t *testing.T) {
	archive := tgz(t, map[string]string{"bin/run": "#!/bin/sh\n", "conf": "x=1\n"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/exec":
			w.Write([]byte("#!/bin/sh\necho hi\n"))
		case "/app.tar.gz":
			w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	local := filepath.Join(t.TempDir(), "data.txt")
	os.WriteFile(local, []byte("local"), 0o600)
	sandbox := t.TempDir()
	err := Fetch(context.Background(), Config{}, []*messages.CommandInfo_URI{
		{Value: srv.URL + "/exec", Executable: true, Extract: true},
		{Value: srv.URL + "/app.tar.gz", Extract: true},
		{Value: srv.URL + "/app.tar.gz", OutputFile: "kept.tgz"},
		{Value: local, OutputFile: "renamed"},
	}, sandbox)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"exec": "#!/bin/sh\necho hi\n", "bin/run": "#!/bin/sh\n", "conf": "x=1\n", "kept.tgz": string(archive), "renamed": "local"} {
		b, err := os.ReadFile(filepath.Join(sandbox, name))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	if st, _ := os.Stat(filepath.Join(sandbox, "exec")); st.Mode().Perm() != 0o755 {
		t.Errorf("executable fetched as %v", st.Mode())
	}
	if st, _ := os.Stat(filepath.Join(sandbox, "renamed")); st.Mode().Perm() != 0o644 {
		t.Errorf("a plain file fetched as %v (the task's user must read it)", st.Mode())
	}

	for _, tc := range []struct {
		uri  *messages.CommandInfo_URI
		max  int64
		want string
	}{
		{&messages.CommandInfo_URI{Value: srv.URL + "/missing"}, 0, "404"},
		{&messages.CommandInfo_URI{Value: srv.URL + "/exec", OutputFile: "../escape"}, 0, "leaves the sandbox"},
		{&messages.CommandInfo_URI{Value: "relative/path"}, 0, "absolute"},
		{&messages.CommandInfo_URI{Value: "ftp://host/x"}, 0, "not supported"},
		{&messages.CommandInfo_URI{Value: srv.URL + "/exec"}, 4, "exceed"},
		{&messages.CommandInfo_URI{Value: srv.URL + "/app.tar.gz", Extract: true}, 5, "exceed"},
	} {
		err := Fetch(context.Background(), Config{MaxBytes: tc.max}, []*messages.CommandInfo_URI{tc.uri}, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.uri.Value) {
			t.Errorf("%v: %v; want an error naming the URI and %q", tc.uri, err, tc.want)
		}
	}
	evil := tgz(t, map[string]string{"../../etc/evil": "x"})
	evilSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(evil) }))
	defer evilSrv.Close()
	if err := Fetch(context.Background(), Config{}, []*messages.CommandInfo_URI{{Value: evilSrv.URL + "/evil.tgz", Extract: true}}, t.TempDir()); err == nil || !strings.Contains(err.Error(), "leaves the sandbox") {
		t.Errorf("an archive entry outside the sandbox: %v", err)
	}
	if !errors.Is(Fetch(context.Background(), Config{MaxBytes: 4}, []*messages.CommandInfo_URI{{Value: srv.URL + "/exec"}}, t.TempDir()), ErrTooLarge) {
		t.Error("too large is not ErrTooLarge")
	}
}

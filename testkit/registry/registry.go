// Package registry starts a real Docker image registry (Debian's
// docker-registry, distribution 2.8) on loopback for tests that pull
// images, with htpasswd authentication:
//
//	r := registry.Start(t, "alice", "s3cret")
//	ref := r.Push(t, cli, "agora/busybox:test", "agora/app:1") // in the registry, not on the engine
//	cfg := r.ConfigJSON("alice", "s3cret")                      // a ~/.docker/config.json for it
//
// The Docker engine trusts registries on 127.0.0.0/8 over plain HTTP, so
// no TLS is involved.
package registry

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	dockerregistry "github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/jsonmessage"
	"golang.org/x/crypto/bcrypt"
)

// Binary is Debian's docker-registry.
const Binary = "/usr/bin/docker-registry"

// Registry is a docker-registry child process.
type Registry struct {
	// Addr is where it listens: 127.0.0.1:port.
	Addr       string
	user, pass string
}

// Start starts a registry on a loopback port the kernel picks (its config
// asks for 127.0.0.1:0 and the registry logs the address it got),
// requiring user and pass. It is stopped when the test ends.
func Start(t testing.TB, user, pass string) *Registry {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Fatalf("this test needs a real registry: apt-get install -y docker-registry (%v)", err)
	}
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: 127.0.0.1:0
  secret: agora-test
auth:
  htpasswd:
    realm: agora-test
    path: %s
`, filepath.Join(dir, "data"), filepath.Join(dir, "htpasswd"))
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Binary, "serve", filepath.Join(dir, "config.yml"))
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	listening := regexp.MustCompile(`listening on (127\.0\.0\.1:[0-9]+)`)
	addr := make(chan string, 1)
	go func() { // reads the log to its end (the registry's life), so it never blocks writing
		sc := bufio.NewScanner(logs)
		found := false
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				addr <- m[1]
			}
		}
		if !found {
			close(addr)
		}
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatal("the registry exited without saying where it listens")
		}
		return &Registry{Addr: a, user: user, pass: pass}
	case <-time.After(30 * time.Second):
		t.Fatal("the registry did not say where it listens within 30 s")
	}
	return nil
}

// Push pushes the engine's image src into the registry as name and
// removes it from the engine under that name, so that running it means
// pulling it. It returns the image's full reference (Addr/name).
func (r *Registry) Push(t testing.TB, cli *client.Client, src, name string) string {
	t.Helper()
	ref := r.Addr + "/" + name
	r.PushAs(t, cli, src, ref)
	t.Cleanup(func() { Untag(t, cli, ref) })
	return ref
}

// PushAs pushes the engine's image src to the registry as ref (a full
// reference into it), leaving the engine without ref.
func (r *Registry) PushAs(t testing.TB, cli *client.Client, src, ref string) {
	t.Helper()
	ctx := context.Background()
	if err := cli.ImageTag(ctx, src, ref); err != nil {
		t.Fatal(err)
	}
	auth, err := dockerregistry.EncodeAuthConfig(dockerregistry.AuthConfig{Username: r.user, Password: r.pass, ServerAddress: r.Addr})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		t.Fatal(err)
	}
	err = jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
	rc.Close()
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	Untag(t, cli, ref)
}

// Untag removes ref from the engine: only the name (the layers stay, as
// other names use them).
func Untag(t testing.TB, cli *client.Client, ref string) {
	t.Helper()
	if _, err := cli.ImageRemove(context.Background(), ref, image.RemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
		t.Fatalf("remove %s: %v", ref, err)
	}
}

// ConfigJSON is a Docker config file (~/.docker/config.json) holding
// user:pass for the registry.
func (r *Registry) ConfigJSON(user, pass string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return []byte(fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, r.Addr, auth))
}

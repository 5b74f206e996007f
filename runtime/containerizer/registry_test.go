package containerizer

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
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/jsonmessage"
	"golang.org/x/crypto/bcrypt"
)

// registryBinary is Debian's docker-registry (distribution 2.8): a real
// image registry, started on loopback by the tests that pull.
const registryBinary = "/usr/bin/docker-registry"

// testRegistry is a docker-registry child process with htpasswd auth.
type testRegistry struct {
	addr       string // 127.0.0.1:port
	user, pass string
}

// startRegistry starts a registry on a loopback port the kernel picks (its
// config asks for 127.0.0.1:0 and the registry logs the address it got),
// requiring user and pass. It is stopped when the test ends.
func startRegistry(t *testing.T, user, pass string) *testRegistry {
	t.Helper()
	if _, err := os.Stat(registryBinary); err != nil {
		t.Fatalf("these tests need a real registry: apt-get install -y docker-registry (%v)", err)
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
	cmd := exec.Command(registryBinary, "serve", filepath.Join(dir, "config.yml"))
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
		return &testRegistry{addr: a, user: user, pass: pass}
	case <-time.After(30 * time.Second):
		t.Fatal("the registry did not say where it listens within 30 s")
	}
	return nil
}

// push tags the local image src as name in the registry, pushes it, and
// removes the tag again, so that the engine has to pull name to run it.
func (r *testRegistry) push(t *testing.T, d *Docker, src, name string) string {
	t.Helper()
	ref := r.addr + "/" + name
	r.pushAs(t, d, src, ref)
	t.Cleanup(func() { r.untag(t, d, ref) })
	return ref
}

// pushAs pushes the local image src to the registry as ref (a name in
// it), leaving the engine without ref.
func (r *testRegistry) pushAs(t *testing.T, d *Docker, src, ref string) {
	t.Helper()
	ctx := context.Background()
	if err := d.Client.ImageTag(ctx, src, ref); err != nil {
		t.Fatal(err)
	}
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: r.user, Password: r.pass, ServerAddress: r.addr})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := d.Client.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		t.Fatal(err)
	}
	err = jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil)
	rc.Close()
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	r.untag(t, d, ref)
}

// untag removes ref from the engine: only the name (the layers stay, as
// other names use them).
func (r *testRegistry) untag(t *testing.T, d *Docker, ref string) {
	t.Helper()
	if _, err := d.Client.ImageRemove(context.Background(), ref, image.RemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
		t.Fatalf("remove %s: %v", ref, err)
	}
}

// configJSON is a Docker config file (~/.docker/config.json) holding
// user:pass for the registry.
func (r *testRegistry) configJSON(user, pass string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return []byte(fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, r.addr, auth))
}

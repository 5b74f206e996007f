package containerizer

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/registry"
)

// Credentials are found by the image's registry host, in both file
// formats Mesos' --docker_config takes, with Docker Hub's aliases;
// unusable files are refused with a reason that names no secret.
func TestDockerConfigCredentials(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, config, image string
		wantUser, wantPass  string // "" : anonymous
		wantErr             string
	}{
		{name: "config.json by host:port", config: `{"auths": {"127.0.0.1:5000": {"auth": "` + b64("alice:s3cret") + `"}}}`,
			image: "127.0.0.1:5000/team/app:1", wantUser: "alice", wantPass: "s3cret"},
		{name: "a password with colons", config: `{"auths": {"reg.example:443": {"auth": "` + b64("bob:a:b:c") + `"}}}`,
			image: "reg.example:443/app", wantUser: "bob", wantPass: "a:b:c"},
		{name: "username and password fields", config: `{"auths": {"https://reg.example/v2/": {"username": "u", "password": "p"}}}`,
			image: "reg.example/app@sha256:" + strings.Repeat("a", 64), wantUser: "u", wantPass: "p"},
		{name: "docker hub's old key", config: `{"auths": {"https://index.docker.io/v1/": {"auth": "` + b64("hub:pw") + `"}}}`,
			image: "library/busybox", wantUser: "hub", wantPass: "pw"},
		{name: "old .dockercfg", config: `{"127.0.0.1:5000": {"auth": "` + b64("old:fmt") + `", "email": "x@y"}}`,
			image: "127.0.0.1:5000/app", wantUser: "old", wantPass: "fmt"},
		{name: "another registry: anonymous", config: `{"auths": {"127.0.0.1:5000": {"auth": "` + b64("a:b") + `"}}}`,
			image: "127.0.0.1:5001/app"},
		{name: "not JSON", config: `auths: {}`, wantErr: "not a JSON object"},
		{name: "credential helper", config: `{"auths": {}, "credsStore": "desktop"}`, wantErr: "credential helpers"},
		{name: "bad auth", config: `{"auths": {"r": {"auth": "` + b64("no-colon-secret") + `"}}}`, wantErr: `"auth" of "r"`},
		{name: "bad entry", config: `{"auths": {"r": "hunter2"}}`, wantErr: `entry of "r"`},
		{name: "bad image", config: `{"auths": {}}`, image: "UPPER/Case", wantErr: "not a valid reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseDockerConfig([]byte(tc.config))
			var enc string
			if err == nil {
				enc, err = c.encodedAuth(tc.image)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("err %v, want one saying %q (and no secret)", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantUser == "" {
				if enc != "" {
					t.Fatalf("credentials %q for an image of another registry", enc)
				}
				return
			}
			a, err := registry.DecodeAuthConfig(enc)
			if err != nil {
				t.Fatal(err)
			}
			if a.Username != tc.wantUser || a.Password != tc.wantPass || a.ServerAddress == "" {
				t.Fatalf("credentials %+v, want %s:%s", a, tc.wantUser, tc.wantPass)
			}
		})
	}
}

// A task's Docker config in its sandbox is read from .docker/config.json
// or .dockercfg; a link there is refused (it could point the agent at any
// of its files); a file over the size bound is refused.
func TestSandboxDockerConfig(t *testing.T) {
	sandbox := t.TempDir()
	if c, err := sandboxDockerConfig(sandbox); c != nil || err != nil {
		t.Fatalf("empty sandbox: %v %v", c, err)
	}
	if err := os.WriteFile(filepath.Join(sandbox, ".dockercfg"), []byte(`{"r:1": {"auth": "dTpw"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := sandboxDockerConfig(sandbox); err != nil || c.auths["r:1"].Username != "u" {
		t.Fatalf(".dockercfg: %+v %v", c, err)
	}
	if err := os.Mkdir(filepath.Join(sandbox, ".docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(sandbox, ".docker", "config.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := sandboxDockerConfig(sandbox); !errors.Is(err, ErrDockerConfig) || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a link: %v", err)
	}
	big := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(big, make([]byte, maxDockerConfigBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDockerConfig(big); !errors.Is(err, ErrDockerConfig) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a big file: %v", err)
	}
}

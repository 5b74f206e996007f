package containerizer

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/registry"
)

// DockerConfig is the registry credentials of a Docker config file: the
// agent's (--docker-config, as Mesos' --docker_config), or a task's own
// fetched into its sandbox. It reads both the current format
// (~/.docker/config.json: {"auths": {host: {...}}}) and the old one
// (~/.dockercfg: {host: {...}}).
type DockerConfig struct {
	// auths by registry host, Docker Hub's aliases folded into docker.io.
	auths map[string]registry.AuthConfig
}

// maxDockerConfigBytes bounds a config file: it is read whole, and a
// task's own comes from wherever its framework fetched it.
const maxDockerConfigBytes = 1 << 20

// ErrDockerConfig is a Docker config file that cannot be used.
var ErrDockerConfig = errors.New("unusable docker config")

// Where a task's own Docker config is looked for in its sandbox (fetched
// there by its URIs), as Mesos' Docker containerizer does: found, it
// replaces the agent's.
var sandboxDockerConfigs = []string{filepath.Join(".docker", "config.json"), ".dockercfg"}

// LoadDockerConfig reads the Docker config file at path.
func LoadDockerConfig(path string) (*DockerConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDockerConfig, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDockerConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %w", ErrDockerConfig, path, err)
	}
	if len(data) > maxDockerConfigBytes {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrDockerConfig, path, maxDockerConfigBytes)
	}
	c, err := ParseDockerConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseDockerConfig reads a Docker config file's content. Credential
// helpers (credsStore, credHelpers) are refused: the agent runs no
// helper programs, so their registries would be pulled from without
// credentials and fail with a misleading "denied".
func ParseDockerConfig(data []byte) (*DockerConfig, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %w", ErrDockerConfig, err)
	}
	for _, helper := range []string{"credsStore", "credHelpers"} {
		if _, ok := top[helper]; ok {
			return nil, fmt.Errorf("%w: credential helpers (%s) are not supported: write the registry's credentials into \"auths\" (docker login with no credsStore does)", ErrDockerConfig, helper)
		}
	}
	entries := top
	if raw, ok := top["auths"]; ok { // config.json; else the old .dockercfg
		entries = nil
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, fmt.Errorf("%w: \"auths\" is not an object: %w", ErrDockerConfig, err)
		}
	}
	c := &DockerConfig{auths: make(map[string]registry.AuthConfig, len(entries))}
	for key, raw := range entries {
		var a registry.AuthConfig
		if err := json.Unmarshal(raw, &a); err != nil {
			// Only the host: the entry holds a secret.
			return nil, fmt.Errorf("%w: the entry of %q is not a credentials object", ErrDockerConfig, key)
		}
		if a.Auth != "" {
			plain, err := base64.StdEncoding.DecodeString(a.Auth)
			user, pass, ok := strings.Cut(string(plain), ":")
			if err != nil || !ok {
				return nil, fmt.Errorf("%w: the \"auth\" of %q is not base64 of user:password", ErrDockerConfig, key)
			}
			a.Username, a.Password, a.Auth = user, pass, ""
		}
		a.Email = ""
		host := registryHost(key)
		a.ServerAddress = key
		c.auths[host] = a
	}
	return c, nil
}

// registryHost is a config key as a host: scheme and path dropped
// ("https://index.docker.io/v1/"), Docker Hub's names folded into the
// one image references use.
func registryHost(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	key, _, _ = strings.Cut(key, "/")
	switch key {
	case "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return key
}

// encodedAuth is the engine's X-Registry-Auth value for pulling image:
// the credentials of its registry, or "" (anonymous) when c has none.
func (c *DockerConfig) encodedAuth(image string) (string, error) {
	if c == nil {
		return "", nil
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", fmt.Errorf("image %q is not a valid reference: %w", image, err)
	}
	a, ok := c.auths[reference.Domain(named)]
	if !ok {
		return "", nil
	}
	return registry.EncodeAuthConfig(a)
}

// sandboxDockerConfig is the task's own Docker config, fetched into its
// sandbox, or nil when it has none.
func sandboxDockerConfig(sandbox string) (*DockerConfig, error) {
	for _, name := range sandboxDockerConfigs {
		path := filepath.Join(sandbox, name)
		fi, err := os.Lstat(path)
		if err != nil {
			continue
		}
		if !fi.Mode().IsRegular() {
			// A link could point the pull at any file of the agent's.
			return nil, fmt.Errorf("%w: the task's %s is not a regular file", ErrDockerConfig, name)
		}
		return LoadDockerConfig(path)
	}
	return nil, nil
}

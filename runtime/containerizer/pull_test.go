package containerizer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agora-sched/agora/testkit/registry"
	"github.com/docker/docker/api/types/container"
)

// pullDocker is a Docker containerizer whose agent config holds user:pass
// for r (nil: no config).
func pullDocker(t *testing.T, r *registry.Registry, user, pass string) *Docker {
	t.Helper()
	d := docker(t)
	if r != nil {
		cfg, err := ParseDockerConfig(r.ConfigJSON(user, pass))
		if err != nil {
			t.Fatal(err)
		}
		d.Config = cfg
	}
	return d
}

// runOut launches spec and returns its stdout once it exited 0.
func runOut(t *testing.T, d *Docker, spec LaunchSpec) string {
	t.Helper()
	c, err := d.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if ex := wait(t, c); !ex.Success() {
		errOut, _ := os.ReadFile(filepath.Join(spec.Sandbox, "stderr"))
		t.Fatalf("exit %+v: %s", ex, errOut)
	}
	out, _ := os.ReadFile(filepath.Join(spec.Sandbox, "stdout"))
	return string(out)
}

// Mesos' pull policy against a real registry with htpasswd auth: an image
// missing on the agent is pulled with the agent's credentials
// (--docker-config); one the agent has is used as it is, even when the
// registry has a newer one under its name; force_pull pulls it anyway.
func TestDockerPullsMissingImagesFromARegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine and docker-registry; make test runs it")
	}
	r := registry.Start(t, "alice", "s3cret")
	d := pullDocker(t, r, "alice", "s3cret")
	// v2: the test image with a /version file, local under its own name.
	v2 := commitImage(t, d, "echo v2 > /version", "agora/pull-v2:test")
	ref := r.Push(t, d.Client, TestImage, "agora/pull:1")
	if _, err := d.Client.ImageInspect(t.Context(), ref); err == nil {
		t.Fatalf("%s is still on the engine: the launch would not pull", ref)
	}
	spec := dockerTask(ref, "cat /version 2>/dev/null || echo v1")
	spec.Sandbox = filepath.Join(t.TempDir(), "a")
	if out := runOut(t, d, spec); out != "v1\n" {
		t.Fatalf("first run printed %q, want v1 (the pulled image)", out)
	}
	if _, err := d.Client.ImageInspect(t.Context(), ref); err != nil {
		t.Fatalf("the launch did not leave the pulled image: %v", err)
	}
	// The registry gets v2 under the same name; the engine keeps v1.
	r.PushAs(t, d.Client, v2, ref)
	if err := d.Client.ImageTag(t.Context(), TestImage, ref); err != nil {
		t.Fatal(err)
	}
	spec.Sandbox = filepath.Join(t.TempDir(), "b")
	if out := runOut(t, d, spec); out != "v1\n" {
		t.Fatalf("without force_pull the run printed %q, want v1 (the image on the agent)", out)
	}
	spec.Container.Docker.ForcePull = true
	spec.Sandbox = filepath.Join(t.TempDir(), "c")
	if out := runOut(t, d, spec); out != "v2\n" {
		t.Fatalf("with force_pull the run printed %q, want v2 (the registry's)", out)
	}
}

// A registry that refuses the pull fails the launch with ErrPullDenied
// and says why: no credentials, or wrong ones. A task's own Docker config,
// fetched into its sandbox, replaces the agent's. An image the registry
// does not have is ErrImageNotFound.
func TestDockerPullCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine and docker-registry; make test runs it")
	}
	r := registry.Start(t, "alice", "s3cret")
	d := docker(t)
	ref := r.Push(t, d.Client, TestImage, "agora/private:1")
	launch := func(d *Docker, sandboxConfig []byte) error {
		spec := dockerTask(ref, "true")
		spec.Sandbox = filepath.Join(t.TempDir(), "sandbox")
		if sandboxConfig != nil {
			if err := os.MkdirAll(filepath.Join(spec.Sandbox, ".docker"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(spec.Sandbox, ".docker", "config.json"), sandboxConfig, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		c, err := d.Launch(t.Context(), spec)
		if err == nil {
			if ex := wait(t, c); !ex.Success() {
				t.Fatalf("exit %+v", ex)
			}
			registry.Untag(t, d.Client, ref)
		}
		return err
	}
	for _, tc := range []struct {
		name          string
		agent, task   []string // user, pass
		want          error
		wantInMessage string
	}{
		{name: "no credentials", want: ErrPullDenied, wantInMessage: "no credentials for its registry"},
		{name: "wrong password", agent: []string{"alice", "wrong"}, want: ErrPullDenied, wantInMessage: "refused the credentials"},
		{name: "agent's credentials", agent: []string{"alice", "s3cret"}},
		{name: "the task's replace the agent's", agent: []string{"alice", "wrong"}, task: []string{"alice", "s3cret"}},
		{name: "the task's wrong ones too", agent: []string{"alice", "s3cret"}, task: []string{"mallory", "guess"}, want: ErrPullDenied, wantInMessage: "refused the credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := docker(t)
			if tc.agent != nil {
				d = pullDocker(t, r, tc.agent[0], tc.agent[1])
			}
			var task []byte
			if tc.task != nil {
				task = r.ConfigJSON(tc.task[0], tc.task[1])
			}
			err := launch(d, task)
			if !errors.Is(err, tc.want) || (err != nil && !strings.Contains(err.Error(), tc.wantInMessage)) {
				t.Fatalf("launch: %v, want %v saying %q", err, tc.want, tc.wantInMessage)
			}
		})
	}
	d = pullDocker(t, r, "alice", "s3cret")
	spec := dockerTask(r.Addr+"/agora/never-pushed:1", "true")
	spec.Sandbox = filepath.Join(t.TempDir(), "missing")
	if _, err := d.Launch(t.Context(), spec); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("an image the registry lacks: %v, want ErrImageNotFound", err)
	}
}

// commitImage runs script in the test image and commits the result as
// ref, removed when the test ends.
func commitImage(t *testing.T, d *Docker, script, ref string) string {
	t.Helper()
	ctx := context.Background()
	created, err := d.Client.ContainerCreate(ctx, &container.Config{Image: TestImage, Cmd: []string{"/bin/sh", "-c", script}}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Client.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})
	waitC, errC := d.Client.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := d.Client.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-waitC:
		if w.StatusCode != 0 {
			t.Fatalf("%q exited %d", script, w.StatusCode)
		}
	case err := <-errC:
		t.Fatal(err)
	}
	if _, err := d.Client.ContainerCommit(ctx, created.ID, container.CommitOptions{Reference: ref}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { registry.Untag(t, d.Client, ref) })
	return ref
}

package containerizer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// TestImage is the image `make images` builds from Debian's busybox-static
// (there is no registry to pull from).
const TestImage = "agora/busybox:test"

func docker(t *testing.T) *Docker {
	t.Helper()
	d, err := NewDocker()
	if err != nil {
		t.Fatalf("these tests need the Docker engine: %v", err)
	}
	if _, err := d.Client.ImageInspect(context.Background(), TestImage); err != nil {
		t.Fatalf("test image %s missing: run `make images` (make test does): %v", TestImage, err)
	}
	return d
}

func dockerTask(image, cmd string) LaunchSpec {
	return LaunchSpec{ID: "f.t", Command: &messages.CommandInfo{Value: cmd, Shell: true}, MemMB: 64, CPUs: 0.5,
		Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: image}}}
}

// echo hi in the locally built image: exit 0, "hi" in the sandbox's
// stdout, and the container is removed.
func TestDockerEchoHi(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	spec := dockerTask(TestImage, "echo hi; echo oops >&2; exit 0")
	spec.Sandbox = filepath.Join(t.TempDir(), "sandbox")
	c, err := d.Launch(spec)
	if err != nil {
		t.Fatal(err)
	}
	if ex := c.Wait(); !ex.Success() {
		t.Fatalf("exit %+v", ex)
	}
	out, _ := os.ReadFile(filepath.Join(spec.Sandbox, "stdout"))
	errOut, _ := os.ReadFile(filepath.Join(spec.Sandbox, "stderr"))
	if string(out) != "hi\n" || string(errOut) != "oops\n" {
		t.Fatalf("stdout %q stderr %q", out, errOut)
	}
	left, err := d.Client.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelTask+"=f.t"))})
	if err != nil || len(left) != 0 {
		t.Fatalf("containers left: %v %v", left, err)
	}
}

// A missing image fails the launch with ErrImageNotFound (no pull).
func TestDockerMissingImage(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	spec := dockerTask("agora/does-not-exist:never", "true")
	spec.Sandbox = filepath.Join(t.TempDir(), "sandbox")
	if _, err := d.Launch(spec); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("err = %v, want ErrImageNotFound", err)
	}
}

// Exit codes come through; a kill stops the container.
func TestDockerExitCodeAndKill(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	spec := dockerTask(TestImage, "exit 3")
	spec.Sandbox = filepath.Join(t.TempDir(), "a")
	c, err := d.Launch(spec)
	if err != nil {
		t.Fatal(err)
	}
	if ex := c.Wait(); ex.Code != 3 {
		t.Fatalf("exit %+v, want 3", ex)
	}
	spec = dockerTask(TestImage, "sleep 600")
	spec.ID, spec.Sandbox = "f.k", filepath.Join(t.TempDir(), "b")
	c, err = d.Launch(spec)
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(0)
	if ex := c.Wait(); !ex.Killed || ex.Success() {
		t.Fatalf("killed container ended %+v", ex)
	}
}

// A port mapping publishes an offered host port to the container's port;
// a host port the task was not given is refused.
func TestDockerPortMapping(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostPort := uint32(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	spec := dockerTask(TestImage, "echo served | nc -l -p 8080")
	spec.ID, spec.Sandbox = "f.p", filepath.Join(t.TempDir(), "p")
	spec.Container.Docker.PortMappings = []*messages.ContainerInfo_PortMapping{{HostPort: hostPort, ContainerPort: 8080}}
	if _, err := d.Launch(spec); err == nil || !strings.Contains(err.Error(), "not among the task's ports") {
		t.Fatalf("a host port outside the task's resources was accepted: %v", err)
	}
	spec.Ports = []*messages.Range{{Begin: uint64(hostPort), End: uint64(hostPort)}}
	c, err := d.Launch(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Kill(0); c.Wait() }()
	var got []byte
	for i := 0; i < 100 && len(got) == 0; i++ { // bounded: the container starts listening shortly
		if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", hostPort)); err == nil {
			got, _ = io.ReadAll(conn)
			conn.Close()
		}
		if len(got) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if string(got) != "served\n" {
		t.Fatalf("read %q through the mapped port", got)
	}
}

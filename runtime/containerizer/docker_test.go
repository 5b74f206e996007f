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
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
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
	t.Cleanup(d.Close)
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
	c, err := d.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if ex := wait(t, c); !ex.Success() {
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

// A missing image is pulled (pull_test.go); when its registry cannot be
// reached the launch fails as for an image not to be had, saying why; a
// force_pull that cannot reach it fails as a pull.
func TestDockerMissingImageUnreachableRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // nothing listens there now
	spec := dockerTask(closed+"/agora/does-not-exist:never", "true")
	spec.Sandbox = filepath.Join(t.TempDir(), "sandbox")
	_, err = d.Launch(t.Context(), spec)
	if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), "could not be pulled") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want ErrImageNotFound saying the pull failed", err)
	}
	spec.Container.Docker.ForcePull = true
	_, err = d.Launch(t.Context(), spec)
	if err == nil || errors.Is(err, ErrImageNotFound) || errors.Is(err, ErrPullDenied) || !strings.Contains(err.Error(), "pull "+spec.Container.Docker.Image) {
		t.Fatalf("err = %v, want a failed pull of %s", err, spec.Container.Docker.Image)
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
	c, err := d.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if ex := wait(t, c); ex.Code != 3 {
		t.Fatalf("exit %+v, want 3", ex)
	}
	spec = dockerTask(TestImage, "sleep 600")
	spec.ID, spec.Sandbox = "f.k", filepath.Join(t.TempDir(), "b")
	c, err = d.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(0)
	if ex := wait(t, c); !ex.Killed || ex.Success() {
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
	if _, err := d.Launch(t.Context(), spec); err == nil || !strings.Contains(err.Error(), "not among the task's ports") {
		t.Fatalf("a host port outside the task's resources was accepted: %v", err)
	}
	spec.Ports = []*messages.Range{{Begin: uint64(hostPort), End: uint64(hostPort)}}
	c, err := d.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Kill(0); wait(t, c) }()
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

// An engine that accepts connections and never answers (hung, or its
// socket wedged) fails a launch and a re-attachment within CallTimeout
// instead of hanging the agent's launch for ever.
func TestDockerCallsHaveDeadlines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accept and keep every connection open, silent
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	cli, err := client.NewClientWithOpts(client.WithHost("tcp://"+ln.Addr().String()), client.WithVersion("1.43"))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	d := &Docker{Client: cli, CallTimeout: 100 * time.Millisecond}
	defer d.Close()
	spec := dockerTask(TestImage, "true")
	spec.Sandbox = filepath.Join(t.TempDir(), "sandbox")
	if _, err := d.Launch(t.Context(), spec); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("launch on a silent engine: %v, want a deadline error", err)
	}
	if _, err := d.Reattach(t.Context(), "f.t", spec.Sandbox); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reattach on a silent engine: %v, want a deadline error", err)
	}
}

// Close stops following containers (its goroutines are done when it
// returns) and leaves them running: a new Docker, as a restarted agent
// has, re-attaches to one by its label and sees it end.
func TestDockerCloseLeavesContainersToReattach(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	spec := dockerTask(TestImage, "sleep 600")
	spec.ID, spec.Sandbox = "f.close", filepath.Join(t.TempDir(), "c")
	c, err := d.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Wait(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("a container reported an end after Close: %v", err)
	}
	if _, err := d.Launch(t.Context(), spec); !errors.Is(err, ErrClosed) {
		t.Fatalf("launch after Close: %v", err)
	}
	again := docker(t)
	defer again.Close()
	r, err := again.Reattach(t.Context(), "f.close", spec.Sandbox)
	if err != nil {
		t.Fatalf("the container did not survive Close: %v", err)
	}
	r.Kill(0)
	if ex := wait(t, r); !ex.Killed {
		t.Fatalf("re-attached container ended %+v", ex)
	}
	if _, err := again.Reattach(t.Context(), "f.close", spec.Sandbox); !errors.Is(err, ErrNoContainer) {
		t.Fatalf("a removed container was found again: %v", err)
	}
}

// A Docker task runs as its user, by the numbers this agent knows it by
// (the image needs no passwd entry for it), with its supplementary groups,
// and can write in its sandbox;
// an unknown user fails the launch. Nothing of the agent's environment
// reaches the container.
func TestDockerTaskRunsAsItsUser(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	u := testUser(t)
	t.Setenv("AGORA_TEST_AGENT_SECRET", "hunter2")
	spec := dockerTask(TestImage, `touch "$MESOS_SANDBOX/mine"; id -u; id -g; id -G; env`)
	spec.Sandbox, spec.User = filepath.Join(t.TempDir(), "sandbox"), u.Name
	c, err := d.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if ex := wait(t, c); !ex.Success() {
		t.Fatalf("exit %+v", ex)
	}
	out, _ := os.ReadFile(filepath.Join(spec.Sandbox, "stdout"))
	lines := strings.Split(string(out), "\n")
	if lines[0] != fmt.Sprint(u.UID) || lines[1] != fmt.Sprint(u.GID) {
		t.Fatalf("container ran as %q %q, want %d %d:\n%s", lines[0], lines[1], u.UID, u.GID, out)
	}
	for _, g := range u.Groups {
		if !contains(strings.Fields(lines[2]), fmt.Sprint(g)) {
			t.Fatalf("groups %q lack %d", lines[2], g)
		}
	}
	// The sandbox, mounted into the container, is the user's to write in.
	if fi, err := os.Stat(filepath.Join(spec.Sandbox, "mine")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != u.UID {
		t.Fatalf("the task could not write in its sandbox as its user: %v", err)
	}
	if strings.Contains(string(out), "hunter2") {
		t.Fatalf("the agent's environment reached the container:\n%s", out)
	}
	spec.User = "no-such-user-agora"
	if _, err := d.Launch(t.Context(), spec); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown user: %v", err)
	}
}

// Destroy finds a task's container by its label and removes it, killing
// what runs: for a task whose checkpoint a restarted agent cannot read.
func TestDockerDestroyRemovesTheTasksContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	spec := dockerTask(TestImage, "sleep 600")
	spec.ID, spec.Sandbox = "f.destroy", filepath.Join(t.TempDir(), "sandbox")
	c, err := d.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Destroy(t.Context(), spec.ID, spec.Sandbox); err != nil {
		t.Fatal(err)
	}
	if ex := wait(t, c); ex.Success() {
		t.Fatalf("the container ended %+v after Destroy, want it killed", ex)
	}
	left, err := d.Client.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelTask+"="+spec.ID))})
	if err != nil || len(left) != 0 {
		t.Fatalf("containers left: %v %v", left, err)
	}
}

package containerizer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

// Docker runs tasks whose ContainerInfo says DOCKER in containers of the
// local Docker engine: the task's image, its command (`sh -c VALUE`, or
// VALUE with arguments as the container's command; none: the image's
// entrypoint), its environment, cpu and memory limits from its resources,
// labels carrying Agora's IDs, and its output copied into the sandbox's
// stdout and stderr. Images are not pulled unless the task asks
// (force_pull): a missing image fails the launch with a clear message.
type Docker struct {
	Client *client.Client
}

// Docker labels on Agora's containers (for operators and recovery).
const (
	LabelTask = "io.agora.task"
)

// NewDocker connects to the engine from the environment (DOCKER_HOST or
// the default socket), negotiating the API version.
func NewDocker() (*Docker, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("docker engine unreachable: %w", err)
	}
	return &Docker{Client: c}, nil
}

// ErrImageNotFound is a launch of an image the engine does not have.
var ErrImageNotFound = errors.New("image not found")

// Launch implements Containerizer.
func (d *Docker) Launch(spec LaunchSpec) (Container, error) {
	info := spec.Container.GetDocker()
	if info.GetImage() == "" {
		return nil, errors.New("docker task without an image")
	}
	ctx := context.Background()
	if info.ForcePull {
		rc, err := d.Client.ImagePull(ctx, info.Image, image.PullOptions{})
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", info.Image, err)
		}
		_, _ = io.Copy(io.Discard, rc)
		rc.Close()
	} else if _, err := d.Client.ImageInspect(ctx, info.Image); err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s is not on this agent (pulling is opt-in: set force_pull)", ErrImageNotFound, info.Image)
		}
		return nil, fmt.Errorf("inspect %s: %w", info.Image, err)
	}
	if err := os.MkdirAll(spec.Sandbox, 0o755); err != nil {
		return nil, fmt.Errorf("create sandbox: %w", err)
	}
	cfg := &container.Config{Image: info.Image, Labels: map[string]string{LabelTask: spec.ID}}
	if c := spec.Command; c != nil && c.Value != "" {
		if c.Shell {
			cfg.Cmd = []string{"/bin/sh", "-c", c.Value}
		} else {
			cfg.Cmd = append([]string{c.Value}, c.Arguments...)
		}
	}
	cfg.Env = sortedEnv(spec.Command.GetEnvironment(), spec.Env)
	host := &container.HostConfig{Resources: container.Resources{
		NanoCPUs: int64(spec.CPUs * 1e9), Memory: int64(spec.MemMB * 1024 * 1024),
	}}
	if spec.MemMB > 0 {
		host.Resources.MemorySwap = host.Resources.Memory // no swap beyond the limit
	}
	if info.Network != "" {
		host.NetworkMode = container.NetworkMode(info.Network)
	}
	// Host ports come from the task's offered ports (the master checked the
	// task asked for them); each maps to a port inside the container.
	for _, pm := range info.PortMappings {
		proto := pm.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, err := nat.NewPort(proto, strconv.FormatUint(uint64(pm.ContainerPort), 10))
		if err != nil {
			return nil, fmt.Errorf("port mapping %d->%d: %w", pm.HostPort, pm.ContainerPort, err)
		}
		if !spec.HasPort(pm.HostPort) {
			return nil, fmt.Errorf("port mapping uses host port %d, which is not among the task's ports resources", pm.HostPort)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts, host.PortBindings = nat.PortSet{}, nat.PortMap{}
		}
		cfg.ExposedPorts[port] = struct{}{}
		host.PortBindings[port] = append(host.PortBindings[port], nat.PortBinding{HostPort: strconv.FormatUint(uint64(pm.HostPort), 10)})
	}
	created, err := d.Client.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("create container from %s: %w", info.Image, err)
	}
	c := &dockerContainer{outcome: newOutcome(), d: d, id: created.ID}
	waitC, errC := d.Client.ContainerWait(ctx, c.id, container.WaitConditionNextExit)
	if err := d.Client.ContainerStart(ctx, c.id, container.StartOptions{}); err != nil {
		_ = d.Client.ContainerRemove(ctx, c.id, container.RemoveOptions{Force: true})
		return nil, fmt.Errorf("start container: %w", err)
	}
	c.follow(spec.Sandbox, waitC, errC)
	return c, nil
}

// Reattach finds the container of task id that an earlier run of the agent
// started (by its label) and follows it again; false if there is none. A
// container that ended meanwhile is reported as it ended.
func (d *Docker) Reattach(id, sandbox string) (Container, bool) {
	ctx := context.Background()
	list, err := d.Client.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelTask+"="+id))})
	if err != nil || len(list) == 0 {
		return nil, false
	}
	c := &dockerContainer{outcome: newOutcome(), d: d, id: list[0].ID}
	// not-running also answers at once for a container that already exited.
	waitC, errC := d.Client.ContainerWait(ctx, c.id, container.WaitConditionNotRunning)
	c.follow(sandbox, waitC, errC)
	return c, true
}

// follow copies the container's output (all of it: the files are
// rewritten) and reports its end, then removes it.
func (c *dockerContainer) follow(sandbox string, waitC <-chan container.WaitResponse, errC <-chan error) {
	ctx := context.Background()
	d := c.d
	c.logsDone.Add(1)
	go c.copyLogs(sandbox)
	go func() {
		var ex Exit
		select {
		case w := <-waitC:
			ex = Exit{Code: int(w.StatusCode)}
			if w.Error != nil {
				ex.Err = errors.New(w.Error.Message)
			}
		case err := <-errC:
			ex = Exit{Code: -1, Err: err}
		}
		if st, err := d.Client.ContainerInspect(ctx, c.id); err == nil && st.State != nil && st.State.OOMKilled {
			ex.OOM = true
		}
		c.logsDone.Wait()
		_ = d.Client.ContainerRemove(ctx, c.id, container.RemoveOptions{Force: true})
		c.end(ex)
	}()
}

type dockerContainer struct {
	outcome
	d        *Docker
	id       string
	logsDone sync.WaitGroup
}

// copyLogs follows the container's output into the sandbox.
func (c *dockerContainer) copyLogs(sandbox string) {
	defer c.logsDone.Done()
	stdout, err1 := os.Create(filepath.Join(sandbox, "stdout"))
	stderr, err2 := os.Create(filepath.Join(sandbox, "stderr"))
	if err := errors.Join(err1, err2); err != nil {
		return
	}
	defer stdout.Close()
	defer stderr.Close()
	rc, err := c.d.Client.ContainerLogs(context.Background(), c.id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return
	}
	defer rc.Close()
	_, _ = stdcopy.StdCopy(stdout, stderr, rc)
}

// Kill stops the container: SIGTERM, SIGKILL after grace (docker stop).
func (c *dockerContainer) Kill(grace time.Duration) {
	c.markKilled()
	secs := int(grace.Seconds())
	go func() {
		_ = c.d.Client.ContainerStop(context.Background(), c.id, container.StopOptions{Timeout: &secs})
	}()
}

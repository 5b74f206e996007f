package containerizer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

// Docker runs tasks whose ContainerInfo says DOCKER in containers of the
// local Docker engine: the task's image, its command (`sh -c VALUE`, or
// VALUE with arguments as the container's command; none: the image's
// entrypoint), its environment, cpu and memory limits from its resources,
// labels carrying Agora's IDs, and its output copied into the sandbox's
// stdout and stderr, its sandbox mounted at /mnt/mesos/sandbox
// (MESOS_SANDBOX), its volumes bind-mounted, on its network.
//
// Images are pulled as Mesos' Docker containerizer pulls them: an image
// the engine has is used as it is, a missing one is pulled, and
// force_pull pulls it every time. A pull uses the registry's credentials
// from the task's own Docker config when its URIs fetched one into its
// sandbox (.docker/config.json or .dockercfg), else from Config.
//
// Every engine call has a deadline (CallTimeout, PullTimeout), so an
// engine that stops answering fails a launch instead of hanging it. Each
// container is followed (output, end) by goroutines that end with it, or
// when Close is called.
type Docker struct {
	Client *client.Client
	// CallTimeout bounds each engine call (inspect, create, start, stop,
	// remove, list); 0 means 30 s.
	CallTimeout time.Duration
	// PullTimeout bounds an image pull; 0 means 10 min.
	PullTimeout time.Duration
	// Config holds the registries' credentials (the agent's
	// --docker-config); nil pulls anonymously.
	Config *DockerConfig

	once   sync.Once
	mu     sync.Mutex
	closed bool
	life   context.Context // ends on Close: stop following containers
	cancel context.CancelFunc
	follow sync.WaitGroup
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

func (d *Docker) init() {
	d.once.Do(func() { d.life, d.cancel = context.WithCancel(context.Background()) })
}

// Close stops following containers and waits for the goroutines that did;
// the containers themselves go on (a restarted agent re-attaches to them).
// Launch and Reattach fail afterwards.
func (d *Docker) Close() {
	d.init()
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.follow.Wait()
}

func (d *Docker) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// spawn runs f on a goroutine Close waits for; false once closed.
func (d *Docker) spawn(f func(life context.Context)) bool {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.follow.Add(1)
	go func() {
		defer d.follow.Done()
		f(d.life)
	}()
	return true
}

// call is ctx bounded by CallTimeout, for one engine call.
func (d *Docker) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.callTimeout())
}

func (d *Docker) callTimeout() time.Duration {
	if d.CallTimeout > 0 {
		return d.CallTimeout
	}
	return 30 * time.Second
}

// ErrImageNotFound is a launch of an image not to be had: the engine
// lacks it, and its registry lacks it too or cannot be reached.
var ErrImageNotFound = errors.New("image not found")

// ErrPullDenied is a pull the registry refused: no credentials for it, or
// wrong ones.
var ErrPullDenied = errors.New("image pull denied")

// ErrClosed: the Docker containerizer was closed.
var ErrClosed = errors.New("docker containerizer closed")

// Launch implements Containerizer.
func (d *Docker) Launch(ctx context.Context, spec LaunchSpec) (Container, error) {
	if d.isClosed() {
		return nil, fmt.Errorf("launch %s: %w", spec.ID, ErrClosed)
	}
	info := spec.Container.GetDocker()
	if info.GetImage() == "" {
		return nil, errors.New("docker task without an image")
	}
	var err error
	var who *User
	if spec.User != "" {
		u, err := LookupUser(spec.User)
		if err != nil {
			return nil, err
		}
		who = &u
	}
	if err := os.MkdirAll(spec.Sandbox, 0o755); err != nil {
		return nil, fmt.Errorf("create sandbox: %w", err)
	}
	if spec.Sandbox, err = filepath.Abs(spec.Sandbox); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	// Mounted into the container, the sandbox is the task's to write in.
	if err := giveSandbox(spec.Sandbox, who); err != nil {
		return nil, err
	}
	cfg, host, err := containerConfig(spec, who)
	if err != nil {
		return nil, err
	}
	if err := d.ensureImage(ctx, info, spec.Sandbox); err != nil {
		return nil, err
	}
	cctx, cancel := d.call(ctx)
	created, err := d.Client.ContainerCreate(cctx, cfg, host, nil, nil, "")
	cancel()
	if err != nil {
		return nil, fmt.Errorf("create container from %s: %w", info.Image, err)
	}
	c := &dockerContainer{outcome: newOutcome(), d: d, id: created.ID}
	// Waiting starts before the container does, so that no exit is missed;
	// it lasts the container's life, not the launch's.
	d.init()
	waitC, errC := d.Client.ContainerWait(d.life, c.id, container.WaitConditionNextExit)
	sctx, cancel := d.call(ctx)
	err = d.Client.ContainerStart(sctx, c.id, container.StartOptions{})
	cancel()
	if err != nil {
		// Removed even when ctx is done: a created container must not
		// be left behind.
		rctx, cancel := d.call(context.WithoutCancel(ctx))
		_ = d.Client.ContainerRemove(rctx, c.id, container.RemoveOptions{Force: true})
		cancel()
		return nil, fmt.Errorf("start container: %w", err)
	}
	if !c.follow(spec.Sandbox, waitC, errC) {
		rctx, cancel := d.call(context.WithoutCancel(ctx))
		_ = d.Client.ContainerRemove(rctx, c.id, container.RemoveOptions{Force: true})
		cancel()
		return nil, fmt.Errorf("start container %s: %w", c.id, ErrClosed)
	}
	return c, nil
}

// ensureImage makes sure the task's image is on the engine: pulled when
// missing, or always when the task asks (force_pull).
func (d *Docker) ensureImage(ctx context.Context, info *messages.ContainerInfo_Docker, sandbox string) error {
	if !info.ForcePull {
		ictx, cancel := d.call(ctx)
		_, err := d.Client.ImageInspect(ictx, info.Image)
		cancel()
		if err == nil {
			return nil
		}
		if !errdefs.IsNotFound(err) {
			return fmt.Errorf("inspect %s: %w", info.Image, err)
		}
	}
	return d.pull(ctx, info.Image, sandbox, !info.ForcePull)
}

// pull fetches image from its registry with the credentials the task or
// the agent has for it; missing: the engine does not have it.
func (d *Docker) pull(ctx context.Context, img, sandbox string, missing bool) error {
	cfg, err := sandboxDockerConfig(sandbox)
	if err != nil {
		return fmt.Errorf("pull %s: %w", img, err)
	}
	if cfg == nil {
		cfg = d.Config
	}
	auth, err := cfg.encodedAuth(img)
	if err != nil {
		return fmt.Errorf("pull %s: %w", img, err)
	}
	t := d.PullTimeout
	if t <= 0 {
		t = 10 * time.Minute
	}
	pctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	rc, err := d.Client.ImagePull(pctx, img, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		return pullError(img, auth != "", missing, err)
	}
	defer rc.Close()
	// The engine reports a failure met while pulling inside the stream.
	if err := jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil); err != nil {
		return pullError(img, auth != "", missing, err)
	}
	return nil
}

// pullError says why a pull failed, in the terms the agent reports: a
// registry that refused (ErrPullDenied), an image that is not to be had
// (ErrImageNotFound: its registry lacks it, or it is missing here and the
// pull failed otherwise, an unreachable registry say), or a failed
// force_pull. The engine passes the registry's answers on as text, so
// that is what is read.
func pullError(img string, withCredentials, missing bool, err error) error {
	msg := strings.ToLower(err.Error())
	switch {
	case errdefs.IsUnauthorized(err) || errdefs.IsForbidden(err) || strings.Contains(msg, "unauthorized") ||
		strings.Contains(msg, "denied") || strings.Contains(msg, "no basic auth credentials") ||
		strings.Contains(msg, "authentication required"):
		hint := "the agent has no credentials for its registry: give them in --docker-config, or fetch a .docker/config.json into the task's sandbox"
		if withCredentials {
			hint = "the registry refused the credentials given for it (--docker-config, or the task's .docker/config.json): check them"
		}
		return fmt.Errorf("%w: pull %s: %s: %w", ErrPullDenied, img, hint, err)
	case errdefs.IsNotFound(err) || strings.Contains(msg, "manifest unknown") || strings.Contains(msg, "not found"):
		return fmt.Errorf("%w: %s is neither on this agent nor in its registry: %w", ErrImageNotFound, img, err)
	case missing:
		return fmt.Errorf("%w: %s is not on this agent and could not be pulled: %w", ErrImageNotFound, img, err)
	}
	return fmt.Errorf("pull %s: %w", img, err)
}

// containerConfig is the engine's view of a task. who (nil: the image's
// own user) is the task's user as this host knows it: the container runs
// with its numeric uid, gid and supplementary groups, which need no entry
// in the image's /etc/passwd (ours has none) and mean the same identity
// inside and out.
func containerConfig(spec LaunchSpec, who *User) (*container.Config, *container.HostConfig, error) {
	info := spec.Container.GetDocker()
	cfg := &container.Config{Image: info.Image, Labels: map[string]string{LabelTask: spec.ID}}
	if who != nil {
		cfg.User = strconv.FormatUint(uint64(who.UID), 10) + ":" + strconv.FormatUint(uint64(who.GID), 10)
	}
	if c := spec.Command; c != nil && c.Value != "" {
		if c.Shell {
			cfg.Cmd = []string{"/bin/sh", "-c", c.Value}
		} else {
			cfg.Cmd = append([]string{c.Value}, c.Arguments...)
		}
	}
	cfg.Env = sortedEnv(spec.Command.GetEnvironment(), spec.Env, map[string]string{"MESOS_SANDBOX": ContainerSandbox})
	mounts, err := BindMounts(append(slices.Clip(spec.Container.GetVolumes()), spec.Volumes...), spec.Sandbox)
	if err != nil {
		return nil, nil, err
	}
	host := &container.HostConfig{Resources: container.Resources{
		NanoCPUs: int64(spec.CPUs * 1e9), Memory: int64(spec.MemMB * 1024 * 1024),
	}, Mounts: mounts}
	if spec.MemMB > 0 {
		host.Resources.MemorySwap = host.Resources.Memory // no swap beyond the limit
	}
	if who != nil {
		for _, g := range who.Groups {
			host.GroupAdd = append(host.GroupAdd, strconv.FormatUint(uint64(g), 10))
		}
	}
	if info.Network != "" {
		host.NetworkMode = container.NetworkMode(info.Network)
	}
	if (host.NetworkMode.IsHost() || host.NetworkMode.IsNone()) && len(info.PortMappings) > 0 {
		// The engine would drop them silently (Mesos refuses too).
		return nil, nil, fmt.Errorf("port mappings need a bridge or user-defined network, not %q", info.Network)
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
			return nil, nil, fmt.Errorf("port mapping %d->%d: %w", pm.HostPort, pm.ContainerPort, err)
		}
		if !spec.HasPort(pm.HostPort) {
			return nil, nil, fmt.Errorf("port mapping uses host port %d, which is not among the task's ports resources", pm.HostPort)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts, host.PortBindings = nat.PortSet{}, nat.PortMap{}
		}
		cfg.ExposedPorts[port] = struct{}{}
		host.PortBindings[port] = append(host.PortBindings[port], nat.PortBinding{HostPort: strconv.FormatUint(uint64(pm.HostPort), 10)})
	}
	return cfg, host, nil
}

// Reattach implements Reattacher: it finds the container of task id that
// an earlier run of the agent started (by its label) and follows it again.
// A container that ended meanwhile is reported as it ended.
func (d *Docker) Reattach(ctx context.Context, id, sandbox string) (Container, error) {
	list, err := d.containersOf(ctx, id, true)
	if err != nil {
		return nil, fmt.Errorf("find the container of task %s: %w", id, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("task %s: %w", id, ErrNoContainer)
	}
	c := &dockerContainer{outcome: newOutcome(), d: d, id: list[0].ID}
	// not-running also answers at once for a container that already exited.
	d.init()
	waitC, errC := d.Client.ContainerWait(d.life, c.id, container.WaitConditionNotRunning)
	if !c.follow(sandbox, waitC, errC) {
		return nil, fmt.Errorf("follow container %s: %w", c.id, ErrClosed)
	}
	return c, nil
}

// Destroy implements Destroyer: it removes task id's containers, found by
// label, forcibly (the engine kills what runs).
func (d *Docker) Destroy(ctx context.Context, id, _ string) error {
	list, err := d.containersOf(ctx, id, true)
	if err != nil {
		return fmt.Errorf("find the containers of task %s: %w", id, err)
	}
	var errs []error
	for _, c := range list {
		rctx, cancel := d.call(ctx)
		if err := d.Client.ContainerRemove(rctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s of task %s: %w", c.ID, id, err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// follow copies the container's output (all of it: the files are
// rewritten) and reports its end, then removes it. When Docker is closed
// first it stops following and leaves the container be.
func (c *dockerContainer) follow(sandbox string, waitC <-chan container.WaitResponse, errC <-chan error) bool {
	d := c.d
	c.logsDone.Add(1)
	if !d.spawn(func(life context.Context) { c.copyLogs(life, sandbox) }) {
		return false
	}
	return d.spawn(func(life context.Context) {
		var ex Exit
		select {
		case w := <-waitC:
			ex = Exit{Code: int(w.StatusCode)}
			if w.Error != nil {
				ex.Err = errors.New(w.Error.Message)
			}
		case err := <-errC:
			if life.Err() != nil {
				return // closed: the container goes on
			}
			ex = Exit{Code: -1, Err: err}
		}
		ictx, cancel := d.call(life)
		if st, err := d.Client.ContainerInspect(ictx, c.id); err == nil && st.State != nil && st.State.OOMKilled {
			ex.OOM = true
		}
		cancel()
		c.logsDone.Wait()
		rctx, cancel := d.call(life)
		_ = d.Client.ContainerRemove(rctx, c.id, container.RemoveOptions{Force: true})
		cancel()
		c.end(ex)
	})
}

type dockerContainer struct {
	outcome
	d        *Docker
	id       string
	logsDone sync.WaitGroup
}

// SharedNetwork implements NetworkSharer: containers started with this
// network mode share this one's network namespace (its loopback too).
func (c *dockerContainer) SharedNetwork() string { return "container:" + c.id }

// copyLogs follows the container's output into the sandbox.
func (c *dockerContainer) copyLogs(life context.Context, sandbox string) {
	defer c.logsDone.Done()
	// Created anew: an earlier command task of the same ID may have left
	// links under these names.
	stdout, err1 := createOutput(sandbox, "stdout", nil)
	stderr, err2 := createOutput(sandbox, "stderr", nil)
	if err := errors.Join(err1, err2); err != nil {
		for _, f := range []*os.File{stdout, stderr} {
			if f != nil {
				f.Close()
			}
		}
		return
	}
	defer stdout.Close()
	defer stderr.Close()
	rc, err := c.d.Client.ContainerLogs(life, c.id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		return
	}
	defer rc.Close()
	_, _ = stdcopy.StdCopy(stdout, stderr, rc)
}

// Kill stops the container: SIGTERM, SIGKILL after grace (docker stop),
// on a goroutine bounded by the grace and CallTimeout.
func (c *dockerContainer) Kill(grace time.Duration) {
	c.markKilled()
	secs := int(grace.Seconds())
	c.d.spawn(func(life context.Context) {
		ctx, cancel := context.WithTimeout(life, grace+c.d.callTimeout())
		defer cancel()
		_ = c.d.Client.ContainerStop(ctx, c.id, container.StopOptions{Timeout: &secs})
	})
}

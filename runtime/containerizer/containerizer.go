package containerizer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/agora-sched/agora/messages"
)

// LaunchSpec is what a containerizer needs to start one task.
type LaunchSpec struct {
	// ID names the container (unique on the agent).
	ID      string
	Command *messages.CommandInfo
	// Sandbox is the task's working directory; stdout and stderr go to
	// files there.
	Sandbox string
	// Env is Agora's own variables for the task (its IDs, the agent's
	// address for an executor): added after the command's environment,
	// which cannot override them. Nothing else of the agent's environment
	// reaches a task.
	Env map[string]string
	// User is the name of the user the task runs as (its uid, gid and
	// supplementary groups); empty runs it as the agent's own user. It
	// must exist on the agent (ErrUnknownUser); an agent not running as
	// root can run tasks only as itself (ErrCannotSwitchUser).
	User string
	// Container selects and configures a container image (Docker).
	Container *messages.ContainerInfo
	// CPUs and MemMB limit the task when the containerizer isolates
	// (0: no limit).
	CPUs, MemMB float64
	// Ports are the host ports the task was given (its ports resources).
	Ports []*messages.Range
	// Volumes are bind mounts the agent adds to a Docker container's own
	// (Container.Volumes), such as persistent volumes: see BindMounts.
	Volumes []*messages.ContainerInfo_Volume
	// ReadOnlyViews is where the command containerizer mounts a read-only
	// view of each volume of Volumes with mode RO, by its host path: a
	// command task's volumes are links in its sandbox, and a link cannot
	// be read-only, so the link of a read-only one leads to this view (a
	// read-only bind mount of the volume, kept for every task that mounts
	// it so; the agent unmounts it with UnmountReadOnlyView).
	ReadOnlyViews map[string]string
	// CgroupParent, when set, puts the task's cgroup under a parent group
	// of that name, shared by the tasks of its task group (the command
	// containerizer with cgroups; Docker ignores it).
	CgroupParent string
	// ParentCPUs and ParentMemMB limit the CgroupParent group as a whole
	// (0: no limit): a task group's executor resources plus its tasks'.
	// Written when the parent is made; Resizer.Resize with the parent's
	// name changes them.
	ParentCPUs, ParentMemMB float64
}

// HasPort reports whether host port p is among the task's ports.
func (s LaunchSpec) HasPort(p uint32) bool {
	for _, r := range s.Ports {
		if uint64(p) >= r.Begin && uint64(p) <= r.End {
			return true
		}
	}
	return false
}

// Exit is how a container ended.
type Exit struct {
	// Code is the exit code, or -1 when killed by a signal.
	Code int
	// Signal that ended the process, if any (Code is then 128+N).
	Signal string
	// Killed is true when Kill ended it.
	Killed bool
	// Err is set when the process could not be waited for.
	Err error
	// OOM: the kernel killed the task for reaching its memory limit.
	OOM bool
}

// Success reports a zero exit code.
func (e Exit) Success() bool { return e.Code == 0 && e.Err == nil && e.Signal == "" }

// Describe says how the container ended, for a status message.
func (e Exit) Describe() string {
	switch {
	case e.OOM:
		return "killed by the kernel for reaching its memory limit (OOM)"
	case e.Err != nil:
		return "wait failed: " + e.Err.Error()
	case e.Killed:
		return "killed"
	case e.Signal != "":
		return "terminated by signal " + e.Signal
	default:
		return fmt.Sprintf("exited with code %d", e.Code)
	}
}

// Reattacher is implemented by containerizers that can find a task's
// container again after the agent restarted (Docker, by label).
type Reattacher interface {
	// Reattach follows task id's container again; ErrNoContainer if it
	// is gone. ctx bounds the search, not the container's life.
	Reattach(ctx context.Context, id, sandbox string) (Container, error)
}

// Destroyer is implemented by containerizers that can end what still runs
// of a container that an earlier run of the agent started, knowing only
// its ID and sandbox: a task whose checkpoint is unreadable, one whose
// process was never recorded, or what a task that ended left behind.
type Destroyer interface {
	// Destroy kills whatever still runs of container id and removes what
	// isolated it. It returns once nothing does, or says why not; ctx
	// bounds the wait.
	Destroy(ctx context.Context, id, sandbox string) error
}

// Resizer is implemented by containerizers that can change the limits of
// a container that runs: a custom executor's grow and shrink with its
// tasks (Mesos updates an executor's container as tasks come and go).
type Resizer interface {
	// Resize sets container id's limits to cpus and memMB (0: leave that
	// one as it is). ErrNotIsolated when the containerizer does not
	// isolate.
	Resize(ctx context.Context, id string, cpus, memMB float64) error
}

// ErrNotIsolated: the containerizer runs containers without limits.
var ErrNotIsolated = errors.New("containers are not isolated (no cgroups)")

// ErrNoContainer: the container a restarted agent looked for is gone.
var ErrNoContainer = errors.New("no such container")

// ExitNotifier is implemented by containers that report their exit by
// callback, so the agent needs no goroutine blocked in Wait for each (a
// simulated agent runs thousands of tasks; goroutine stacks are what the
// garbage collector scans).
type ExitNotifier interface {
	// NotifyExit calls f once with the exit, at once if it has happened.
	NotifyExit(f func(Exit))
}

// Container is a started task.
type Container interface {
	// Wait blocks until the container ends, or until ctx is done (then
	// it returns ctx's error and the container goes on).
	Wait(ctx context.Context) (Exit, error)
	// Kill asks the container to stop (SIGTERM), and forces it (SIGKILL)
	// after grace. It does not block.
	Kill(grace time.Duration)
}

// Containerizer starts containers.
type Containerizer interface {
	// Launch starts a container or says why it cannot. ctx bounds the
	// launch (an engine that does not answer), not the container's life:
	// a task outlives the agent that started it.
	Launch(ctx context.Context, spec LaunchSpec) (Container, error)
}

// ErrBadID is returned for IDs that would escape the sandbox root.
var ErrBadID = errors.New("invalid ID for a sandbox path")

// SandboxPath returns root/frameworks/<framework>/tasks/<task>, refusing IDs
// that are empty, contain a path separator or are "." or "..".
func SandboxPath(root, frameworkID, taskID string) (string, error) {
	for _, id := range []string{frameworkID, taskID} {
		if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\\x00") {
			return "", fmt.Errorf("%w: %q", ErrBadID, id)
		}
	}
	return filepath.Join(root, "frameworks", frameworkID, "tasks", taskID), nil
}

// Instant is implemented by containerizers whose Launch neither blocks nor
// touches the disk (testkit's simulated one). The agent launches on its
// own goroutine then, instead of on a fresh one, so that a simulation
// running every actor on one thread stays reproducible.
type Instant interface {
	LaunchesInstantly()
}

// NetworkSharer is implemented by containers whose network namespace other
// containers of the same containerizer can join (Docker): a task group's
// Docker tasks join the first one's.
type NetworkSharer interface {
	// SharedNetwork is the network mode that joins this container's
	// network namespace ("container:<id>" for Docker).
	SharedNetwork() string
}

// GroupCleaner is implemented by containerizers that keep something for a
// task group as a whole (the command containerizer's parent cgroup).
type GroupCleaner interface {
	// RemoveGroup removes what the group's tasks shared, once every task
	// of it has ended.
	RemoveGroup(parent string) error
}

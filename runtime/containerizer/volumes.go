package containerizer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"github.com/agora-sched/agora/messages"
	"github.com/docker/docker/api/types/mount"
)

// ContainerSandbox is where a Docker task finds its sandbox (Mesos'
// --sandbox_directory default); MESOS_SANDBOX names it.
const ContainerSandbox = "/mnt/mesos/sandbox"

// maxVolumes bounds a container's bind mounts (a framework's list).
const maxVolumes = 64

// ErrBadVolume is a volume that cannot be mounted as given.
var ErrBadVolume = errors.New("invalid volume")

// BindMounts is the engine's bind mounts for a container whose sandbox is
// sandbox on the host (absolute): the sandbox at ContainerSandbox, then
// vols in order. Volumes follow Mesos' Docker containerizer: a relative
// host_path is in the sandbox (created there when missing, owned as the
// sandbox is), an absolute one must exist on the agent; a relative
// container_path is under ContainerSandbox; not both relative. The agent
// calls it for persistent volumes too (absolute host paths).
func BindMounts(vols []*messages.ContainerInfo_Volume, sandbox string) ([]mount.Mount, error) {
	if len(vols) > maxVolumes {
		return nil, fmt.Errorf("%w: %d volumes, at most %d", ErrBadVolume, len(vols), maxVolumes)
	}
	if !filepath.IsAbs(sandbox) {
		return nil, fmt.Errorf("sandbox %q is not an absolute path (bind mounts need one)", sandbox)
	}
	mounts := []mount.Mount{{Type: mount.TypeBind, Source: sandbox, Target: ContainerSandbox}}
	targets := map[string]bool{ContainerSandbox: true}
	for _, v := range vols {
		m, err := bindMount(v, sandbox)
		if err != nil {
			return nil, err
		}
		if targets[m.Target] {
			return nil, fmt.Errorf("%w: two volumes (or a volume and the sandbox) at %s", ErrBadVolume, m.Target)
		}
		targets[m.Target] = true
		mounts = append(mounts, m)
	}
	return mounts, nil
}

func bindMount(v *messages.ContainerInfo_Volume, sandbox string) (mount.Mount, error) {
	hp, cp := v.GetHostPath(), v.GetContainerPath()
	switch {
	case cp == "":
		return mount.Mount{}, fmt.Errorf("%w: a volume without a container_path", ErrBadVolume)
	case hp == "":
		return mount.Mount{}, fmt.Errorf("%w: volume at %s has no host_path (Docker named volumes are not supported)", ErrBadVolume, cp)
	case !filepath.IsAbs(hp) && !path.IsAbs(cp):
		return mount.Mount{}, fmt.Errorf("%w: host_path %q and container_path %q are both relative: the task sees its sandbox already", ErrBadVolume, hp, cp)
	}
	target := path.Clean(cp)
	if !path.IsAbs(cp) {
		target = path.Join(ContainerSandbox, cp)
	}
	source := filepath.Clean(hp)
	if !filepath.IsAbs(hp) {
		if !filepath.IsLocal(hp) {
			return mount.Mount{}, fmt.Errorf("%w: host_path %q leaves the sandbox", ErrBadVolume, hp)
		}
		if err := mkdirLike(filepath.Join(sandbox, hp), sandbox); err != nil {
			return mount.Mount{}, err
		}
		// The engine follows links: one the task's files put in the
		// sandbox must not mount a host directory outside it.
		real, err := filepath.EvalSymlinks(filepath.Join(sandbox, hp))
		if err != nil {
			return mount.Mount{}, fmt.Errorf("%w: host_path %q: %w", ErrBadVolume, hp, err)
		}
		root, err := filepath.EvalSymlinks(sandbox)
		if err != nil {
			return mount.Mount{}, fmt.Errorf("sandbox: %w", err)
		}
		if rel, err := filepath.Rel(root, real); err != nil || !filepath.IsLocal(rel) {
			return mount.Mount{}, fmt.Errorf("%w: host_path %q leads out of the sandbox (a link)", ErrBadVolume, hp)
		}
		source = real
	} else if _, err := os.Stat(source); err != nil {
		return mount.Mount{}, fmt.Errorf("%w: host_path %s of the volume at %s: %w", ErrBadVolume, source, target, err)
	}
	return mount.Mount{Type: mount.TypeBind, Source: source, Target: target, ReadOnly: v.GetMode() == messages.ContainerInfo_Volume_RO}, nil
}

// mkdirLike creates dir (inside sandbox) when missing, owned as sandbox
// is, so that a task running as its user can write in its own volume.
func mkdirLike(dir, sandbox string) error {
	if _, err := os.Lstat(dir); err == nil {
		return nil
	}
	fi, err := os.Stat(sandbox)
	if err != nil {
		return fmt.Errorf("volume in sandbox: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: create %s: %w", ErrBadVolume, dir, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		// Only dir itself: parents it created stay the agent's.
		if err := os.Lchown(dir, int(st.Uid), int(st.Gid)); err != nil {
			return fmt.Errorf("give volume %s to the sandbox's owner: %w", dir, err)
		}
	}
	return nil
}

// linkVolumes makes spec's volumes (absolute host paths, such as
// persistent volumes) seen by a command task at their container paths in
// its sandbox, as symbolic links: the agent runs unprivileged, so it
// cannot bind mount. The volume's directory is given to the task's user,
// as Mesos does on a volume's first use.
func linkVolumes(spec LaunchSpec, who *User) error {
	if len(spec.Volumes) > maxVolumes {
		return fmt.Errorf("%w: %d volumes, at most %d", ErrBadVolume, len(spec.Volumes), maxVolumes)
	}
	for _, v := range spec.Volumes {
		hp, cp := v.GetHostPath(), v.GetContainerPath()
		if !filepath.IsAbs(hp) || !filepath.IsLocal(cp) {
			return fmt.Errorf("%w: a command task sees volumes at relative paths in its sandbox, from absolute host paths (got %q at %q)", ErrBadVolume, hp, cp)
		}
		link := filepath.Join(spec.Sandbox, cp)
		if err := mkdirLike(filepath.Dir(link), spec.Sandbox); err != nil {
			return err
		}
		if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("volume at %s: %w (the sandbox has something there)", cp, err)
		}
		if err := os.Symlink(hp, link); err != nil {
			return fmt.Errorf("link volume %s at %s: %w", hp, cp, err)
		}
		if err := giveSandbox(hp, who); err != nil {
			return fmt.Errorf("volume %s: %w", hp, err)
		}
	}
	return nil
}

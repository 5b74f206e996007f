package containerizer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/agora-sched/agora/messages"
	"github.com/docker/docker/api/types/mount"
	"golang.org/x/sys/unix"
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
// its sandbox, as symbolic links: the task shares the agent's mount
// namespace, so a mount in its sandbox would be the host's to clean up
// (and a sandbox's removal would walk into the volume). The volume's
// directory is given to the task's user, as Mesos does on a volume's
// first use. A read-only volume's link leads to its read-only view
// (spec.ReadOnlyViews), which the kernel keeps the task from writing in;
// its directory is not given to the task's user, who only reads it.
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
		target := hp
		if v.GetMode() == messages.ContainerInfo_Volume_RO {
			view := spec.ReadOnlyViews[hp]
			if !filepath.IsAbs(view) {
				return fmt.Errorf("%w: volume %s is read-only for the task, and the agent gave no place for its read-only view", ErrBadVolume, hp)
			}
			if err := readOnlyView(hp, view); err != nil {
				return err
			}
			target = view
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("link volume %s at %s: %w", target, cp, err)
		}
		if target != hp {
			continue
		}
		if err := giveSandbox(hp, who); err != nil {
			return fmt.Errorf("volume %s: %w", hp, err)
		}
	}
	return nil
}

// viewMu makes the check and the mount of a read-only view one step: two
// tasks launched at once that read one volume must not stack two mounts.
var viewMu sync.Mutex

// readOnlyView mounts dir read-only at view (a bind mount remounted
// read-only, as Mesos' filesystem/linux isolator mounts a volume of mode
// RO), unless it is mounted there already: views are kept across tasks
// and agent restarts, until UnmountReadOnlyView.
func readOnlyView(dir, view string) error {
	viewMu.Lock()
	defer viewMu.Unlock()
	if err := os.MkdirAll(view, 0o755); err != nil {
		return fmt.Errorf("read-only view of volume %s: %w", dir, err)
	}
	for range maxVolumes {
		if !readOnlyMount(view) {
			break
		}
		if same(dir, view) {
			return nil
		}
		// A view of an earlier directory of that name (the volume was
		// destroyed and made again while its view stayed): replaced.
		if err := unix.Unmount(view, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount the stale read-only view %s: %w", view, err)
		}
	}
	if err := unix.Mount(dir, view, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mount a read-only view of volume %s at %s: %w (mounting a volume read-only for a command task needs an agent with CAP_SYS_ADMIN, such as root; or run the task in Docker, or mount the volume read-write)", dir, view, err)
	}
	// A bind mount takes its flags from a remount (MS_RDONLY is ignored
	// by the first call).
	if err := unix.Mount("", view, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		_ = unix.Unmount(view, unix.MNT_DETACH)
		return fmt.Errorf("make the view of volume %s at %s read-only: %w", dir, view, err)
	}
	return nil
}

// same reports whether a and b are one directory (a bind mount's root is
// its source's inode).
func same(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// readOnlyMount reports whether a read-only file system is mounted at dir,
// whose parent is on a writable one (a view, not a read-only work dir).
func readOnlyMount(dir string) bool {
	var st, parent unix.Statfs_t
	if unix.Statfs(dir, &st) != nil || unix.Statfs(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Flags&unix.ST_RDONLY != 0 && parent.Flags&unix.ST_RDONLY == 0
}

// UnmountReadOnlyView unmounts a volume's read-only view (every mount
// stacked there) and removes its directory; a view that is not there is
// no error. Tasks still reading through it keep what they opened.
func UnmountReadOnlyView(view string) error {
	viewMu.Lock()
	defer viewMu.Unlock()
	for range maxVolumes {
		err := unix.Unmount(view, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break // not a mount point (any more)
		}
		if err != nil {
			return fmt.Errorf("unmount the read-only view %s: %w", view, err)
		}
	}
	if err := os.Remove(view); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the read-only view %s: %w", view, err)
	}
	return nil
}

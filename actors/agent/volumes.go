package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
)

// Persistent volumes are entries of the dynamic reservations the master
// checkpoints on the agent (a DiskInfo with a persistence id). Each is the
// directory messages.VolumePath under the work dir: made when the agent
// learns of the volume, kept across tasks and restarts, removed when the
// master no longer names it (DESTROY) and no task of the agent uses it. A
// task that names a volume among its resources sees it at container_path:
// a bind mount in a Docker container, a symbolic link in a command task's
// sandbox. A task that names it read-only gets a read-only bind in Docker,
// and a link to the volume's read-only view (messages.VolumeReadOnlyPath,
// a read-only bind mount the containerizer makes and the agent unmounts
// with the volume) in its sandbox.

// syncVolumes makes the directories of the volumes in rs and removes those
// of volumes no longer there. Making them is done on the actor, before the
// task that may follow the CREATE in the same accept is launched; the
// removal, which may walk a large tree, runs in the background.
func (a *agent) syncVolumes(rs []*messages.Resource) {
	if a.cfg.WorkDir == "" {
		return
	}
	keep := map[string]bool{}
	for _, r := range rs {
		if !messages.IsVolume(r) {
			continue
		}
		dir := messages.VolumePath(a.cfg.WorkDir, r.Role, r.Disk.PersistenceId)
		keep[dir] = true
		if err := os.MkdirAll(dir, 0o755); err != nil {
			a.log.Error("agent: cannot make a persistent volume's directory; tasks using it will fail", "dir", dir, "err", err)
		}
	}
	for _, run := range a.tasks {
		if messages.IsTerminal(run.state) {
			continue
		}
		for _, v := range a.taskVolumes(run.info) {
			keep[v.HostPath] = true // destroyed under a live task: kept until the next change
		}
	}
	root, views, log := filepath.Join(a.cfg.WorkDir, "volumes", "roles"), filepath.Join(a.cfg.WorkDir, "volumes", "ro"), a.log
	if a.cfg.WriteInline {
		// As the agent's checkpoints: done before it goes on.
		removeVolumes(root, views, keep, log)
		return
	}
	a.bg.run(func(context.Context) { removeVolumes(root, views, keep, log) })
}

// removeVolumes removes the volume directories under root not in keep,
// after the read-only views of them under views (the same role/id
// layout), which are unmounted.
func removeVolumes(root, views string, keep map[string]bool, log *slog.Logger) {
	viewRoles, _ := os.ReadDir(views)
	for _, role := range viewRoles {
		ids, _ := os.ReadDir(filepath.Join(views, role.Name()))
		for _, id := range ids {
			if keep[filepath.Join(root, role.Name(), id.Name())] {
				continue
			}
			if err := containerizer.UnmountReadOnlyView(filepath.Join(views, role.Name(), id.Name())); err != nil {
				log.Error("agent: cannot unmount a destroyed persistent volume's read-only view", "err", err)
			}
		}
	}
	roles, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Error("agent: cannot list persistent volumes", "dir", root, "err", err)
	}
	for _, role := range roles {
		ids, _ := os.ReadDir(filepath.Join(root, role.Name()))
		for _, id := range ids {
			dir := filepath.Join(root, role.Name(), id.Name())
			if keep[dir] {
				continue
			}
			if err := os.RemoveAll(dir); err != nil {
				log.Error("agent: cannot remove a destroyed persistent volume", "dir", dir, "err", err)
			} else {
				log.Info("agent: persistent volume removed", "dir", dir)
			}
		}
	}
}

// taskVolumes is how a task's volumes are mounted: each on the agent's
// directory for it, read-only when the task names it so.
func (a *agent) taskVolumes(t *messages.TaskInfo) []*messages.ContainerInfo_Volume {
	var out []*messages.ContainerInfo_Volume
	for _, r := range t.GetResources() {
		if messages.IsVolume(r) {
			mode := messages.ContainerInfo_Volume_RW
			if r.Disk.ReadOnly {
				mode = messages.ContainerInfo_Volume_RO
			}
			out = append(out, &messages.ContainerInfo_Volume{ContainerPath: r.Disk.ContainerPath,
				HostPath: messages.VolumePath(a.cfg.WorkDir, r.Role, r.Disk.PersistenceId), Mode: mode})
		}
	}
	return out
}

// readOnlyViews is where the command containerizer mounts the read-only
// view of each volume task t mounts read-only, by the volume's directory.
func (a *agent) readOnlyViews(t *messages.TaskInfo) map[string]string {
	var out map[string]string
	for _, r := range t.GetResources() {
		if messages.IsVolume(r) && r.Disk.ReadOnly {
			if out == nil {
				out = map[string]string{}
			}
			out[messages.VolumePath(a.cfg.WorkDir, r.Role, r.Disk.PersistenceId)] = messages.VolumeReadOnlyPath(a.cfg.WorkDir, r.Role, r.Disk.PersistenceId)
		}
	}
	return out
}

// checkVolumes refuses a task naming a volume the agent does not have: the
// master checked it too, but the agent mounts only what it was told to keep.
func (a *agent) checkVolumes(t *messages.TaskInfo) error {
	for _, r := range t.GetResources() {
		if r.GetDisk() == nil {
			continue
		}
		if err := messages.ValidateVolume(r); err != nil {
			return err
		}
		if a.cfg.WorkDir == "" {
			return errors.New("this agent has no work directory, so no persistent volumes")
		}
		if t.Executor != nil {
			return errors.New("persistent volumes are mounted for command and Docker tasks, not for tasks of an executor")
		}
		found := false
		for _, v := range a.info.Resources {
			found = found || messages.IsVolume(v) && v.Role == r.Role && v.Disk.PersistenceId == r.Disk.PersistenceId
		}
		if !found {
			return fmt.Errorf("no persistent volume %q for role %s on this agent", r.Disk.PersistenceId, url.PathEscape(r.Role))
		}
	}
	return nil
}

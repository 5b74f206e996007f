package messages

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Persistent volumes (CREATE, DESTROY): disk dynamically reserved for a
// role that carries a DiskInfo with a persistence id. The agent keeps it
// as the directory VolumePath, which outlives the tasks that use it; a
// task uses it by naming the volume resource among its own, and sees it at
// container_path in its sandbox.

const (
	// MaxPersistenceID bounds a volume's id, a path element on the agent.
	MaxPersistenceID = 128
	// MaxContainerPath bounds where a task sees a volume.
	MaxContainerPath = 1024
)

// IsVolume reports whether r is a persistent volume.
func IsVolume(r *Resource) bool { return r.GetDisk().GetPersistenceId() != "" }

// ValidateVolume checks what a CREATE or a task says of a volume: reserved
// disk, an id that is a safe path element, and a container_path inside
// the sandbox (Mesos' rules for DiskInfo.Persistence, with the id's
// characters narrowed to what is safe in a directory name).
func ValidateVolume(r *Resource) error {
	d := r.GetDisk()
	id, cp := d.GetPersistenceId(), d.GetContainerPath()
	switch {
	case r.Name != Disk:
		return fmt.Errorf("%w: volume %q on %s: volumes are made of disk", ErrBadResource, id, r.Name)
	case r.Role == "" || r.Role == "*":
		return fmt.Errorf("%w: volume %q on unreserved disk: reserve the disk for a role first", ErrBadResource, id)
	case r.Revocable:
		return fmt.Errorf("%w: volume %q on revocable disk", ErrBadResource, id)
	case r.Scalar <= 0:
		return fmt.Errorf("%w: volume %q of %g MiB: give it a positive size", ErrBadResource, id, r.Scalar)
	case id == "" || len(id) > MaxPersistenceID || id == "." || id == "..":
		return fmt.Errorf("%w: persistence id %.64q: want 1 to %d characters of [A-Za-z0-9._-], not . or ..", ErrBadResource, id, MaxPersistenceID)
	case cp == "" || len(cp) > MaxContainerPath || !filepath.IsLocal(cp):
		return fmt.Errorf("%w: volume %q: container_path %.64q must be a relative path inside the sandbox", ErrBadResource, id, cp)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: persistence id %.64q: want 1 to %d characters of [A-Za-z0-9._-]", ErrBadResource, id, MaxPersistenceID)
		}
	}
	return nil
}

// VolumePath is where an agent with work directory workDir keeps role's
// volume id (Mesos' <work_dir>/volumes/roles/<role>/<id>). A hierarchical
// role's slashes are escaped so that its volumes stay one level down.
func VolumePath(workDir, role, id string) string {
	return filepath.Join(workDir, "volumes", "roles", url.PathEscape(role), id)
}

// VolumeReadOnlyPath is where an agent with work directory workDir mounts
// the read-only view of role's volume id that command tasks mounting it
// read-only see (a read-only bind mount of VolumePath).
func VolumeReadOnlyPath(workDir, role, id string) string {
	return filepath.Join(workDir, "volumes", "ro", url.PathEscape(role), id)
}

// ParseVolume reads ID:PATH:MIB (db:data:512) as a persistent volume of
// role: MIB of its reserved disk, seen by a task at PATH in its sandbox.
func ParseVolume(s, role string) (*Resource, error) {
	p := strings.Split(s, ":")
	if len(p) != 3 {
		return nil, fmt.Errorf("%w: volume %q: want ID:PATH:MIB, such as db:data:512", ErrBadResource, s)
	}
	mib, err := strconv.ParseFloat(p[2], 64)
	if err != nil {
		return nil, fmt.Errorf("%w: volume %q: size %q is not a number of MiB", ErrBadResource, s, p[2])
	}
	v := &Resource{Name: Disk, Scalar: mib, Role: role, Disk: &DiskInfo{PersistenceId: p[0], ContainerPath: p[1]}}
	if err := ValidateVolume(v); err != nil {
		return nil, err
	}
	return v, nil
}

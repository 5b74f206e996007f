package messages

import (
	"errors"
	"strings"
	"testing"
)

// Only a persistent volume is shared or mounted read-only (Mesos: "Only
// persistent volumes can be shared"; a volume's mode is how a task mounts
// one): either mark on anything else is refused, naming the resource and
// what is wrong; on a volume both are taken.
func TestSharedAndReadOnlyOnlyOnVolumes(t *testing.T) {
	vol := func() *Resource {
		return &Resource{Name: Disk, Scalar: 10, Role: "eng", Disk: &DiskInfo{PersistenceId: "v1", ContainerPath: "data"}}
	}
	for _, tc := range []struct {
		name string
		r    *Resource
		want string
	}{
		{"shared cpus", &Resource{Name: CPUs, Scalar: 1, Shared: true}, "cpus is marked shared, but only persistent volumes"},
		{"shared plain disk", &Resource{Name: Disk, Scalar: 1, Role: "eng", Shared: true}, "disk is marked shared, but only persistent volumes"},
		{"read-only plain disk", &Resource{Name: Disk, Scalar: 1, Role: "eng", Disk: &DiskInfo{ReadOnly: true, ContainerPath: "x"}}, "disk is marked read-only, but only a persistent volume"},
	} {
		err := ValidateResources([]*Resource{tc.r})
		if !errors.Is(err, ErrBadResource) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want ErrBadResource saying %q", tc.name, err, tc.want)
		}
	}
	v := vol()
	v.Shared, v.Disk.ReadOnly = true, true
	if err := ValidateResources([]*Resource{v}); err != nil {
		t.Fatalf("a shared volume mounted read-only: %v", err)
	}
}

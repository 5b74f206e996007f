package containerizer

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Resize implements Resizer for a container the engine runs (a custom
// executor's, which grows and shrinks with its tasks): its cpu and memory
// limits become cpus and memMB (0: that one is left as it is), as
// `docker update --cpus --memory --memory-swap` sets them; no swap beyond
// the memory limit, as at launch. The container is found by its label.
// Unlike Mesos' Docker containerizer, which only ever raises a container's
// hard memory limit, the limit also goes down when tasks end, as the
// command containerizer's cgroup does: the engine refuses a limit below
// what the container uses, and the container keeps its old one.
func (d *Docker) Resize(ctx context.Context, id string, cpus, memMB float64) error {
	if d.isClosed() {
		return fmt.Errorf("resize %s: %w", id, ErrClosed)
	}
	if cpus <= 0 && memMB <= 0 {
		return nil
	}
	list, err := d.containersOf(ctx, id, false)
	if err != nil {
		return fmt.Errorf("find the container of %s to update its limits: %w", id, err)
	}
	if len(list) == 0 {
		return fmt.Errorf("update the limits of %s: %w", id, ErrNoContainer)
	}
	var r container.Resources
	if cpus > 0 {
		r.NanoCPUs = int64(cpus * 1e9)
	}
	if memMB > 0 {
		r.Memory = int64(memMB * 1024 * 1024)
		r.MemorySwap = r.Memory
	}
	uctx, cancel := d.call(ctx)
	defer cancel()
	if _, err := d.Client.ContainerUpdate(uctx, list[0].ID, container.UpdateConfig{Resources: r}); err != nil {
		return fmt.Errorf("update the limits of %s (container %s) to cpus %g, mem %g MiB (a memory limit below its usage is refused): %w",
			id, list[0].ID, cpus, memMB, err)
	}
	return nil
}

// containersOf lists the containers labelled as container id's: those
// that run, or all of them (exited ones too).
func (d *Docker) containersOf(ctx context.Context, id string, all bool) ([]container.Summary, error) {
	lctx, cancel := d.call(ctx)
	defer cancel()
	return d.Client.ContainerList(lctx, container.ListOptions{All: all, Filters: filters.NewArgs(filters.Arg("label", LabelTask+"="+id))})
}

package containerizer

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// A running container's limits follow Resize, up and down, as a custom
// executor's follow its tasks; 0 leaves a limit as it is; swap stays at
// the memory limit; a container that is not there is ErrNoContainer.
func TestDockerResize(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	spec := dockerTask(TestImage, "exec sleep 600")
	spec.ID = "f.executor.resized"
	spec.Sandbox = filepath.Join(t.TempDir(), "sandbox")
	c, err := d.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Kill(0); _, _ = c.Wait(context.Background()) })
	limits := func() (nanoCPUs, mem, swap int64) {
		t.Helper()
		list, err := d.containersOf(t.Context(), spec.ID, false)
		if err != nil || len(list) != 1 {
			t.Fatalf("the container of %s: %v %v", spec.ID, list, err)
		}
		st, err := d.Client.ContainerInspect(t.Context(), list[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		return st.HostConfig.NanoCPUs, st.HostConfig.Memory, st.HostConfig.MemorySwap
	}
	const mib = 1 << 20
	for _, step := range []struct {
		cpus, mem         float64
		wantNano, wantMem int64
	}{
		{cpus: 1, mem: 96, wantNano: 1e9, wantMem: 96 * mib},    // a task came
		{cpus: 0, mem: 32, wantNano: 1e9, wantMem: 32 * mib},    // it went (cpus left as they were)
		{cpus: 0.25, mem: 0, wantNano: 25e7, wantMem: 32 * mib}, // memory left as it was
	} {
		if err := d.Resize(t.Context(), spec.ID, step.cpus, step.mem); err != nil {
			t.Fatalf("resize to cpus %g mem %g: %v", step.cpus, step.mem, err)
		}
		if nano, mem, swap := limits(); nano != step.wantNano || mem != step.wantMem || swap != step.wantMem {
			t.Fatalf("after resizing to cpus %g mem %g: NanoCPUs %d Memory %d MemorySwap %d, want %d %d %d",
				step.cpus, step.mem, nano, mem, swap, step.wantNano, step.wantMem, step.wantMem)
		}
	}
	if err := d.Resize(t.Context(), "f.executor.absent", 1, 64); !errors.Is(err, ErrNoContainer) {
		t.Fatalf("resizing a container that is not there: %v, want ErrNoContainer", err)
	}
}

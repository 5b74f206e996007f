package containerizer

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/docker/docker/api/types/network"
)

// Network modes with real containers (Mesos' DockerInfo.Network): none
// has only loopback; host shares the agent's interfaces; bridge (the
// default) and a user-defined network give the container its own eth0,
// on the user network's subnet. Port mappings need a network that
// publishes them; an unknown network fails the launch naming it.
func TestDockerNetworkModes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	name := "agora-test-" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-")
	ctx := context.Background()
	_ = d.Client.NetworkRemove(ctx, name) // left by an interrupted run
	created, err := d.Client.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Client.NetworkRemove(context.Background(), created.ID) })
	info, err := d.Client.NetworkInspect(ctx, created.ID, network.InspectOptions{})
	if err != nil || len(info.IPAM.Config) == 0 {
		t.Fatalf("inspect network %s: %+v %v", name, info.IPAM, err)
	}
	_, subnet, err := net.ParseCIDR(info.IPAM.Config[0].Subnet)
	if err != nil {
		t.Fatal(err)
	}
	var hostIfaces []string
	entries, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		hostIfaces = append(hostIfaces, e.Name())
	}
	run := func(mode string) (ifaces []string, addr net.IP) {
		t.Helper()
		spec := dockerTask(TestImage, "ls /sys/class/net; echo --; ip -4 -o addr show eth0 2>/dev/null || true")
		spec.Sandbox, spec.Container.Docker.Network = filepath.Join(t.TempDir(), "sandbox"), mode
		out := runOut(t, d, spec)
		list, ip, _ := strings.Cut(out, "--\n")
		if f := strings.Fields(ip); len(f) >= 4 {
			addr, _, _ = net.ParseCIDR(f[3])
		}
		return strings.Fields(list), addr
	}
	if got, _ := run("none"); !slices.Equal(got, []string{"lo"}) {
		t.Fatalf("none: interfaces %v, want only lo", got)
	}
	if got, _ := run("host"); !slices.Equal(got, hostIfaces) {
		t.Fatalf("host: interfaces %v, want the agent's %v", got, hostIfaces)
	}
	for _, mode := range []string{"", "bridge"} {
		if got, ip := run(mode); !slices.Contains(got, "eth0") || ip == nil || subnet.Contains(ip) {
			t.Fatalf("bridge (%q): interfaces %v, address %v: want an eth0 of the default bridge", mode, got, ip)
		}
	}
	if got, ip := run(name); !slices.Contains(got, "eth0") || !subnet.Contains(ip) {
		t.Fatalf("user network: interfaces %v, address %v, want an eth0 in %v", got, ip, subnet)
	}

	spec := dockerTask(TestImage, "true")
	spec.Sandbox = filepath.Join(t.TempDir(), "bad")
	spec.Container.Docker.Network = "agora-no-such-network"
	lctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := d.Launch(lctx, spec); err == nil || !strings.Contains(err.Error(), "agora-no-such-network") {
		t.Fatalf("an unknown network: %v, want an error naming it", err)
	}
	spec.Container.Docker.Network = "host"
	spec.Container.Docker.PortMappings = []*messages.ContainerInfo_PortMapping{{HostPort: 31000, ContainerPort: 80}}
	spec.Ports = []*messages.Range{{Begin: 31000, End: 31000}}
	if _, err := d.Launch(lctx, spec); err == nil || !strings.Contains(err.Error(), "need a bridge or user-defined network") {
		t.Fatalf("port mappings on the host network: %v", err)
	}
}

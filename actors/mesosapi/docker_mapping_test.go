package mesosapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
	mesos "github.com/agora-sched/agora/messages/mesos/v1"
	"google.golang.org/protobuf/proto"
)

// A Mesos DOCKER container as Agora runs it: force_pull_image, the
// network (HOST by default, as Mesos on Linux; USER by the name in its one
// network_infos), port mappings and host-path volumes (host_path, or a
// HOST_PATH source) with their mode. What Agora's Docker containerizer
// cannot do is refused by name rather than dropped.
func TestDockerContainerIn(t *testing.T) {
	docker := func(net *mesos.ContainerInfo_DockerInfo_Network) *mesos.ContainerInfo {
		return &mesos.ContainerInfo{Type: mesos.ContainerInfo_DOCKER.Enum(), Docker: &mesos.ContainerInfo_DockerInfo{Image: proto.String("reg:5000/app:1"), Network: net}}
	}
	c := docker(mesos.ContainerInfo_DockerInfo_BRIDGE.Enum())
	c.Docker.ForcePullImage = proto.Bool(true)
	c.Docker.PortMappings = []*mesos.ContainerInfo_DockerInfo_PortMapping{{HostPort: proto.Uint32(31000), ContainerPort: proto.Uint32(80), Protocol: proto.String("tcp")}}
	c.Volumes = []*mesos.Volume{
		{ContainerPath: proto.String("/data"), HostPath: proto.String("/srv/data"), Mode: mesos.Volume_RO.Enum()},
		{ContainerPath: proto.String("cache"), HostPath: proto.String("cache"), Mode: mesos.Volume_RW.Enum()},
		{ContainerPath: proto.String("/logs"), Mode: mesos.Volume_RW.Enum(), Source: &mesos.Volume_Source{Type: mesos.Volume_Source_HOST_PATH.Enum(), HostPath: &mesos.Volume_Source_HostPath{Path: proto.String("/var/log/app")}}},
	}
	got, err := containerIn(c)
	if err != nil {
		t.Fatal(err)
	}
	want := &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "reg:5000/app:1", ForcePull: true, Network: "bridge",
		PortMappings: []*messages.ContainerInfo_PortMapping{{HostPort: 31000, ContainerPort: 80, Protocol: "tcp"}}},
		Volumes: []*messages.ContainerInfo_Volume{
			{ContainerPath: "/data", HostPath: "/srv/data", Mode: messages.ContainerInfo_Volume_RO},
			{ContainerPath: "cache", HostPath: "cache"},
			{ContainerPath: "/logs", HostPath: "/var/log/app"},
		}}
	if !proto.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for net, name := range map[*mesos.ContainerInfo_DockerInfo_Network]string{nil: "host", mesos.ContainerInfo_DockerInfo_NONE.Enum(): "none"} {
		if got, err := containerIn(docker(net)); err != nil || got.Docker.Network != name {
			t.Fatalf("network %v: %v %v, want %s", net, got, err, name)
		}
	}
	user := docker(mesos.ContainerInfo_DockerInfo_USER.Enum())
	user.NetworkInfos = []*mesos.NetworkInfo{{Name: proto.String("backend")}}
	if got, err := containerIn(user); err != nil || got.Docker.Network != "backend" {
		t.Fatalf("USER network: %v %v, want backend", got, err)
	}

	for _, tc := range []struct {
		name   string
		change func(c *mesos.ContainerInfo)
		want   error
		says   string
	}{
		{"USER without network_infos", func(c *mesos.ContainerInfo) { c.Docker.Network = mesos.ContainerInfo_DockerInfo_USER.Enum() }, ErrInvalid, "exactly one network_infos"},
		{"USER without a name", func(c *mesos.ContainerInfo) {
			c.Docker.Network, c.NetworkInfos = mesos.ContainerInfo_DockerInfo_USER.Enum(), []*mesos.NetworkInfo{{}}
		}, ErrInvalid, "without a name"},
		{"USER on two networks", func(c *mesos.ContainerInfo) {
			c.Docker.Network = mesos.ContainerInfo_DockerInfo_USER.Enum()
			c.NetworkInfos = []*mesos.NetworkInfo{{Name: proto.String("a")}, {Name: proto.String("b")}}
		}, ErrInvalid, "not 2"},
		{"a Docker named volume", func(c *mesos.ContainerInfo) {
			c.Volumes = []*mesos.Volume{{ContainerPath: proto.String("/v"), Mode: mesos.Volume_RW.Enum(), Source: &mesos.Volume_Source{Type: mesos.Volume_Source_DOCKER_VOLUME.Enum()}}}
		}, ErrUnsupported, "DOCKER_VOLUME"},
		{"an image volume", func(c *mesos.ContainerInfo) {
			c.Volumes = []*mesos.Volume{{ContainerPath: proto.String("/v"), Mode: mesos.Volume_RW.Enum(), Image: &mesos.Image{}}}
		}, ErrUnsupported, "image volumes"},
		{"a volume without a host path", func(c *mesos.ContainerInfo) {
			c.Volumes = []*mesos.Volume{{ContainerPath: proto.String("/v"), Mode: mesos.Volume_RW.Enum()}}
		}, ErrInvalid, "needs a host_path"},
		{"privileged", func(c *mesos.ContainerInfo) { c.Docker.Privileged = proto.Bool(true) }, ErrUnsupported, "privileged"},
		{"docker run parameters", func(c *mesos.ContainerInfo) {
			c.Docker.Parameters = []*mesos.Parameter{{Key: proto.String("cap-add"), Value: proto.String("ALL")}}
		}, ErrUnsupported, "parameters"},
		{"volumes of a MESOS container", func(c *mesos.ContainerInfo) {
			c.Type, c.Docker = mesos.ContainerInfo_MESOS.Enum(), nil
			c.Volumes = []*mesos.Volume{{ContainerPath: proto.String("/v"), HostPath: proto.String("/h"), Mode: mesos.Volume_RW.Enum()}}
		}, ErrUnsupported, "volumes of a MESOS container"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := docker(nil)
			tc.change(c)
			if _, err := containerIn(c); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err %v, want %v saying %q", err, tc.want, tc.says)
			}
		})
	}
}

// A Mesos custom executor's ContainerInfo (issue 17 item 5): DOCKER runs it
// in a container of its image, on the host's network unless it names
// another (Mesos' default); MESOS without an image is a process, as with
// no container; what a task's container refuses, an executor's does too.
// The executor is told its container back as Mesos writes it.
func TestExecutorContainerIn(t *testing.T) {
	executor := func(c *mesos.ContainerInfo) *mesos.ExecutorInfo {
		return &mesos.ExecutorInfo{ExecutorId: &mesos.ExecutorID{Value: proto.String("ex")}, Type: mesos.ExecutorInfo_CUSTOM.Enum(),
			Command: &mesos.CommandInfo{Value: proto.String("/mnt/mesos/sandbox/executor")}, Container: c}
	}
	docker := &mesos.ContainerInfo{Type: mesos.ContainerInfo_DOCKER.Enum(), Docker: &mesos.ContainerInfo_DockerInfo{Image: proto.String("agora/busybox:test")}}
	got, err := executorIn(executor(docker))
	if err != nil {
		t.Fatal(err)
	}
	want := &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "agora/busybox:test", Network: "host"}}
	if !proto.Equal(got.Container, want) || !got.Mesos {
		t.Fatalf("a DOCKER executor: container %v (mesos %v), want %v", got.Container, got.Mesos, want)
	}
	out := executorOut(got, executorKey{framework: "fw", executor: "ex"}).GetContainer()
	if out.GetType() != mesos.ContainerInfo_DOCKER || out.GetDocker().GetImage() != "agora/busybox:test" || out.GetDocker().GetNetwork() != mesos.ContainerInfo_DockerInfo_HOST {
		t.Fatalf("the executor is told its container as %v", out)
	}
	bridge := proto.Clone(docker).(*mesos.ContainerInfo)
	bridge.Docker.Network = mesos.ContainerInfo_DockerInfo_BRIDGE.Enum()
	if got, err := executorIn(executor(bridge)); err != nil || got.Container.Docker.Network != "bridge" {
		t.Fatalf("a BRIDGE executor: %v %v", got, err)
	}
	if got, err := executorIn(executor(&mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum()})); err != nil || got.Container != nil {
		t.Fatalf("a MESOS executor without an image is a process: %v %v", got, err)
	}
	if got := executorOut(&messages.ExecutorInfo{}, executorKey{framework: "fw", executor: "ex"}); got.Container != nil {
		t.Fatalf("a process executor is told of a container: %v", got.Container)
	}
	for _, tc := range []struct {
		name string
		c    *mesos.ContainerInfo
		want error
	}{
		{"no image", &mesos.ContainerInfo{Type: mesos.ContainerInfo_DOCKER.Enum(), Docker: &mesos.ContainerInfo_DockerInfo{Image: proto.String("")}}, ErrInvalid},
		{"privileged", &mesos.ContainerInfo{Type: mesos.ContainerInfo_DOCKER.Enum(), Docker: &mesos.ContainerInfo_DockerInfo{Image: proto.String("i"), Privileged: proto.Bool(true)}}, ErrUnsupported},
		{"mesos image", &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(), Mesos: &mesos.ContainerInfo_MesosInfo{Image: &mesos.Image{}}}, ErrUnsupported},
	} {
		if _, err := executorIn(executor(tc.c)); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "executor ex") {
			t.Errorf("%s: %v, want %v naming the executor", tc.name, err, tc.want)
		}
	}
}

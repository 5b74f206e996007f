package agent

import (
	"strings"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// An executor's Docker container must let it reach its agent: unless its
// ContainerInfo names a network it runs on the host's (Mesos' DockerInfo
// defaults to HOST); a network of its own reaches the agent only at a
// routable address, and none never does. Each refusal says what to do.
func TestExecutorContainerNetwork(t *testing.T) {
	docker := func(network string) *messages.ContainerInfo {
		return &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER, Docker: &messages.ContainerInfo_Docker{Image: "agora/busybox:test", Network: network}}
	}
	for _, tc := range []struct {
		name, network, agent string
		want                 string // the network it runs on
		says                 string // or what the refusal says
	}{
		{name: "unset is the host's", network: "", agent: "127.0.0.1:5052", want: "host"},
		{name: "host", network: "host", agent: "127.0.0.1:5052", want: "host"},
		{name: "bridge, routable agent", network: "bridge", agent: "10.0.0.2:5052", want: "bridge"},
		{name: "user network, routable agent", network: "backend", agent: "[2001:db8::2]:5052", want: "backend"},
		{name: "bridge, loopback agent", network: "bridge", agent: "127.0.0.1:5052", says: "--agent-http"},
		{name: "user network, localhost agent", network: "backend", agent: "localhost:5052", says: "only the host"},
		{name: "bridge, IPv6 loopback agent", network: "bridge", agent: "[::1]:5052", says: "only the host"},
		{name: "bridge, agent on every address", network: "bridge", agent: "0.0.0.0:5052", says: "only the host"},
		{name: "bridge, agent on every IPv6 address", network: "bridge", agent: "[::]:5052", says: "only the host"},
		{name: "none", network: "none", agent: "10.0.0.2:5052", says: "network none"},
	} {
		got, err := executorContainer(docker(tc.network), tc.agent)
		switch {
		case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
			t.Errorf("%s: %v, want a refusal saying %q", tc.name, err, tc.says)
		case tc.says == "" && (err != nil || got.Docker.Network != tc.want):
			t.Errorf("%s: %v %v, want network %q", tc.name, got, err, tc.want)
		}
	}
	c := docker("")
	if got, _ := executorContainer(c, "127.0.0.1:1"); c.Docker.Network != "" || got == c {
		t.Error("the framework's ContainerInfo was changed rather than copied")
	}
	if _, err := executorContainer(&messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER}, "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "image") {
		t.Errorf("a DOCKER container without an image: %v", err)
	}
}

// A checkpoint names the executor's process unless the executor ran in a
// Docker container (found again by its label). An agent from before
// executors ran in Docker ran one whose ContainerInfo said DOCKER as a
// process, and recorded it: a restarted agent follows that process, not a
// container that was never made.
func TestDockerCheckpoint(t *testing.T) {
	docker := &messages.ExecutorInfo{Container: &messages.ContainerInfo{Type: messages.ContainerInfo_DOCKER}}
	for _, tc := range []struct {
		name string
		cp   *messages.ExecutorCheckpoint
		want bool
	}{
		{"in Docker", &messages.ExecutorCheckpoint{Info: docker}, true},
		{"DOCKER run as a process by an older agent", &messages.ExecutorCheckpoint{Info: docker, Pid: 4242, StartTime: 7}, false},
		{"a process", &messages.ExecutorCheckpoint{Info: &messages.ExecutorInfo{}, Pid: 4242, StartTime: 7}, false},
	} {
		if got := dockerCheckpoint(tc.cp); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

package containerizer

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// A Docker task's checks run where Mesos' Docker executor runs them: the
// command inside the container (its files, its exit code and output), and
// HTTP against the container's own address on its bridge network, where
// its port answers without a mapping.
func TestDockerChecksRunInTheContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Docker engine; make test runs it")
	}
	d := docker(t)
	spec := dockerTask(TestImage, "mkdir -p /tmp/www && echo ok > /tmp/www/health && exec httpd -f -p 8080 -h /tmp/www")
	spec.ID, spec.Sandbox = "f.h", t.TempDir()
	c, err := d.Launch(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Kill(0); wait(t, c) }()
	res, err := d.Exec(t.Context(), spec, c, &messages.CommandInfo{Value: "cat /tmp/www/health; echo from-inside >&2", Shell: true})
	// stdout and stderr reach Docker on two pipes, read apart: their
	// order in the output is not the order they were written in.
	if err != nil || res.Code != 0 || (res.Output != "ok\nfrom-inside" && res.Output != "from-inside\nok") {
		t.Fatalf("exec: %+v, %v; want code 0 and the container's file", res, err)
	}
	res, err = d.Exec(t.Context(), spec, c, &messages.CommandInfo{Value: "exit 3", Shell: true})
	if err != nil || res.Code != 3 {
		t.Fatalf("exec exit 3: %+v, %v", res, err)
	}
	addr, err := d.Address(t.Context(), c)
	if err != nil || addr == "127.0.0.1" {
		t.Fatalf("address on the bridge network: %q, %v", addr, err)
	}
	client := &http.Client{Timeout: time.Second}
	var body string
	for i := 0; i < 100 && body == ""; i++ { // bounded: httpd listens shortly after the start
		if resp, err := client.Get(fmt.Sprintf("http://%s:8080/health", addr)); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if strings.TrimSpace(body) != "ok" {
		t.Fatalf("GET /health at the container's address: %q", body)
	}
}

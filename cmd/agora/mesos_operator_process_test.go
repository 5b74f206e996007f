package main

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
)

// Mesos' v1 operator API driven by clients nobody here wrote: mesos-go's
// operator client library (api/v1/lib/master/calls over httpmaster, in
// testkit/mesosgo/operatorcheck) and mesos-go's own event watcher, mwatch,
// against agora dev, while a Mesos framework (mesos-go's msh) runs a task.
func TestMesosOperatorAPIOnDev(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes; make test runs it")
	}
	msh, mwatch := mesosGoBin(t, "msh"), mesosGoBin(t, "mwatch")
	check := filepath.Join(filepath.Dir(agoraBin), "operatorcheck")
	build := exec.Command("go", "build", "-o", check, "./operatorcheck")
	build.Dir = filepath.Join("..", "..", "testkit", "mesosgo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building operatorcheck: %v\n%s", err, out)
	}
	_, dev := startNode(t, "dev", "dev", "--insecure", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	waitStateOf(t, "http", dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	host, port, err := net.SplitHostPort(dev.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	watch := startBin(t, mwatch, "mwatch", "-master", host, "-port", port)

	for _, codec := range []string{"protobuf", "json"} {
		t.Run(codec, func(t *testing.T) {
			c := startBin(t, check, "operatorcheck-"+codec, "-url", "http://"+dev.HTTP+"/api/v1", "-codec", codec)
			c.out.waitFor(t, "SUBSCRIBED")
			sh := startBin(t, msh, "msh-"+codec, "-master", dev.HTTP, "-user", "nobody", "-framework_name", "msh-"+codec, "--", "/bin/sh", "-c", "echo hello")
			if code := waitExit(t, sh, 60*time.Second); code != 0 {
				t.Fatalf("msh exited %d:\n%s", code, sh.out.String())
			}
			if code := waitExit(t, c, 60*time.Second); code != 0 || !strings.Contains(c.out.String(), "operator checks passed") {
				t.Fatalf("operatorcheck over %s exited %d:\n%s", codec, code, c.out.String())
			}
			t.Logf("operatorcheck over %s:\n%s", codec, c.out.String())
		})
	}
	// mwatch (protobuf, the client's default) saw the tasks come and end.
	watch.out.waitFor(t, "TASK_ADDED")
	watch.out.waitFor(t, "TASK_FINISHED")
}

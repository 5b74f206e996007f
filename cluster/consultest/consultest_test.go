package consultest

import (
	"net"
	"strconv"
	"testing"
)

// A port taken by another process before Consul binds it costs one retry
// with fresh ports, not the test.
func TestStartRetriesWhenAPortIsTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Consul server; make test runs it")
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	picks := 0
	addr := startPicking(t, Options{}, func(t testing.TB) int {
		picks++
		if picks == 1 {
			return takenPort // the HTTP port of the first attempt
		}
		return freePort(t)
	}).Addr
	if picks != 6 {
		t.Fatalf("%d ports picked, want 3 for the failed attempt and 3 for the retry", picks)
	}
	if addr == "127.0.0.1:"+strconv.Itoa(takenPort) {
		t.Fatalf("consul reported the taken port %s", addr)
	}
	if _, err := Client(t, addr).Status().Leader(); err != nil {
		t.Fatalf("consul at %s does not answer: %v", addr, err)
	}
}

// Two of Consul's listeners on one port stop it before it serves; the
// picker never hands the same port out twice for one agent.
func TestDistinctPortsSkipsRepeats(t *testing.T) {
	seq := []int{7000, 7000, 7001, 7000, 7002}
	i := 0
	got := distinctPorts(t, func(testing.TB) int { p := seq[i]; i++; return p }, 3)
	if len(got) != 3 || got[0] != 7000 || got[1] != 7001 || got[2] != 7002 {
		t.Fatalf("distinctPorts = %v, want [7000 7001 7002]", got)
	}
}

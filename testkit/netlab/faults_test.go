package netlab_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/agora-sched/agora/testkit/netlab"
)

// echoTime is how long the test, from host from, takes to connect to the
// echo server at addr and have a line echoed: two round trips.
func echoTime(t *testing.T, from *netlab.Host, addr string) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	conn, err := from.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintln(conn, "ping")
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// Delay holds each packet through the router: a connection set up and a
// line echoed are two round trips, four crossings of the router, so take
// at least 4 x 200 ms; undone, they take milliseconds again.
func TestDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root for network namespaces; make test runs it")
	}
	lab := netlab.New(t)
	a, b := lab.AddHost("a"), lab.AddHost("b")
	srv := b.Start(t, netlab.Process{Name: "server", Path: os.Args[0], Env: []string{"NETLAB_HELPER=serve:" + b.Addr(7000)}})
	srv.WaitFor(t, "listening", 10*time.Second)
	const d = 200 * time.Millisecond
	undo := lab.Delay(d)
	took, err := echoTime(t, a, b.Addr(7000))
	if err != nil {
		t.Fatalf("a to b under delay: %v", err)
	}
	if took < 4*d {
		t.Fatalf("a to b under %v of delay took %v: want at least %v (four crossings)", d, took, 4*d)
	}
	undo()
	if took, err := echoTime(t, a, b.Addr(7000)); err != nil || took >= 4*d {
		t.Fatalf("a to b after the delay was undone: %v, %v", took, err)
	}
	t.Logf("under %v of delay an echo took %v", d, took)

	// Delay named hosts only: c's packets pass at once.
	c := lab.AddHost("c")
	undo = lab.Delay(d, a)
	defer undo()
	if took, err := echoTime(t, a, b.Addr(7000)); err != nil || took < 4*d {
		t.Fatalf("a to b with a delayed: %v, %v; want at least %v", took, err, 4*d)
	}
	if took, err := echoTime(t, c, b.Addr(7000)); err != nil || took >= 4*d {
		t.Fatalf("c to b with only a delayed: %v, %v", took, err)
	}
}

// Loss drops packets at random: at probability 1 nothing gets through,
// and undone, everything does.
func TestLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root for network namespaces; make test runs it")
	}
	lab := netlab.New(t)
	a, b := lab.AddHost("a"), lab.AddHost("b")
	srv := b.Start(t, netlab.Process{Name: "server", Path: os.Args[0], Env: []string{"NETLAB_HELPER=serve:" + b.Addr(7000)}})
	srv.WaitFor(t, "listening", 10*time.Second)
	undo := lab.Loss(1)
	if _, err := echoTime(t, a, b.Addr(7000)); err == nil {
		t.Fatal("a reached b with every packet dropped")
	}
	undo()
	if _, err := echoTime(t, a, b.Addr(7000)); err != nil {
		t.Fatalf("a to b after the loss was undone: %v", err)
	}
}

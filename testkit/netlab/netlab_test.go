package netlab_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-sched/agora/testkit/netlab"
)

// The test binary doubles as the processes the tests run in hosts:
// NETLAB_HELPER=serve:ADDR echoes lines on ADDR; dial:ADDR sends one line
// there and prints what came back, or the error.
func TestMain(m *testing.M) {
	if role, addr, ok := strings.Cut(os.Getenv("NETLAB_HELPER"), ":"); ok {
		helper(role, addr)
		return
	}
	os.Exit(m.Run())
}

func helper(role, addr string) {
	switch role {
	case "serve":
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				fmt.Fprint(c, line)
			}()
		}
	case "dial":
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprintln(c, "ping")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println("reply:", strings.TrimSpace(line))
	}
}

func dial(t *testing.T, from *netlab.Host, addr string) string {
	t.Helper()
	p := from.Start(t, netlab.Process{Name: "dial", Path: os.Args[0], Env: []string{"NETLAB_HELPER=dial:" + addr}})
	line, _ := p.WaitLine(t, 0, 10*time.Second, func(l string) bool {
		return strings.HasPrefix(l, "reply:") || strings.HasPrefix(l, "error:")
	})
	return line
}

// Hosts reach each other through the router; a cut drops packets both
// ways, a one-way block drops them one way (a connection cannot even be
// set up), and a heal restores the link.
func TestCutAndHeal(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root for network namespaces; make test runs it")
	}
	lab := netlab.New(t)
	a, b, c := lab.AddHost("a"), lab.AddHost("b"), lab.AddHost("c")
	srv := b.Start(t, netlab.Process{Name: "server", Path: os.Args[0], Env: []string{"NETLAB_HELPER=serve:" + b.Addr(7000)}})
	srv.WaitFor(t, "listening", 10*time.Second)
	if got := dial(t, a, b.Addr(7000)); got != "reply: ping" {
		t.Fatalf("a to b before any cut: %q", got)
	}
	lab.Cut(a, b)
	if got := dial(t, a, b.Addr(7000)); !strings.HasPrefix(got, "error:") {
		t.Fatalf("a to b across a cut: %q", got)
	}
	if got := dial(t, c, b.Addr(7000)); got != "reply: ping" {
		t.Fatalf("c to b while a and b are cut: %q", got)
	}
	lab.Heal(a, b)
	if got := dial(t, a, b.Addr(7000)); got != "reply: ping" {
		t.Fatalf("a to b after the heal: %q", got)
	}
	// The test process's own connections start in a host too.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.DialContext(ctx, "tcp", b.Addr(7000))
	if err != nil {
		t.Fatalf("the test, from c, to b: %v", err)
	}
	fmt.Fprintln(conn, "hello")
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("the test, from c, to b: %q, %v", line, err)
	}
	conn.Close()
	lab.Block(b, a) // replies from b to a are lost
	if got := dial(t, a, b.Addr(7000)); !strings.HasPrefix(got, "error:") {
		t.Fatalf("a to b with b's packets to a blocked: %q", got)
	}
	lab.Unblock(b, a)
	if got := dial(t, a, b.Addr(7000)); got != "reply: ping" {
		t.Fatalf("a to b after unblocking: %q", got)
	}
}

// A lab leaves nothing behind: its namespaces go when it closes, with its
// processes.
func TestCloseRemovesEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root for network namespaces; make test runs it")
	}
	before := namespaces(t)
	var procs []*netlab.Proc
	t.Run("lab", func(t *testing.T) {
		lab := netlab.New(t)
		h := lab.AddHost("h")
		srv := h.Start(t, netlab.Process{Name: "server", Path: os.Args[0], Env: []string{"NETLAB_HELPER=serve:" + h.Addr(7000)}})
		srv.WaitFor(t, "listening", 10*time.Second)
		procs = append(procs, srv)
		if n := len(namespaces(t)); n != len(before)+2 {
			t.Fatalf("%d namespaces while the lab runs, want %d (router and host)", n, len(before)+2)
		}
	})
	if after := namespaces(t); len(after) != len(before) {
		t.Fatalf("namespaces left behind: %v (before: %v)", after, before)
	}
	select {
	case <-procs[0].Done():
	default:
		t.Fatal("the lab's process still runs")
	}
}

func namespaces(t *testing.T) []string {
	t.Helper()
	// This process's labs only: other test processes may run labs now.
	m, _ := filepath.Glob(fmt.Sprintf("/run/netns/agoralab-%d-*", os.Getpid()))
	return m
}

// Package netlab builds a private network for tests that run real
// processes: each host is a network namespace of its own, joined to a
// router namespace by a veth pair, and the router's iptables FORWARD chain
// cuts and heals links between hosts (both ways, or one way). Nothing
// touches the root namespace's network beyond creating and deleting the
// lab's namespaces; every name carries the creating process's ID and a
// random part, so parallel test packages cannot collide, and a lab left
// behind by a killed test process is swept by the next New.
//
//	lab := netlab.New(t)                 // skips where namespaces cannot be created
//	a, b := lab.AddHost("a"), lab.AddHost("b")
//	srv := b.Start(t, netlab.Process{Name: "server", Path: bin, Args: []string{"--listen", b.Addr(8080)}})
//	srv.WaitFor(t, "listening", 10*time.Second)
//	lab.Cut(a, b)                        // packets between a and b are dropped
//	lab.Heal(a, b)
//
// The kernels these tests run on have no sch_netem, so there is no delay
// or loss here: a cut drops everything, as a partition does (TCP
// connections stay open and resume after a heal, or time out).
//
// Hosts are 10.77.<n>.2 (n from 1), each behind its own /24; a host's
// loopback is its own. Processes run in a host with nsenter, so they see
// the root namespace's files and cgroups unchanged.
package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// prefix starts the name of every namespace a lab creates.
const prefix = "agoralab-"

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/run/netns"

// Lab is a router and the hosts behind it.
type Lab struct {
	t      testing.TB
	name   string // prefix + pid + random: this lab's namespaces start with it
	router string // the router's namespace

	mu      sync.Mutex
	hosts   []*Host
	blocked map[[2]string]bool // from IP, to IP
	procs   []*Proc
	closed  bool
}

// Host is one namespace of the lab.
type Host struct {
	lab  *Lab
	Name string
	ns   string
	ip   string
}

// New creates a lab (a router namespace) and removes it, with its hosts
// and their processes, when the test ends. It skips the test, saying why,
// where network namespaces cannot be created (not root, no iproute2).
func New(t testing.TB) *Lab {
	t.Helper()
	sweep(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	l := &Lab{t: t, name: fmt.Sprintf("%s%d-%s", prefix, os.Getpid(), hex.EncodeToString(b)), blocked: map[[2]string]bool{}}
	l.router = l.name + "-r"
	if err := ip("netns", "add", l.router); err != nil {
		t.Skipf("netlab: cannot create network namespaces here (they need root and iproute2): %v", err)
	}
	t.Cleanup(l.Close)
	l.must(ip("-n", l.router, "link", "set", "lo", "up"))
	l.must(l.inRouter("sysctl", "-q", "-w", "net.ipv4.ip_forward=1"))
	if err := l.inRouter("iptables", "-w", "-L", "FORWARD", "-n"); err != nil {
		t.Fatalf("netlab: iptables does not work in a network namespace, so links cannot be cut: %v", err)
	}
	return l
}

// AddHost creates a host named name (for logs; any text).
func (l *Lab) AddHost(name string) *Host {
	l.t.Helper()
	l.mu.Lock()
	n := len(l.hosts) + 1
	if n > 250 {
		l.mu.Unlock()
		l.t.Fatalf("netlab: at most 250 hosts per lab")
	}
	h := &Host{lab: l, Name: name, ns: fmt.Sprintf("%s-%d", l.name, n), ip: fmt.Sprintf("10.77.%d.2", n)}
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	gw := fmt.Sprintf("10.77.%d.1", n)
	link := "h" + strconv.Itoa(n) // in the router's namespace: no clash with any other
	l.must(ip("netns", "add", h.ns))
	l.must(ip("-n", l.router, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", h.ns))
	l.must(ip("-n", l.router, "addr", "add", gw+"/24", "dev", link))
	l.must(ip("-n", l.router, "link", "set", link, "up"))
	l.must(ip("-n", h.ns, "addr", "add", h.ip+"/24", "dev", "eth0"))
	l.must(ip("-n", h.ns, "link", "set", "eth0", "up"))
	l.must(ip("-n", h.ns, "link", "set", "lo", "up"))
	l.must(ip("-n", h.ns, "route", "add", "default", "via", gw))
	return h
}

// IP is the host's address.
func (h *Host) IP() string { return h.ip }

// Addr is host:port on the host's address.
func (h *Host) Addr(port int) string { return net.JoinHostPort(h.ip, strconv.Itoa(port)) }

// Command is name with args, to run in the host's network namespace.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=" + filepath.Join(netnsDir, h.ns), "--", name}, args...)...)
}

// Cut drops every packet between a and b, both ways.
func (l *Lab) Cut(a, b *Host) {
	l.t.Helper()
	l.Block(a, b)
	l.Block(b, a)
}

// Heal undoes Cut.
func (l *Lab) Heal(a, b *Host) {
	l.t.Helper()
	l.Unblock(a, b)
	l.Unblock(b, a)
}

// Block drops every packet from one host to another (one way: replies
// and the other direction pass). Blocking twice is blocking once.
func (l *Lab) Block(from, to *Host) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := [2]string{from.ip, to.ip}
	if l.blocked[k] {
		return
	}
	l.must(l.inRouter("iptables", "-w", "-I", "FORWARD", "-s", from.ip, "-d", to.ip, "-j", "DROP"))
	l.blocked[k] = true
}

// Unblock undoes Block.
func (l *Lab) Unblock(from, to *Host) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := [2]string{from.ip, to.ip}
	if !l.blocked[k] {
		return
	}
	l.must(l.inRouter("iptables", "-w", "-D", "FORWARD", "-s", from.ip, "-d", to.ip, "-j", "DROP"))
	delete(l.blocked, k)
}

// Close stops the lab's processes that are still running and deletes its
// namespaces (t.Cleanup calls it; calling it again does nothing).
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	procs, hosts := l.procs, l.hosts
	l.mu.Unlock()
	for _, p := range procs {
		p.stop()
	}
	var errs []error
	for _, h := range hosts {
		errs = append(errs, ip("netns", "del", h.ns))
	}
	errs = append(errs, ip("netns", "del", l.router))
	if err := errors.Join(errs...); err != nil {
		l.t.Errorf("netlab: removing the lab's namespaces: %v", err)
	}
}

func (l *Lab) inRouter(name string, args ...string) error {
	return run(exec.Command("nsenter", append([]string{"--net=" + filepath.Join(netnsDir, l.router), "--", name}, args...)...))
}

func (l *Lab) must(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatalf("netlab: %v", err)
	}
}

func ip(args ...string) error { return run(exec.Command("ip", args...)) }

func run(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// sweep deletes namespaces that labs of test processes no longer running
// left behind (a test killed before its cleanup ran).
func sweep(t testing.TB) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		if err := ip("netns", "del", e.Name()); err == nil {
			t.Logf("netlab: removed namespace %s left behind by process %d", e.Name(), pid)
		}
	}
}

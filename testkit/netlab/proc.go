package netlab

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a program to run in a host.
type Process struct {
	// Name labels its output in failure reports.
	Name string
	Path string
	Args []string
	// Env is added to the test's own environment.
	Env []string
}

// Proc is a running process of a host; its output (stdout and stderr) is
// kept, line by line, for waits and failure reports.
type Proc struct {
	Name string
	Host *Host
	p    *os.Process
	done chan struct{}
	out  lines
	once sync.Once
}

// Start runs p in the host. It is stopped (SIGTERM, then SIGKILL after
// 10 s) when the test ends, and its output is logged if the test failed.
func (h *Host) Start(t testing.TB, p Process) *Proc {
	t.Helper()
	cmd := h.Command(p.Path, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	proc := &Proc{Name: p.Name, Host: h, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &proc.out, &proc.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("netlab: start %s on %s: %v", p.Name, h.Name, err)
	}
	proc.p = cmd.Process
	go func() { _ = cmd.Wait(); close(proc.done) }()
	h.lab.mu.Lock()
	h.lab.procs = append(h.lab.procs, proc)
	h.lab.mu.Unlock()
	t.Cleanup(func() {
		proc.stop()
		if t.Failed() {
			t.Logf("--- output of %s (%s, %s) ---\n%s", proc.Name, h.Name, h.ip, proc.Output())
		}
	})
	return proc
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) { _ = p.p.Signal(sig) }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Output is everything it wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// Lines is how many lines it wrote so far: a mark for WaitLine.
func (p *Proc) Lines() int { return p.out.count() }

// WaitFor waits until some line contains text, and returns that line.
func (p *Proc) WaitFor(t testing.TB, text string, timeout time.Duration) string {
	t.Helper()
	line, _ := p.WaitLine(t, 0, timeout, func(l string) bool { return strings.Contains(l, text) })
	return line
}

// WaitLine waits until a line from index from on (0: the first; Lines()
// for lines yet to come) matches, and returns it and the index after it.
// It fails the test after timeout, or when the process exits first.
func (p *Proc) WaitLine(t testing.TB, from int, timeout time.Duration, match func(string) bool) (string, int) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		ls, wake := p.out.since(from)
		for i, l := range ls {
			if match(l) {
				return l, from + i + 1
			}
		}
		from += len(ls)
		select {
		case <-wake:
		case <-p.done:
			if ls, _ := p.out.since(from); len(ls) > 0 {
				continue // its last lines
			}
			t.Fatalf("netlab: %s exited before the line awaited", p.Name)
			return "", from
		case <-deadline.C:
			t.Fatalf("netlab: %s wrote no line awaited within %v", p.Name, timeout)
			return "", from
		}
	}
}

func (p *Proc) stop() {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.p.Signal(syscall.SIGCONT) // a stopped process cannot act on SIGTERM
		_ = p.p.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.p.Kill()
			<-p.done
		}
	})
}

// lines is a process's output, split into lines as it arrives.
type lines struct {
	mu      sync.Mutex
	all     bytes.Buffer
	done    []string
	partial []byte
	wake    chan struct{}
}

func (o *lines) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.all.Write(b)
	o.partial = append(o.partial, b...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		o.done = append(o.done, string(o.partial[:i]))
		o.partial = o.partial[i+1:]
	}
	if o.wake != nil {
		close(o.wake)
		o.wake = nil
	}
	return len(b), nil
}

func (o *lines) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.all.String()
}

func (o *lines) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.done)
}

// since returns the complete lines from index from, and a channel closed
// on the next write.
func (o *lines) since(from int) ([]string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.wake == nil {
		o.wake = make(chan struct{})
	}
	if from >= len(o.done) {
		return nil, o.wake
	}
	return append([]string(nil), o.done[from:]...), o.wake
}

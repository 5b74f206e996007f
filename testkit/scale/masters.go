package scale

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agora-sched/agora/cluster/leader"
	"github.com/agora-sched/agora/messages"
)

// readyInfo is the part of agora node's --ready-file the harness reads.
type readyInfo struct {
	PID      int    `json:"pid"`
	Remoting string `json:"remoting"`
	HTTP     string `json:"http"`
}

// masterProc is a started `agora node --role=master`.
type masterProc struct {
	cmd  *exec.Cmd
	out  *tail
	info readyInfo
	// exited is closed once the process has exited.
	exited chan struct{}
}

// startMasters starts the master, or with Consul two masters, the first
// waited for until it leads, and returns the leader.
func (r *run) startMasters() (*masterProc, error) {
	if r.cfg.Consul != "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		r.election = "consul://" + r.cfg.Consul + "/scale-" + hex.EncodeToString(b)
	}
	first, err := r.startMaster()
	if err != nil {
		return nil, err
	}
	if r.election == "" {
		return first, nil
	}
	if _, err := r.awaitLeader(first, time.Minute); err != nil {
		return nil, err
	}
	if _, err := r.startMaster(); err != nil {
		return nil, err
	}
	return first, nil
}

// startMaster starts `agora node --role=master` on free ports, waits for
// its ready file and appends it to r.masters.
func (r *run) startMaster() (*masterProc, error) {
	n := r.started
	r.started++
	ready := filepath.Join(r.dir, fmt.Sprintf("master-%d-ready.json", n))
	args := []string{"node", "--role=master", "--listen=127.0.0.1:0", "--http=127.0.0.1:0", "--ready-file=" + ready,
		"--log-level=warn", fmt.Sprintf("--max-agents=%d", max(r.cfg.Agents, 10_000)),
		// Registration as fast as the agents come: the default (100/s
		// after a burst of 1,000) protects a master from a storm of new
		// agents, and would make the registration figure its own.
		"--agent-registration-rate=0"}
	if r.cfg.Insecure {
		args = append(args, "--insecure")
	} else {
		// Each agent host's certificate speaks for the agents it hosts.
		args = append(args, fmt.Sprintf("--max-agents-per-agent-host=%d", (r.cfg.Agents+r.cfg.AgentHosts-1)/r.cfg.AgentHosts))
	}
	if r.election != "" {
		args = append(args, "--election="+r.election)
	}
	if r.cfg.CPUProfile != "" {
		// The first master's profile where asked; those of standbys
		// (restarted after a kill) beside it.
		path := r.cfg.CPUProfile
		if n > 0 {
			path = fmt.Sprintf("%s.master%d", path, n)
		}
		args = append(args, "--cpu-profile="+path)
	}
	args = append(args, r.cfg.MasterArgs...)
	cmd := exec.Command(r.cfg.Agora, args...)
	cmd.Env = r.env
	m := &masterProc{cmd: cmd, out: &tail{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = m.out, m.out
	start := cmd.Start
	if r.masterCPUs != nil {
		start = func() error { return startOn(cmd, *r.masterCPUs) }
	}
	if err := start(); err != nil {
		return nil, fmt.Errorf("scale: starting a master: %w", err)
	}
	r.masters = append(r.masters, m)
	go func() { _ = cmd.Wait(); close(m.exited) }()
	// The ready file appears whole (written atomically) once the master
	// serves; it is checked every 10 ms until then.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		if b, err := os.ReadFile(ready); err == nil {
			if err := json.Unmarshal(b, &m.info); err != nil || m.info.PID != cmd.Process.Pid {
				return nil, fmt.Errorf("scale: bad ready file %s (%v): %s", ready, err, b)
			}
			return m, nil
		}
		select {
		case <-tick.C:
		case <-m.exited:
			return nil, fmt.Errorf("scale: a master exited before it was ready:\n%s", m.out)
		case <-deadline:
			return nil, fmt.Errorf("scale: a master wrote no ready file within a minute:\n%s", m.out)
		}
	}
}

// awaitLeader waits until Consul names m the leader and returns its
// epoch.
func (r *run) awaitLeader(m *masterProc, timeout time.Duration) (uint64, error) {
	spec, err := leader.Parse(r.election)
	if err != nil {
		return 0, err
	}
	d, err := spec.Detector(quiet)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	info, err := leader.WaitFor(ctx, d, func(mi *messages.MasterInfo) bool { return mi.Address == m.info.Remoting })
	if err != nil {
		return 0, fmt.Errorf("scale: master %s was not elected within %v (%w):\n%s", m.info.Remoting, timeout, err, m.out)
	}
	return info.Epoch, nil
}

// leading checks that Consul names m the leader now: a leader that lost
// its lease under load (a failover the harness did not cause) would make
// the next SIGKILL time nothing.
func (r *run) leading(m *masterProc) error {
	spec, err := leader.Parse(r.election)
	if err != nil {
		return err
	}
	d, err := spec.Detector(quiet)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := d.Detect(ctx, nil)
	if err != nil {
		return fmt.Errorf("scale: reading the leader from Consul: %w", err)
	}
	if info.GetAddress() != m.info.Remoting {
		return fmt.Errorf("scale: Consul names %q the leader, not %s: the leader lost its lease before the harness killed it (a failover it did not cause: is the machine overloaded?)", info.GetAddress(), m.info.Remoting)
	}
	return nil
}

// stop ends every child (their stdin closes) and the masters (SIGTERM,
// so that they write their CPU profiles).
func (r *run) stop() {
	for _, c := range r.children {
		c.stop()
	}
	for _, m := range r.masters {
		m.stop()
	}
}

// clusterGone reports whether every process the run started (masters and
// children) has exited.
func (r *run) clusterGone() bool {
	for _, m := range r.masters {
		select {
		case <-m.exited:
		default:
			return false
		}
	}
	for _, c := range r.children {
		if c.cmd.ProcessState == nil {
			return false
		}
	}
	return true
}

func (m *masterProc) stop() {
	select {
	case <-m.exited:
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
}

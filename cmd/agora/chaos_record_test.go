package main

// The chaos run's recorder (issue 18 item 5): while faults run it polls
// the leading master's /state and /tasks, and scans the machine's
// processes for task processes (each carries its framework, task and
// agent IDs in its environment); at the end it reads the framework's log
// for every status update it saw. testkit/chaos checks the history.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/testkit/chaos"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// recordEvery is how often the recorder polls and scans: often enough to
// see a task running twice for longer than a blink.
const recordEvery = 100 * time.Millisecond

type recorder struct {
	masters []*labNode
	client  *http.Client

	mu    sync.Mutex
	snaps []chaos.Snapshot
	scans []chaos.Scan
	polls int // polls that found no leader answering

	stop chan struct{}
	wg   sync.WaitGroup
}

// startRecorder polls from the observer host until stopped (and at the
// test's end at the latest).
func startRecorder(t *testing.T, c *chaosCluster) *recorder {
	// A stopped master must not stall the poll long; a delayed network
	// (2 x 200 ms a round trip, TCP and TLS set up anew) must still pass.
	client := c.observer.HTTPClient(3 * time.Second)
	client.Transport.(*http.Transport).TLSClientConfig = operator.ClientConfig()
	r := &recorder{masters: c.masters, client: client, stop: make(chan struct{})}
	r.wg.Add(2)
	go r.loop(r.poll)
	go r.loop(r.scan)
	t.Cleanup(r.Stop)
	return r
}

func (r *recorder) loop(f func()) {
	defer r.wg.Done()
	tick := time.NewTicker(recordEvery)
	defer tick.Stop()
	for {
		f()
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
	}
}

// Stop ends the recording (twice is once).
func (r *recorder) Stop() {
	r.mu.Lock()
	select {
	case <-r.stop:
		r.mu.Unlock()
		return
	default:
	}
	close(r.stop)
	r.mu.Unlock()
	r.wg.Wait()
}

// poll records the first leading master's snapshot: agents' resources
// and frameworks from /state, running tasks from /tasks (asked after,
// and stamped with the time it was asked).
func (r *recorder) poll() {
	r.mu.Lock()
	masters := append([]*labNode(nil), r.masters...)
	r.mu.Unlock()
	for _, m := range masters {
		st := &messages.MasterState{}
		if !r.get(m, "/state", st) || !st.Leading {
			continue
		}
		asked := time.Now()
		list := &messages.TaskList{}
		if !r.get(m, "/tasks?state=TASK_RUNNING&limit=1000", list) {
			continue
		}
		s := chaos.Snapshot{At: asked, Master: m.host.Name, Frameworks: map[string]string{}}
		for _, a := range st.Agents {
			s.Agents = append(s.Agents, chaos.AgentUse{ID: a.Info.GetId().GetValue(), Reachable: a.Reachable,
				Total: scalars(a.Info.GetResources()), Used: scalars(a.Used), Offered: scalars(a.Offered)})
		}
		for _, f := range st.Frameworks {
			s.Frameworks[f.Info.GetId().GetValue()] = f.Info.GetName()
		}
		for _, task := range list.Tasks {
			s.Running = append(s.Running, chaos.Placement{FrameworkID: task.FrameworkId.GetValue(), TaskID: task.TaskId.GetValue(),
				AgentID: task.AgentId.GetValue()})
		}
		r.mu.Lock()
		r.snaps = append(r.snaps, s)
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	r.polls++
	r.mu.Unlock()
}

func (r *recorder) get(m *labNode, path string, into proto.Message) bool {
	resp, err := r.client.Get("https://" + m.http + path)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, into) == nil
}

func scalars(rs []*messages.Resource) map[string]float64 {
	out := map[string]float64{}
	for _, r := range rs {
		if r.Scalar != 0 {
			out[r.Name] += r.Scalar
		}
	}
	return out
}

// scan records every live task process on the machine (zombies are dead:
// skipped). Tasks of other tests share the machine; the checker only
// asks about this run's framework.
func (r *recorder) scan() {
	s := chaos.Scan{At: time.Now()}
	seen := map[chaos.Placement]bool{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte("AGORA_TASK_ID=")) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err != nil || zombieStat(stat) {
			continue
		}
		var p chaos.Placement
		for _, kv := range bytes.Split(env, []byte{0}) {
			k, v, _ := strings.Cut(string(kv), "=")
			switch k {
			case "AGORA_FRAMEWORK_ID":
				p.FrameworkID = v
			case "AGORA_TASK_ID":
				p.TaskID = v
			case "AGORA_AGENT_ID":
				p.AgentID = v
			}
		}
		if !seen[p] {
			seen[p] = true
			s.Tasks = append(s.Tasks, p)
		}
	}
	r.mu.Lock()
	r.scans = append(r.scans, s)
	r.mu.Unlock()
}

// scanned: a scan has seen p.
func (r *recorder) scanned(p chaos.Placement) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.scans {
		for _, q := range s.Tasks {
			if q == p {
				return true
			}
		}
	}
	return false
}

// zombieStat: /proc/PID/stat says the process has exited (Z or X).
func zombieStat(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// history is what was recorded, with the framework's own account read
// from the logs of its processes (named by label; one process's log after
// another's for the same label).
func (r *recorder) history(t *testing.T, frameworks map[string][]string) chaos.History {
	t.Helper()
	r.mu.Lock()
	h := chaos.History{Snapshots: append([]chaos.Snapshot(nil), r.snaps...), Scans: append([]chaos.Scan(nil), r.scans...)}
	r.mu.Unlock()
	ids := map[string]bool{}
	for label, outputs := range frameworks {
		for _, out := range outputs {
			updates, subs := frameworkHistory(t, label, out)
			h.Updates = append(h.Updates, updates...)
			h.Subscriptions = append(h.Subscriptions, subs...)
			for _, s := range subs {
				ids[s.FrameworkID] = true
			}
		}
	}
	// Only this run's tasks: other tests' share the machine.
	for i, s := range h.Scans {
		var ours []chaos.Placement
		for _, p := range s.Tasks {
			if ids[p.FrameworkID] {
				ours = append(ours, p)
			}
		}
		h.Scans[i].Tasks = ours
	}
	return h
}

// frameworkLine is one line of the elastic example's JSON log.
type frameworkLine struct {
	Time        time.Time `json:"time"`
	Msg         string    `json:"msg"`
	TaskID      string    `json:"task_id"`
	State       string    `json:"state"`
	AgentID     string    `json:"agent_id"`
	FrameworkID string    `json:"framework_id"`
}

// frameworkHistory parses a framework process's log: its subscriptions,
// and each status update it logged, under the FrameworkID it last
// subscribed as.
func frameworkHistory(t *testing.T, label, out string) ([]chaos.Update, []chaos.Subscription) {
	t.Helper()
	var updates []chaos.Update
	var subs []chaos.Subscription
	id := ""
	for _, line := range strings.Split(out, "\n") {
		var l frameworkLine
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch l.Msg {
		case "framework subscribed":
			id = l.FrameworkID
			subs = append(subs, chaos.Subscription{At: l.Time, Framework: label, Name: "elastic", FrameworkID: id})
		case "task status", "task reconciled":
			if id == "" {
				t.Fatalf("%s logged a status update before it subscribed: %s", label, line)
			}
			updates = append(updates, chaos.Update{At: l.Time, Framework: label, FrameworkID: id, TaskID: l.TaskID,
				AgentID: l.AgentID, State: l.State, Reconciled: l.Msg == "task reconciled"})
		}
	}
	return updates, subs
}

// summary says how much was recorded.
func (r *recorder) summary(h chaos.History) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("%d status updates, %d subscriptions, %d snapshots (%d polls found no leader), %d process scans",
		len(h.Updates), len(h.Subscriptions), len(h.Snapshots), r.polls, len(h.Scans))
}

package scale

import (
	"bufio"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agora-sched/agora/cluster/security"
)

// Rebuild is one failover of the rebuild phase: the leader SIGKILLed with
// every agent registered and every task RUNNING, the standby elected
// through Consul, and the new leader's books rebuilt from the agents'
// re-registrations and the frameworks' subscriptions (no database).
type Rebuild struct {
	Epoch uint64 // the new leader's
	// From the SIGKILL: until Consul names the standby leader (the dead
	// leader's session TTL, then the lock); until the new leader's
	// /metrics count every agent reachable, every task RUNNING and every
	// framework connected (polled every 20 ms); Done is the last of them.
	Elected, Agents, Tasks, Frameworks, Done time.Duration
	// From the SIGKILL until the first and the last agent host saw the
	// new leader in Consul (each host's one watch tells its agents).
	SeenFirst, SeenLast time.Duration
	// Each agent's re-registration, from its host seeing the new leader
	// in Consul to the new leader's confirmation (the agent's random
	// wait, Config.ReregisterSpread, included).
	Reregistrations              int
	AgentP50, AgentP99, AgentMax time.Duration
	// The same from the agent's first ReregisterAgent to the confirmation:
	// the random wait excluded, what the new leader and the wire took.
	SentP50, SentP99, SentMax time.Duration
	// MasterCPU is the new leader's CPU time from the SIGKILL to Done.
	MasterCPU time.Duration
	// What else the new leader did by Done: re-registration retries it
	// had (answered or ignored), offers it sent and declines it took.
	Retries, Offers, Declines int
}

// The new leader's counters read beside the gauges, for Rebuild.
const (
	retriesSeries  = "agora_master_agent_reregistration_retries_total"
	offersSeries   = "agora_master_offers_total"
	declinesSeries = "agora_master_offers_declined_total"
)

// metricsPoll is how often the new leader's /metrics is read.
const metricsPoll = 20 * time.Millisecond

// rebuild runs the rebuild phase: Failovers times, SIGKILL the leader,
// time the standby's takeover, and restart the killed one as the next
// standby.
func (r *run) rebuild(hosts []*child, tasks int) ([]Rebuild, error) {
	client := security.HTTPClient(r.operator, 5*time.Second)
	// A standby answers with a redirect to the leader: not yet.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	lead, standby := r.masters[0], r.masters[1]
	var out []Rebuild
	for op := range r.cfg.Failovers {
		for _, c := range hosts {
			if err := c.command("reset", "ok", r.cfg.Timeout); err != nil {
				return out, err
			}
		}
		before, err := sample(standby.cmd.Process.Pid)
		if err != nil {
			return out, err
		}
		if err := r.leading(lead); err != nil {
			return out, err
		}
		r.cfg.Logf("scale: failover %d: SIGKILL of the leader %s", op+1, lead.info.Remoting)
		killed := time.Now()
		if err := lead.cmd.Process.Kill(); err != nil {
			return out, fmt.Errorf("scale: SIGKILL of the leader: %w", err)
		}
		<-lead.exited
		var rb Rebuild
		if rb.Epoch, err = r.awaitLeader(standby, r.cfg.Timeout); err != nil {
			return out, err
		}
		rb.Elected = time.Since(killed)
		url := security.Scheme(r.operator) + "://" + standby.info.HTTP + "/metrics"
		want := map[string]float64{
			`agora_master_agents{state="reachable"}`:     float64(r.cfg.Agents),
			`agora_master_tasks{state="TASK_RUNNING"}`:   float64(tasks),
			`agora_master_frameworks{state="connected"}`: float64(r.cfg.Frameworks),
		}
		reached := map[string]*time.Duration{
			`agora_master_agents{state="reachable"}`:     &rb.Agents,
			`agora_master_tasks{state="TASK_RUNNING"}`:   &rb.Tasks,
			`agora_master_frameworks{state="connected"}`: &rb.Frameworks,
		}
		read := maps.Clone(want)
		for _, name := range []string{retriesSeries, offersSeries, declinesSeries} {
			read[name] = 0
		}
		deadline := killed.Add(r.cfg.Timeout)
		last := map[string]float64{}
		tick := time.NewTicker(metricsPoll)
		for left := len(want); left > 0; <-tick.C {
			if time.Now().After(deadline) {
				tick.Stop()
				return out, fmt.Errorf("scale: failover %d: the new leader has not rebuilt within %v: %v of %v", op+1, r.cfg.Timeout, last, want)
			}
			got, err := scrape(client, url, read)
			at := time.Since(killed)
			if err == nil {
				last = got
				for name, w := range want {
					if d := reached[name]; *d == 0 && got[name] >= w {
						*d, left = at, left-1
					}
				}
			}
		}
		tick.Stop()
		rb.Done = max(rb.Agents, rb.Tasks, rb.Frameworks)
		rb.Retries, rb.Offers, rb.Declines = int(last[retriesSeries]), int(last[offersSeries]), int(last[declinesSeries])
		after, err := sample(standby.cmd.Process.Pid)
		if err != nil {
			return out, err
		}
		rb.MasterCPU = after.cpu - before.cpu
		var per, sent []time.Duration
		for _, c := range hosts {
			c.send("reregistered")
			st, err := c.expect("reregistered", r.cfg.Timeout)
			if err != nil {
				return out, err
			}
			for _, ns := range st.Reregistrations {
				per = append(per, time.Duration(ns))
			}
			for _, ns := range st.ReregistrationsSent {
				sent = append(sent, time.Duration(ns))
			}
			seen := time.Unix(0, st.Detected).Sub(killed)
			if rb.SeenFirst == 0 || seen < rb.SeenFirst {
				rb.SeenFirst = seen
			}
			rb.SeenLast = max(rb.SeenLast, seen)
		}
		rb.Reregistrations = len(per)
		rb.AgentP50, rb.AgentP99, rb.AgentMax = percentiles(per)
		rb.SentP50, rb.SentP99, rb.SentMax = percentiles(sent)
		r.cfg.Logf("scale: failover %d: elected after %v, rebuilt after %v", op+1, rb.Elected, rb.Done)
		out = append(out, rb)
		// The killed master comes back as the next standby.
		next, err := r.startMaster()
		if err != nil {
			return out, err
		}
		lead, standby = standby, next
	}
	return out, nil
}

// scrape reads the series named in want from a Prometheus text page; a
// status other than 200 (a standby's redirect) is an error.
func scrape(client *http.Client, url string, want map[string]float64) (map[string]float64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	got := map[string]float64{}
	in := bufio.NewScanner(resp.Body)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	for in.Scan() {
		name, value, ok := strings.Cut(in.Text(), " ")
		if _, wanted := want[name]; ok && wanted {
			if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
				got[name] = v
			}
		}
	}
	return got, in.Err()
}

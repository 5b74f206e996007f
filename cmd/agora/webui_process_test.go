package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-sched/agora/cluster/consultest"
	"github.com/agora-sched/agora/messages"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The web UI in a real browser (Debian's chromium, headless, driven by
// chromedp): the page shows the agent, a chart of the cluster's capacity
// and the master's election in the timeline; a task appears as it runs and
// ends, without a reload, from the master's push stream; its page shows
// its state history, its sandbox and its output as it writes it, read
// through the master; a framework's declines show by the reason it gave
// as it declines; a drain of the agent shows as it happens. The
// cluster runs --insecure (TestWebUIThroughAStandbyWithTLS reads a TLS
// cluster with --credentials). AGORA_UI_SCREENSHOT=FILE writes a
// screenshot of the page (docs/ui.png comes from it).
func TestWebUIFollowsATask(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes and chromium; make test runs it")
	}
	_, dev := startNode(t, "dev", "dev", "--insecure", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))
	ctx := browse(t)
	followATask(t, ctx, "http://"+dev.HTTP+"/", "--insecure", "--master", dev.Remoting)
	showWhyPending(t, ctx, dev.Remoting)
	if path := os.Getenv("AGORA_UI_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A drain shows in the agents' table and the timeline as it happens.
	st := waitStateOf(t, "http", dev.HTTP, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	id := st.Agents[0].Info.Id.Value
	if out, err := exec.Command(agoraBin, "agents", "drain", id, "--deadline", "0s", "--insecure", "--master-http", dev.HTTP).CombinedOutput(); err != nil {
		t.Fatalf("agora agents drain: %v\n%s", err, out)
	}
	if err := chromedp.Do(ctx, waitUntil(`document.querySelector("#agents tbody").innerText.includes("DRAINED")`),
		waitUntil(`document.querySelector("#timeline").innerText.includes("drained")`)); err != nil {
		t.Fatalf("the drained agent never showed as DRAINED, or not in the timeline: %v", err)
	}
}

// Issue 16: the UI "works behind the standby's 307 and with TLS". A
// cluster of two masters elected through Consul, with TLS (as by default)
// and --credentials: the browser, which holds no certificate of the
// cluster, opens the standby's address with the operator's HTTP Basic
// credentials (as a browser sends them once its user typed them), follows
// the 307 to the leader, and the page, its push stream and a task's
// sandbox and output all work there. The browser takes the cluster's
// self-made CA on trust (--ignore-certificate-errors): installing it is
// the operator's step. After a failover, the page moves to the new leader
// by itself once the old one answers as a standby.
func TestWebUIThroughAStandbyWithTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Consul, agora processes and chromium; make test runs it")
	}
	dir := workDir(t)
	creds := filepath.Join(dir, "credentials.json")
	if err := os.WriteFile(creds, []byte(`{"credentials": [{"principal": "ops", "secret": "ops-secret"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &haCluster{consul: consultest.Start(t)}
	c.election = "consul://" + c.consul + "/webui"
	for i := 0; i < 2; i++ {
		m := &haMaster{name: fmt.Sprintf("master-%d", i), args: []string{"node", "--role=master", "--listen", anyPort, "--http", anyPort,
			"--work-dir", filepath.Join(dir, fmt.Sprintf("m%d", i)), "--election", c.election, "--credentials", creds}}
		m.start(t)
		c.masters = append(c.masters, m)
	}
	startNode(t, "agent", "node", "--role=agent", "--listen", anyPort, "--agent-http", anyPort, "--work-dir", filepath.Join(dir, "a"),
		"--master", c.election, "--tls-dir", agentDir(t, "agent-ui"), "--resources", "cpus:2;mem:2048;disk:1024")
	lead := c.leader(t, "")
	waitState(t, lead.HttpAddress, func(st *messages.MasterState) bool { return reachable(st) == 1 })
	standby := c.masters[0].http
	if standby == lead.HttpAddress {
		standby = c.masters[1].http
	}

	ctx := browse(t, chromedp.Flag("ignore-certificate-errors", true))
	basic := base64.StdEncoding.EncodeToString([]byte("ops:ops-secret"))
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Basic " + basic}}); err != nil {
		t.Fatal(err)
	}
	followATask(t, ctx, "https://"+standby+"/", "--master", c.election)
	host, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.host`))
	if err != nil {
		t.Fatal(err)
	}
	if host != lead.HttpAddress {
		t.Fatalf("the page is at %s; want the leader's %s (the standby %s redirects)", host, lead.HttpAddress, standby)
	}

	// A failover: the leader is SIGKILLed and comes back on the same
	// address, a standby now. The page's stream finds it redirecting and
	// the page reloads itself onto the new leader.
	old := c.byHTTP(lead.HttpAddress)
	old.p.signal(syscall.SIGKILL)
	<-old.p.done
	next := c.leader(t, lead.Id)
	for i, a := range old.args {
		if a == "--http" {
			old.args[i+1] = lead.HttpAddress
		}
	}
	old.start(t)
	// The reload interrupts a poll of the page (the target navigated):
	// poll again, on the page that came.
	moved := `location.host === "` + next.HttpAddress + `" && document.querySelector("#agents tbody")?.innerText.includes("reachable")`
	for try := 0; try < 5; try++ {
		if err = chromedp.Do(ctx, waitUntil(moved)); err == nil {
			return
		}
	}
	t.Fatalf("the page did not follow the failover to %s: %v", next.HttpAddress, err)
}

// browse starts headless chromium with opts; its context ends with the
// test, at the latest in 3 minutes.
func browse(t *testing.T, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is missing: make test installs it (apt-get install chromium): %v", err)
	}
	all := append(append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1400, 1000)), opts...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), all...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancel(); cancelCtx(); cancelAlloc() })
	return ctx
}

// waitUntil waits until a JavaScript expression is true: the page
// changes only when the stream brings something.
func waitUntil(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second))
}

// followATask opens the UI at url and follows a task that agora run (with
// runArgs) starts, from its start to its end, without a reload.
func followATask(t *testing.T, ctx context.Context, url string, runArgs ...string) {
	t.Helper()
	waitFor := waitUntil
	// waitText waits until the element's text contains text.
	waitText := func(sel, text string) chromedp.Action[chromedp.Void] {
		return waitFor(`document.querySelector(` + "`" + sel + "`" + `).innerText.includes(` + "`" + text + "`" + `)`)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url), waitText("#agents tbody", "reachable")); err != nil {
		t.Fatalf("the page never showed the agent: %v", err)
	}
	// The history drew the cluster's capacity; the timeline has this
	// master's election.
	if err := chromedp.Do(ctx, waitFor(`document.querySelector('#charts .chart[data-resource="cpus"] path.capacity')?.getAttribute("d")?.startsWith("M")`),
		waitText("#timeline", "leads")); err != nil {
		t.Fatalf("no chart of cpus, or no election in the timeline: %v", err)
	}

	gate := workDir(t) + "/gate"
	mkfifo(t, gate)
	run := startProc(t, "agora run", append(append([]string{"run"}, runArgs...), "--", "sh", "-c", "echo started; read x < "+gate+"; echo done")...)
	if err := chromedp.Do(ctx, waitText("#tasks tbody", "TASK_RUNNING"), waitText("#frameworks tbody", "agora-run"), waitText("#agents tbody", "RUNNING:1"),
		waitText("#timeline", "agora-run subscribed")); err != nil {
		t.Fatalf("the running task (in the tasks' table, its framework's, its agent's, or the timeline) never appeared: %v", err)
	}
	// The task's page: its history, its sandbox, and its output as it
	// writes it, through the master.
	if err := chromedp.Do(ctx, chromedp.Click("#tasks tbody tr[data-task]"), waitText("#log", "started"),
		waitText("#task-statuses tbody", "TASK_RUNNING"), waitText("#task-files tbody", "stdout")); err != nil {
		t.Fatalf("the task's output, history or sandbox never showed: %v", err)
	}
	if err := os.WriteFile(gate, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	<-run.done
	if err := chromedp.Do(ctx, waitText("#tasks tbody", "TASK_FINISHED"), waitText("#log", "done"), waitText("#task-statuses tbody", "TASK_FINISHED"),
		waitText("#log-state", "task ended")); err != nil {
		t.Fatalf("the task's end never appeared, or not its last output: %v", err)
	}
}

// showWhyPending starts the elastic example with tasks larger than the
// agent: it declines every offer "too small for a task", and the page
// shows that reason and its count in the framework's row as the declines
// come, without a reload. The "fits no agent" notice is drawn from a
// snapshot the page already has, with a demand_unfit added (the elastic
// example states no demand: nothing in the tree sends ReviveForUnits).
func showWhyPending(t *testing.T, ctx context.Context, masterAddr string) {
	t.Helper()
	startBin(t, elasticBin, "elastic", "--insecure", "--master", masterAddr, "--tasks", "1", "--resources", "cpus:1000;mem:32")
	// Two declines at least: the count grows as the stream brings them.
	if err := chromedp.Do(ctx, waitUntil(`[...document.querySelectorAll("#frameworks tbody tr[data-framework] td.declines")].some((td) => `+
		`/^([2-9]|\d\d+) too small for a task$/.test(td.innerText))`)); err != nil {
		t.Fatalf("the elastic framework's declines never showed by reason (\"N too small for a task\", N >= 2): %v", err)
	}
	// One evaluation (the next snapshot would redraw the table), which
	// draws the live snapshot again after it.
	notice, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const live = snapshot, st = structuredClone(snapshot);
		const f = st.frameworks.find((f) => f.info.name === "elastic");
		f.pending.demand_unfit = {unfit: [{resources: [{name: "cpus", scalar: 1000}, {name: "mem", scalar: 32}]}],
			largest: [{name: "cpus", scalar: 4}], agents: 1};
		render(st);
		const text = document.querySelector('#frameworks tr.unfit[data-unfit="' + f.info.id.value + '"]')?.innerText ?? "";
		render(live);
		return text;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "fits no agent: cpus:1000;mem:32 (the most any of the cluster's 1 agents has: cpus:4)"; !strings.Contains(notice, want) {
		t.Fatalf("the framework's unfit demand shows as %q; want it to contain %q", notice, want)
	}
}

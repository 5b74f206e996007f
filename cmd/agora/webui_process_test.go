package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The web UI in a real browser (Debian's chromium, headless, driven by
// chromedp): the page shows the agent, a chart of the cluster's capacity
// and the master's election in the timeline; a task appears as it runs and
// ends, without a reload, from the master's push stream; its page shows
// its state history, its sandbox and its output as it writes it, read
// through the master. The cluster runs
// --insecure: a browser would need the operator's certificate installed
// (or --credentials) to read a TLS master. AGORA_UI_SCREENSHOT=FILE
// writes a screenshot of the page (docs/ui.png comes from it).
func TestWebUIFollowsATask(t *testing.T) {
	if testing.Short() {
		t.Skip("needs agora processes and chromium; make test runs it")
	}
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is missing: make test installs it (apt-get install chromium): %v", err)
	}
	_, dev := startNode(t, "dev", "dev", "--insecure", "--listen", anyPort, "--http", anyPort, "--agent-http", anyPort, "--work-dir", workDir(t))

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1400, 1000))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(alloc)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	// waitText waits until the element's text contains text: the page
	// changes only when the stream brings something.
	waitText := func(sel, text string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](`document.querySelector(`+"`"+sel+"`"+`).innerText.includes(`+"`"+text+"`"+`)`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second))
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+dev.HTTP+"/"), waitText("#agents tbody", "reachable")); err != nil {
		t.Fatalf("the page never showed the agent: %v", err)
	}

	// waitFor waits until a JavaScript expression is true.
	waitFor := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second))
	}
	// The history drew the cluster's capacity; the timeline has this
	// master's election.
	if err := chromedp.Do(ctx, waitFor(`document.querySelector('#charts .chart[data-resource="cpus"] path.capacity')?.getAttribute("d")?.startsWith("M")`),
		waitText("#timeline", "leads")); err != nil {
		t.Fatalf("no chart of cpus, or no election in the timeline: %v", err)
	}

	gate := workDir(t) + "/gate"
	mkfifo(t, gate)
	run := startProc(t, "agora run", "run", "--insecure", "--master", dev.Remoting, "--", "sh", "-c", "echo started; read x < "+gate+"; echo done")
	if err := chromedp.Do(ctx, waitText("#tasks tbody", "TASK_RUNNING"), waitText("#frameworks tbody", "agora-run"),
		waitText("#timeline", "agora-run subscribed")); err != nil {
		t.Fatalf("the running task (or its framework in the timeline) never appeared: %v", err)
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
	if path := os.Getenv("AGORA_UI_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

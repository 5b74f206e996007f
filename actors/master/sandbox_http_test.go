package master

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-sched/agora/actors/agent"
	"github.com/agora-sched/agora/actors/master/core"
	"github.com/agora-sched/agora/messages"
)

// sandboxCluster is an agent's real sandbox API over a work dir, and a
// master's sandbox proxy in front of it that finds task t1 of f1 there.
type sandboxCluster struct {
	sandbox string
	state   atomic.Int32 // t1's state, as the master's books say
	master  *httptest.Server
}

func newSandboxCluster(t *testing.T) *sandboxCluster {
	c := &sandboxCluster{sandbox: filepath.Join(t.TempDir(), "work")}
	work := c.sandbox
	c.sandbox = filepath.Join(work, "frameworks", "f1", "tasks", "t1")
	if err := os.MkdirAll(c.sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	c.state.Store(int32(messages.TaskState_TASK_RUNNING))
	agentSrv := httptest.NewServer(agent.HTTPHandler(agent.HTTPConfig{WorkDir: work}))
	t.Cleanup(agentSrv.Close)
	lookup := func(_ context.Context, q *messages.GetTask) (*messages.TaskLocation, error) {
		if q.GetTaskId().GetValue() != "t1" {
			return nil, core.ErrUnknownTask
		}
		return &messages.TaskLocation{
			Task:  &messages.Task{TaskId: q.TaskId, FrameworkId: &messages.FrameworkID{Value: "f1"}, State: messages.TaskState(c.state.Load())},
			Agent: &messages.AgentInfo{Hostname: "h1", HttpAddress: strings.TrimPrefix(agentSrv.URL, "http://")},
		}, nil
	}
	c.master = httptest.NewServer(WithSandboxes(http.NotFoundHandler(), SandboxProxy{Lookup: lookup, Client: agentSrv.Client(), Scheme: "http", Poll: 10 * time.Millisecond}))
	t.Cleanup(c.master.Close)
	return c
}

func (c *sandboxCluster) write(t *testing.T, file, s string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(c.sandbox, file), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// logTail reads a log stream's events.
type logTail struct{ r *bufio.Reader }

func (c *sandboxCluster) tail(t *testing.T, file string) *logTail {
	resp, err := http.Get(c.master.URL + "/tasks/t1/log/" + file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("tail: %s %s", resp.Status, b)
	}
	return &logTail{bufio.NewReader(resp.Body)}
}

// next returns the next event's name and data.
func (l *logTail) next(t *testing.T) (string, string) {
	t.Helper()
	event := ""
	for {
		line, err := l.r.ReadString('\n')
		if err != nil {
			t.Fatalf("tail ended: %v", err)
		}
		switch line = strings.TrimSuffix(line, "\n"); {
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			return event, line[len("data: "):]
		}
	}
}

func (l *logTail) output(t *testing.T) (offset int64, data string) {
	t.Helper()
	event, raw := l.next(t)
	var out struct {
		Offset int64
		Data   string
	}
	if err := json.Unmarshal([]byte(raw), &out); event != "output" || err != nil {
		t.Fatalf("want output, got %s %.100s (%v)", event, raw, err)
	}
	return out.Offset, out.Data
}

// A browser tails a task's output through the master: what the task
// wrote (once it has created the file), then what it writes, then the end
// once the task ended.
func TestLogTailThroughTheMaster(t *testing.T) {
	c := newSandboxCluster(t)
	l := c.tail(t, "stdout") // before the task wrote (or created) its stdout
	c.write(t, "stdout", "hello\n")
	if off, data := l.output(t); off != 0 || data != "hello\n" {
		t.Fatalf("first: %d %q", off, data)
	}
	c.write(t, "stdout", "world\n")
	if off, data := l.output(t); off != 6 || data != "world\n" {
		t.Fatalf("appended: %d %q", off, data)
	}
	c.state.Store(int32(messages.TaskState_TASK_FINISHED))
	if event, data := l.next(t); event != "end" || data != `"TASK_FINISHED"` {
		t.Fatalf("after the task ended: %s %s", event, data)
	}
}

// A large file's tail starts at its last LogTailBytes; a file that grows
// faster than it is read is skipped ahead, saying how much: what the
// master holds and sends is bounded.
func TestLogTailIsBounded(t *testing.T) {
	c := newSandboxCluster(t)
	c.write(t, "stderr", strings.Repeat("x", 3*LogTailBytes)+"last\n")
	l := c.tail(t, "stderr")
	off, data := l.output(t)
	if off != 3*LogTailBytes+5-LogTailBytes || len(data) != LogTailBytes || !strings.HasSuffix(data, "last\n") {
		t.Fatalf("start of a large file: offset %d, %d bytes", off, len(data))
	}
	// A burst, at once (a write's growth is seen page by page: a sparse
	// extension is one change of size).
	size := int64(3*LogTailBytes + 5)
	if err := os.Truncate(filepath.Join(c.sandbox, "stderr"), size+2*logBacklog); err != nil {
		t.Fatal(err)
	}
	if off, data := l.output(t); off != size || len(data) != LogTailBytes {
		t.Fatalf("after a burst: %d bytes at %d, want one event of %d at %d", len(data), off, LogTailBytes, size)
	}
	if event, data := l.next(t); event != "skipped" || data != fmt.Sprintf(`{"bytes":%d}`, 2*logBacklog-2*LogTailBytes) {
		t.Fatalf("after a burst larger than the backlog: %s %.100s, want skipped", event, data)
	}
	if off, data := l.output(t); off != size+2*logBacklog-LogTailBytes || len(data) != LogTailBytes {
		t.Fatalf("after the skip: %d bytes at %d, want the last %d", len(data), off, LogTailBytes)
	}
}

// The sandbox's listing comes through the master; bad requests get a
// clear refusal.
func TestSandboxFilesThroughTheMaster(t *testing.T) {
	c := newSandboxCluster(t)
	c.write(t, "stdout", "hi\n")
	get := func(path string) (int, string) {
		resp, err := http.Get(c.master.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/tasks/t1/files"); code != 200 || !strings.Contains(body, `"name":"stdout"`) || !strings.Contains(body, `"size":"3"`) {
		t.Fatalf("files: %d %s", code, body)
	}
	for path, want := range map[string]int{"/tasks/t1/log/passwd": 400, "/tasks/nope/log/stdout": 404, "/tasks/nope/files": 404} {
		if code, body := get(path); code != want {
			t.Errorf("%s: %d %s, want %d", path, code, body, want)
		}
	}
}

// One read of a file through the master (agora logs with credentials):
// the bytes from the offset asked, X-Agora-Offset after them and the
// file's size, at most MaxFileRead at once so that a large file is read in
// several requests; bad requests get a clear refusal.
func TestSandboxFileReadThroughTheMaster(t *testing.T) {
	c := newSandboxCluster(t)
	read := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get(c.master.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, _ := read("/tasks/t1/files/stdout"); code != http.StatusNotFound || !strings.Contains(body, "not started yet") {
		t.Fatalf("before the task wrote: %d %s", code, body)
	}
	c.write(t, "stdout", "hello\n")
	c.write(t, "stderr", "oops\n")
	for path, want := range map[string][3]string{
		"/tasks/t1/files/stdout":            {"hello\n", "6", "6"},
		"/tasks/t1/files/stdout?offset=2":   {"llo\n", "6", "6"},
		"/tasks/t1/files/stdout?offset=100": {"", "6", "6"},
		"/tasks/t1/files/stderr?framework=": {"oops\n", "5", "5"},
	} {
		code, body, h := read(path)
		if code != http.StatusOK || body != want[0] || h.Get("X-Agora-Offset") != want[1] || h.Get("X-Agora-Size") != want[2] {
			t.Errorf("%s: %d %q offset %s size %s, want %q offset %s size %s", path, code, body, h.Get("X-Agora-Offset"), h.Get("X-Agora-Size"), want[0], want[1], want[2])
		}
	}
	big := strings.Repeat("x", MaxFileRead+10)
	c.write(t, "stdout", big)
	code, body, h := read("/tasks/t1/files/stdout?offset=6")
	if code != http.StatusOK || len(body) != MaxFileRead || h.Get("X-Agora-Offset") != fmt.Sprint(6+MaxFileRead) || h.Get("X-Agora-Size") != fmt.Sprint(6+len(big)) {
		t.Fatalf("a large file: %d, %d bytes, offset %s size %s", code, len(body), h.Get("X-Agora-Offset"), h.Get("X-Agora-Size"))
	}
	if _, body, _ := read("/tasks/t1/files/stdout?offset=" + h.Get("X-Agora-Offset")); body != "xxxxxxxxxx" {
		t.Fatalf("the rest of a large file: %q", body)
	}
	for path, want := range map[string]int{"/tasks/t1/files/passwd": 400, "/tasks/t1/files/stdout?offset=-1": 400,
		"/tasks/t1/files/stdout?offset=x": 400, "/tasks/nope/files/stdout": 404} {
		if code, body, _ := read(path); code != want {
			t.Errorf("%s: %d %s, want %d", path, code, body, want)
		}
	}
}

package master

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/messages"
)

// A task's sandbox through the master, so that a browser needs one origin
// (and one credential): the master finds the task's agent (TaskLookupFunc,
// as GET /tasks/{task} does) and reads the agent's sandbox API, the one
// `agora logs` reads, with its own certificate.

const (
	// MaxLogStreams bounds the log tails served at once; more get 503.
	MaxLogStreams = 64
	// LogTailBytes is how much of a file a tail starts with, and the most
	// one event carries.
	LogTailBytes = 64 << 10
	// logBacklog: a file that grew more than this since the last read is
	// skipped to its last LogTailBytes (the tail says how much it skipped).
	logBacklog = 1 << 20
	// maxListingBytes bounds an agent's answer to a sandbox listing.
	maxListingBytes = 1 << 20
	// MaxFileRead bounds one read of a sandbox file through the master, so
	// that a large file does not outlast the master's write timeout: the
	// client asks again from X-Agora-Offset while it is below X-Agora-Size.
	MaxFileRead = 4 << 20
)

// SandboxProxy is how the master reaches its agents' sandboxes.
type SandboxProxy struct {
	Lookup TaskLookupFunc
	// Client reaches agents' HTTP APIs (with the master's certificate when
	// the cluster uses TLS), Scheme says how ("http" or "https").
	Client *http.Client
	Scheme string
	Access *HTTPAccess
	// Poll is how often a tail reads the agent again (1 s when 0).
	Poll time.Duration
}

// WithSandboxes adds the sandbox reads to h:
//
//	GET /tasks/{task}/files?framework=F        the sandbox's files (SandboxListing)
//	GET /tasks/{task}/log/{stdout|stderr}?framework=F
//	                                           a live tail (Server-Sent Events):
//	                                           "output" {"offset", "data"}, "skipped"
//	                                           {"bytes"}, then "end" once the task
//	                                           ended and all was sent, or "failure"
//	GET /tasks/{task}/files/{stdout|stderr}?framework=F&offset=N
//	                                           the file's bytes from offset N (at
//	                                           most MaxFileRead), as the agent's
//	                                           API serves them: X-Agora-Offset is
//	                                           the offset after them, X-Agora-Size
//	                                           the file's size (agora logs reads
//	                                           this way with --principal/--secret,
//	                                           which only the master checks)
//
// All need view_state, as /tasks/{task} does.
func WithSandboxes(h http.Handler, p SandboxProxy) http.Handler {
	if p.Poll <= 0 {
		p.Poll = time.Second
	}
	streams := new(atomic.Int64)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET /tasks/{task}/files", func(w http.ResponseWriter, r *http.Request) {
		loc, ok := p.locate(w, r)
		if !ok {
			return
		}
		resp, err := p.get(r.Context(), loc, "")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxListingBytes+1))
		if err != nil || len(body) > maxListingBytes {
			http.Error(w, fmt.Sprintf("the agent's listing was not read whole (at most %d bytes): %v", maxListingBytes, err), http.StatusBadGateway)
			return
		}
		if resp.StatusCode != http.StatusOK {
			http.Error(w, "agent "+loc.GetAgent().GetHostname()+": "+string(body), resp.StatusCode)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /tasks/{task}/files/{file}", func(w http.ResponseWriter, r *http.Request) {
		file := r.PathValue("file")
		if file != "stdout" && file != "stderr" {
			http.Error(w, "file must be stdout or stderr", http.StatusBadRequest)
			return
		}
		offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
		if r.URL.Query().Get("offset") == "" {
			offset, err = 0, nil
		}
		if err != nil || offset < 0 {
			http.Error(w, "offset must be a byte count, 0 or more", http.StatusBadRequest)
			return
		}
		loc, ok := p.locate(w, r)
		if !ok {
			return
		}
		p.read(w, r, loc, file, offset)
	})
	mux.HandleFunc("GET /tasks/{task}/log/{file}", func(w http.ResponseWriter, r *http.Request) {
		file := r.PathValue("file")
		if file != "stdout" && file != "stderr" {
			http.Error(w, "file must be stdout or stderr", http.StatusBadRequest)
			return
		}
		loc, ok := p.locate(w, r)
		if !ok {
			return
		}
		if streams.Add(1) > MaxLogStreams {
			streams.Add(-1)
			http.Error(w, fmt.Sprintf("too many log tails (%d): retry later, or use agora logs", MaxLogStreams), http.StatusServiceUnavailable)
			return
		}
		defer streams.Add(-1)
		p.tail(w, r, loc, file)
	})
	return mux
}

// locate finds the task's agent, or answers why not.
func (p SandboxProxy) locate(w http.ResponseWriter, r *http.Request) (*messages.TaskLocation, bool) {
	if !p.Access.allows(w, r, acl.ViewState) {
		return nil, false
	}
	if p.Lookup == nil || p.Client == nil {
		http.Error(w, "this master does not read sandboxes", http.StatusNotImplemented)
		return nil, false
	}
	loc, err := p.Lookup(r.Context(), &messages.GetTask{
		FrameworkId: &messages.FrameworkID{Value: r.URL.Query().Get("framework")}, TaskId: &messages.TaskID{Value: r.PathValue("task")},
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return nil, false
	}
	if loc.GetAgent().GetHttpAddress() == "" {
		http.Error(w, fmt.Sprintf("task %s: its agent %s is not known to the master now (unreachable or gone)", loc.GetTask().GetTaskId().GetValue(),
			loc.GetTask().GetAgentId().GetValue()), http.StatusNotFound)
		return nil, false
	}
	return loc, true
}

// get reads the task's sandbox listing (file "") or a file from offset.
func (p SandboxProxy) get(ctx context.Context, loc *messages.TaskLocation, file string, offset ...int64) (*http.Response, error) {
	u := fmt.Sprintf("%s://%s/sandboxes/%s/%s", p.Scheme, loc.GetAgent().GetHttpAddress(),
		url.PathEscape(loc.GetTask().GetFrameworkId().GetValue()), url.PathEscape(loc.GetTask().GetTaskId().GetValue()))
	if file != "" {
		u += "/" + file + "?offset=" + strconv.FormatInt(offset[0], 10)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach agent %s's HTTP API at %s: %w", loc.GetAgent().GetHostname(), loc.GetAgent().GetHttpAddress(), err)
	}
	return resp, nil
}

// read answers one read of a sandbox file from offset: what the agent
// serves from there, up to MaxFileRead.
func (p SandboxProxy) read(w http.ResponseWriter, r *http.Request, loc *messages.TaskLocation, file string, offset int64) {
	resp, err := p.get(r.Context(), loc, file, offset)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxListingBytes))
		http.Error(w, "agent "+loc.GetAgent().GetHostname()+": "+strings.TrimSpace(string(body)), resp.StatusCode)
		return
	}
	size, err := strconv.ParseInt(resp.Header.Get("X-Agora-Offset"), 10, 64)
	if err != nil {
		http.Error(w, "agent "+loc.GetAgent().GetHostname()+" answered without X-Agora-Offset", http.StatusBadGateway)
		return
	}
	// The agent serves from min(offset, size) to size.
	from := min(offset, size)
	n := min(size-from, MaxFileRead)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.Header().Set("X-Agora-Offset", strconv.FormatInt(from+n, 10))
	w.Header().Set("X-Agora-Size", strconv.FormatInt(size, 10))
	_, _ = io.CopyN(w, resp.Body, n)
}

// tail streams a sandbox file as it grows: its last LogTailBytes first,
// then what is appended, read from the agent every Poll. It ends when the
// task has ended and nothing more came, when the client goes, or when the
// agent cannot be read (a "failure" event says why).
func (p SandboxProxy) tail(w http.ResponseWriter, r *http.Request, loc *messages.TaskLocation, file string) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush() // the client sees the stream open before any output
	send := func(event string, v any) bool {
		b, _ := json.Marshal(v)
		_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// read returns up to LogTailBytes from offset and the file's size (0
	// while the task has not created it).
	read := func(offset int64) ([]byte, int64, error) {
		resp, err := p.get(r.Context(), loc, file, offset)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, 0, nil // not written yet
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, LogTailBytes))
		if resp.StatusCode != http.StatusOK {
			return nil, 0, fmt.Errorf("agent %s refused: %s", loc.GetAgent().GetHostname(), data)
		}
		size, perr := strconv.ParseInt(resp.Header.Get("X-Agora-Offset"), 10, 64)
		if perr != nil {
			return nil, 0, fmt.Errorf("agent %s answered without X-Agora-Offset", loc.GetAgent().GetHostname())
		}
		return data, size, err
	}
	// The file's size: an offset past the end reads nothing.
	_, offset, err := read(1 << 62)
	if err == nil {
		offset = max(0, offset-LogTailBytes)
	}
	ticker := time.NewTicker(p.Poll)
	defer ticker.Stop()
	for polls := 1; ; polls++ {
		if err != nil {
			send("failure", err.Error())
			return
		}
		data, size, rerr := read(offset)
		if rerr != nil {
			err = rerr
			continue
		}
		if len(data) > 0 {
			if !send("output", map[string]any{"offset": offset, "data": string(data)}) {
				return
			}
			offset += int64(len(data))
			if size-offset > logBacklog {
				if !send("skipped", map[string]int64{"bytes": size - LogTailBytes - offset}) {
					return
				}
				offset = size - LogTailBytes
			}
			if offset < size {
				continue // more is there now
			}
		} else if messages.IsTerminal(loc.GetTask().GetState()) {
			send("end", loc.GetTask().GetState().String())
			return
		}
		select {
		case <-ticker.C:
		case <-r.Context().Done():
			return
		}
		if polls%5 == 0 {
			// Whether the task ended: its output is complete once it has
			// and nothing more is read.
			if l, lerr := p.Lookup(r.Context(), &messages.GetTask{FrameworkId: loc.Task.FrameworkId, TaskId: loc.Task.TaskId}); lerr == nil && l.GetAgent() != nil {
				loc = l
			}
		}
	}
}

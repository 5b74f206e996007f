package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"google.golang.org/protobuf/encoding/protojson"
)

// HTTPConfig is what the agent's HTTP API serves from.
type HTTPConfig struct {
	// WorkDir is the agent's work dir, where the sandboxes are.
	WorkDir string
	// Cgroups reads a task's usage; nil: /usage is not served.
	Cgroups *containerizer.Cgroups
	// Health says whether the agent is alive (it probes the agent actor:
	// health.Check); nil: /health always answers 200.
	Health func(context.Context) error
	Logger *slog.Logger
	// Metrics serves /metrics (Prometheus); nil: not served.
	Metrics http.Handler
}

// MaxSandboxListing bounds the entries of a sandbox's listing.
const MaxSandboxListing = 1000

// HTTPHandler serves task sandboxes from the agent's work dir:
//
//	GET /sandboxes/{framework}/{task}/{file}?offset=N
//	GET /sandboxes/{framework}/{task}  the sandbox's files (SandboxListing,
//	                                 at most MaxSandboxListing; links are
//	                                 listed, not followed)
//	GET /usage/{framework}/{task}    cpu time and memory of a running task
//	GET /health                      200 while health says the agent is
//	                                 alive, else 503 and why
//	GET /metrics                     Prometheus: tasks by state, capacity,
//	                                 used, registration, refusals
//
// where file is stdout or stderr; offset skips the first N bytes, so a
// client follows output by asking again from where it stopped. The
// response's X-Agora-Offset header is the offset after the returned bytes.
// A sandbox file is served only if it is a regular file reached without
// following a link (containerizer.OpenSandboxFile): the sandbox is its
// task's, and a task may replace its output with a link to a file only the
// agent could read; a refusal is logged.
func HTTPHandler(cfg HTTPConfig) http.Handler {
	workDir, cgroups, log := cfg.WorkDir, cfg.Cgroups, cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Health != nil {
			if err := cfg.Health(r.Context()); err != nil {
				log.Error("agent unhealthy", "err", err)
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /usage/{framework}/{task}", func(w http.ResponseWriter, r *http.Request) {
		fw, task := r.PathValue("framework"), r.PathValue("task")
		if _, err := containerizer.SandboxPath(workDir, fw, task); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if cgroups == nil {
			http.Error(w, "this agent runs tasks without cgroups (--isolation=none or no permission): no usage", http.StatusNotImplemented)
			return
		}
		u, err := cgroups.Usage(fw + "." + task)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		b, _ := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(&messages.TaskUsage{
			CpuSeconds: u.CPUSeconds, MemoryBytes: u.MemoryBytes, MemoryPeakBytes: u.MemoryPeakBytes,
		})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /sandboxes/{framework}/{task}", func(w http.ResponseWriter, r *http.Request) {
		entries, more, err := containerizer.ListSandbox(workDir, r.PathValue("framework"), r.PathValue("task"), MaxSandboxListing)
		switch {
		case errors.Is(err, containerizer.ErrBadID):
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		case errors.Is(err, os.ErrNotExist):
			http.Error(w, "no such sandbox (task unknown here, or its sandbox was collected)", http.StatusNotFound)
			return
		case errors.Is(err, containerizer.ErrNotRegularFile):
			log.Warn("refused to list a sandbox that is not a directory of the work dir (a link)",
				"framework_id", r.PathValue("framework"), "task_id", r.PathValue("task"), "client", r.RemoteAddr)
			http.Error(w, "refused: the sandbox is not a directory reached without links", http.StatusForbidden)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		list := &messages.SandboxListing{Truncated: more}
		for _, e := range entries {
			list.Files = append(list.Files, &messages.SandboxFile{Name: e.Name, Size: e.Size, Mode: e.Mode.String(), ModifiedUnixNano: e.Modified})
		}
		b, _ := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(list)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /sandboxes/{framework}/{task}/{file}", func(w http.ResponseWriter, r *http.Request) {
		file := r.PathValue("file")
		if file != "stdout" && file != "stderr" {
			http.Error(w, "file must be stdout or stderr", http.StatusBadRequest)
			return
		}
		offset, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
		f, err := containerizer.OpenSandboxFile(workDir, r.PathValue("framework"), r.PathValue("task"), file)
		switch {
		case errors.Is(err, containerizer.ErrBadID):
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		case errors.Is(err, os.ErrNotExist):
			http.Error(w, "no such sandbox file (task unknown here, or not started yet)", http.StatusNotFound)
			return
		case errors.Is(err, containerizer.ErrNotRegularFile):
			log.Warn("refused to serve a sandbox file that is not a regular file (a task replaced its output with a link or a special file)",
				"framework_id", r.PathValue("framework"), "task_id", r.PathValue("task"), "file", file, "client", r.RemoteAddr)
			http.Error(w, "refused: the task's "+file+" is not a regular file of its sandbox (the task replaced it with a link or a special file); the agent serves only regular files there", http.StatusForbidden)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		offset = max(0, min(offset, st.Size()))
		// A large file outlasts the server's write timeout: allow a minute
		// plus 64 KiB/s, so a slow client is served and a stalled one
		// still lets go.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute + time.Duration((st.Size()-offset)>>16)*time.Second))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Agora-Offset", strconv.FormatInt(st.Size(), 10))
		_, _ = f.Seek(offset, io.SeekStart)
		_, _ = io.CopyN(w, f, st.Size()-offset)
	})
	return mux
}

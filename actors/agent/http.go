package agent

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"github.com/agora-sched/agora/messages"
	"github.com/agora-sched/agora/runtime/containerizer"
	"google.golang.org/protobuf/encoding/protojson"
)

// HTTPHandler serves task sandboxes from the agent's work dir:
//
//	GET /sandboxes/{framework}/{task}/{file}?offset=N
//	GET /usage/{framework}/{task}    cpu time and memory of a running task
//
// where file is stdout or stderr; offset skips the first N bytes, so a
// client follows output by asking again from where it stopped. The
// response's X-Agora-Offset header is the offset after the returned bytes.
// Usage needs cgroups (nil: not served).
func HTTPHandler(workDir string, cgroups *containerizer.Cgroups) http.Handler {
	mux := http.NewServeMux()
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
	mux.HandleFunc("GET /sandboxes/{framework}/{task}/{file}", func(w http.ResponseWriter, r *http.Request) {
		file := r.PathValue("file")
		if file != "stdout" && file != "stderr" {
			http.Error(w, "file must be stdout or stderr", http.StatusBadRequest)
			return
		}
		dir, err := containerizer.SandboxPath(workDir, r.PathValue("framework"), r.PathValue("task"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		offset, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
		f, err := os.Open(filepath.Join(dir, file))
		if errors.Is(err, os.ErrNotExist) {
			http.Error(w, "no such sandbox file (task unknown here, or not started yet)", http.StatusNotFound)
			return
		}
		if err != nil {
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
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Agora-Offset", strconv.FormatInt(st.Size(), 10))
		_, _ = f.Seek(offset, io.SeekStart)
		_, _ = io.CopyN(w, f, st.Size()-offset)
	})
	return mux
}

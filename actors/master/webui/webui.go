// Package webui is the master's web UI: one page, embedded in the binary
// (no Node toolchain), fed by the master's state stream (GET
// /events/state, Server-Sent Events) and, for tasks, by GET /tasks when a
// snapshot shows their counts changed. It reads; it changes nothing.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the UI under prefix (such as "/ui/").
func Handler(prefix string) http.Handler {
	root, _ := fs.Sub(static, "static") // the directory is embedded: it exists
	return http.StripPrefix(prefix, http.FileServer(http.FS(root)))
}

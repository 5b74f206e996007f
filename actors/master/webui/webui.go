// Package webui is the master's web UI: one page, embedded in the binary
// (no Node toolchain; plain JS, charts as inline SVG), fed by the master's
// state stream (GET /events/state, Server-Sent Events: snapshots, and the
// history of cluster totals and events that Publisher.Record keeps), for
// tasks by GET /tasks when a snapshot shows their counts changed, and for
// a selected task by its sandbox's listing and output tail through the
// master (GET /tasks/ID/files, GET /tasks/ID/log/FILE). It reads; it
// changes nothing.
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

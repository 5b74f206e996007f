// Package filewatch follows a small configuration file (access control
// lists, credentials) that an operator edits in place: each tick it reads
// the file and hands on its content when it differs from the last, so a
// change takes effect without a restart.
//
// Content, not the modification time, decides: an edit within the same
// mtime tick (coarse file systems, a quick rewrite) still counts, and a
// touch that changes nothing does not.
//
//	ticks := time.NewTicker(time.Second)
//	go filewatch.Poll(ctx, path, first, ticks.C, func(b []byte) { ... }, func(err error) { ... })
package filewatch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// MaxSize bounds what is read: a configuration file, not a data set.
const MaxSize = 4 << 20

// Read reads path whole, refusing a file over MaxSize.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a configuration file", path, MaxSize)
	}
	return b, nil
}

// Poll reads path on every tick until ctx ends, and calls changed with its
// content when it differs from last (the content already in force, as the
// caller read it at start). A file that cannot be read is reported to
// failed once per distinct error, and the content in force stays: an
// editor that replaces the file by rename leaves it missing for a moment.
func Poll(ctx context.Context, path string, last []byte, ticks <-chan time.Time, changed func([]byte), failed func(error)) {
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		b, err := Read(path)
		if err != nil {
			if err.Error() != lastErr {
				failed(err)
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		if bytes.Equal(b, last) {
			continue
		}
		last = b
		changed(b)
	}
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// readyInfo is what a node writes to its --ready-file once it serves: every
// address it bound, with the real ports when a flag asked for port 0. Tools
// and tests start nodes on port 0 and read the ports here, instead of
// picking a free port that another process can take before the node binds.
type readyInfo struct {
	PID int `json:"pid"`
	// Remoting is the address peers reach this node's actors at: the
	// --advertise address, or else the bound --listen address.
	Remoting string `json:"remoting"`
	// HTTP is the master's HTTP API (nodes with the master role).
	HTTP string `json:"http,omitempty"`
	// AgentHTTP is the agent's HTTP API (nodes with the agent role).
	AgentHTTP string `json:"agent_http,omitempty"`
}

// clearReadyFile removes a ready file left by an earlier run, so that a
// reader waiting for this run's file does not take the old one.
func clearReadyFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--ready-file: cannot remove the previous one: %w", err)
	}
	return nil
}

// writeReadyFile writes info to path atomically (a temporary file in the
// same directory, renamed into place): a reader sees no file or all of it.
func writeReadyFile(path string, info readyInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("--ready-file %s: %w", path, err)
	}
	return nil
}

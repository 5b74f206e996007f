package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

const agentIDFile = "agent_id"

// LoadAgentID returns the AgentID persisted in workDir, or "" for a new
// agent (no work dir, or nothing persisted yet).
func LoadAgentID(workDir string) (string, error) {
	if workDir == "" {
		return "", nil
	}
	b, err := os.ReadFile(filepath.Join(workDir, agentIDFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read AgentID from work dir %s: %w", workDir, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SaveAgentID persists id in workDir atomically (write, fsync, rename).
func SaveAgentID(workDir, id string) error {
	if workDir == "" {
		return nil
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return fmt.Errorf("create work dir %s: %w", workDir, err)
	}
	tmp, err := os.CreateTemp(workDir, agentIDFile+".*")
	if err != nil {
		return fmt.Errorf("persist AgentID in %s: %w", workDir, err)
	}
	_, werr := tmp.WriteString(id + "\n")
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("persist AgentID in %s: %w", workDir, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(workDir, agentIDFile)); err != nil {
		return fmt.Errorf("persist AgentID in %s: %w", workDir, err)
	}
	return nil
}

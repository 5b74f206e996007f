// Package checkpoint writes the small files Agora keeps on disk (an agent's
// identity, the master's role configuration, and with agent recovery its
// checkpoints) so that a crash, of the process or of the machine, leaves
// either the old or the new content, never a torn or vanished file.
//
// Every call blocks on the disk (fsync): actors call it off their own
// goroutine and learn the outcome as a message.
package checkpoint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// WriteFile replaces path with data atomically and durably: it writes a
// temporary file in the same directory, fsyncs it, renames it over path
// and fsyncs the directory, so that the rename itself survives a power
// loss. Directories it has to create are fsynced into their parents too.
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := mkdirAll(dir); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	_, werr := tmp.Write(data)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("checkpoint %s: the file is written but its directory entry may not survive a crash: %w", path, err)
	}
	return nil
}

// Remove deletes path durably (its directory is fsynced); a path that is
// already gone is not an error.
func Remove(path string) error {
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove checkpoint %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("remove checkpoint %s: removed, but the removal may not survive a crash: %w", path, err)
	}
	return nil
}

// dirs serializes mkdirAll: a caller that finds a directory another is
// creating must not go on before that one has synced it into its parent.
var dirs sync.Mutex

// mkdirAll is os.MkdirAll that fsyncs the parent of every directory it
// creates: a new sandbox's checkpoint is only as durable as the sandbox's
// own entry in its parent.
func mkdirAll(dir string) error {
	dirs.Lock()
	defer dirs.Unlock()
	return mkdirAllLocked(dir)
}

func mkdirAllLocked(dir string) error {
	st, err := os.Stat(dir)
	if err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllLocked(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err // (ErrExist: another process created it; sync it all the same)
	}
	return syncDir(parent)
}

// syncDir fsyncs a directory, making the entries created, renamed or
// removed in it durable. A variable so that a test can see the order of
// the syncs.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	return errors.Join(serr, d.Close())
}

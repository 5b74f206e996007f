package diskquota

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// MaxFiles bounds one walk: a tree of more entries is measured in part
// (Usage.Partial) unless it passed its limit first. A million entries take
// seconds to stat; a task that makes more is still bounded by its blocks
// up to there.
const MaxFiles = 1_000_000

// errStop ends a walk early.
var errStop = errors.New("stop")

// Measure walks t.Path as du does: the blocks each file takes (a sparse
// file counts what it holds, a file with several hard links once),
// symbolic links not followed (a command task's volumes are links in its
// sandbox and are measured on their own). It stops as soon as the count
// passes t.Limit (Usage.Over), after maxFiles entries (Usage.Partial), or
// when ctx is done (Partial too).
func Measure(ctx context.Context, t Target, maxFiles int) Usage {
	var u Usage
	if _, err := os.Lstat(t.Path); err != nil {
		u.Err = err
		return u
	}
	seen := map[[2]uint64]bool{} // device and inode of files with several links
	err := filepath.WalkDir(t.Path, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// Unreadable below the top (a task's chmod 000): skipped,
			// as du goes on after an error.
			if d != nil && d.IsDir() && path != t.Path {
				return fs.SkipDir
			}
			return nil
		}
		if u.Files >= maxFiles || ctx.Err() != nil {
			u.Partial = true
			return errStop
		}
		u.Files++
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		u.Bytes += used(info, seen)
		if t.Limit > 0 && u.Bytes > t.Limit {
			u.Over = true
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		u.Err = err
	}
	return u
}

// used is the disk a file takes: its blocks, or its size where the file
// system does not say; 0 for a further link to a file already counted.
func used(info fs.FileInfo, seen map[[2]uint64]bool) int64 {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return info.Size()
	}
	if st.Nlink > 1 && !info.IsDir() {
		k := [2]uint64{uint64(st.Dev), st.Ino}
		if seen[k] {
			return 0
		}
		seen[k] = true
	}
	return st.Blocks * 512
}

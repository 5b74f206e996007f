package containerizer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// A sandbox belongs to its task: the task's user owns it and may put
// anything there, symbolic links (to /etc/shadow, or to another task's
// sandbox) and FIFOs included. The agent, which runs as root, must then
// never follow a name in a sandbox: what it reads there (output it serves,
// the recorded exit code) it opens with OpenSandboxFile's rules, and what
// it creates there (output files) it creates anew, refusing to follow a
// name the task left behind.

// ErrNotRegularFile: a sandbox file the agent was asked to read is a
// symbolic link, a special file (FIFO, device, socket), a directory, or a
// path that leaves the sandbox. The agent reads only regular files there.
var ErrNotRegularFile = errors.New("not a regular file inside the sandbox (a symbolic link, a special file, or a path leaving it)")

// OpenSandboxFile opens file name of a task's sandbox under workDir for
// reading. No symbolic link is followed anywhere below workDir (a link
// that stays in the sandbox is refused too: it could name another task's
// sandbox) and only a regular file is opened, so a task cannot make the
// agent serve a file it cannot read itself, nor hang the agent on a FIFO.
// A missing file is fs.ErrNotExist; a refused one ErrNotRegularFile.
func OpenSandboxFile(workDir, frameworkID, taskID, name string) (*os.File, error) {
	sandbox, err := SandboxPath("", frameworkID, taskID)
	if err != nil {
		return nil, err
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return nil, fmt.Errorf("%w: %q", ErrBadID, name)
	}
	return openBeneath(workDir, filepath.Join(sandbox, name))
}

// openBeneath opens rel (relative, already cleaned) under dir for reading
// with the rules of OpenSandboxFile. dir itself is the agent's and may be
// reached through links; nothing below it is. It uses openat2 with
// RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS (Linux 5.6), and on older kernels
// walks rel one component at a time with O_NOFOLLOW, which refuses the same.
func openBeneath(dir, rel string) (*os.File, error) {
	path := filepath.Join(dir, rel)
	if filepath.IsAbs(rel) || !filepath.IsLocal(rel) {
		return nil, &fs.PathError{Op: "open", Path: path, Err: ErrNotRegularFile}
	}
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	// O_NONBLOCK: opening a FIFO must not wait for a writer. It is cleared
	// once the file is known to be regular.
	const flags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK | unix.O_NOFOLLOW
	fd, err := openat2Beneath(dfd, rel, flags)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOTDIR) {
			err = ErrNotRegularFile
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: path, Err: ErrNotRegularFile}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// noOpenat2 makes openat2Beneath walk as on a kernel without openat2
// (tests of that path).
var noOpenat2 bool

func openat2Beneath(dfd int, rel string, flags int) (int, error) {
	if !noOpenat2 {
		how := &unix.OpenHow{Flags: uint64(flags), Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
		for {
			fd, err := unix.Openat2(dfd, rel, how)
			switch err {
			case unix.EAGAIN, unix.EINTR:
				continue // a concurrent rename in the tree: resolve again
			case unix.ENOSYS:
				// An old kernel: walk.
			default:
				return fd, err
			}
			break
		}
	}
	parts := strings.Split(rel, string(filepath.Separator))
	cur := dfd
	for i, p := range parts {
		last := i == len(parts)-1
		if p == ".." || p == "" || p == "." {
			if cur != dfd {
				unix.Close(cur)
			}
			return -1, unix.EXDEV
		}
		fl := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if last {
			fl = flags
		}
		next, err := unix.Openat(cur, p, fl, 0)
		if cur != dfd {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur = next
	}
	return cur, nil
}

// readSandboxFile reads at most limit bytes of a regular file in a
// sandbox, with OpenSandboxFile's rules.
func readSandboxFile(sandbox, name string, limit int64) ([]byte, error) {
	f, err := openBeneath(sandbox, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// createOutput creates the sandbox file name anew for the task's output,
// owned by owner (nil: the agent's user). A name left there (by an earlier
// task of the same ID) is removed first, never followed: O_EXCL and
// O_NOFOLLOW refuse a link put back in between.
func createOutput(sandbox, name string, owner *User) (*os.File, error) {
	path := filepath.Join(sandbox, name)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	if owner != nil {
		if err := f.Chown(int(owner.UID), int(owner.GID)); err != nil {
			f.Close()
			return nil, fmt.Errorf("give %s to user %s: %w", name, owner.Name, err)
		}
	}
	return f, nil
}

// SandboxEntry is one name in a task's sandbox directory, as lstat sees it
// (a link is listed as a link, never followed).
type SandboxEntry struct {
	Name     string
	Size     int64
	Mode     fs.FileMode
	Modified int64 // unix nanoseconds
}

// ListSandbox lists at most limit entries of a task's sandbox directory
// under workDir, sorted by name, with OpenSandboxFile's rules: no link
// below workDir is followed (the sandbox itself must be a directory
// reached without one), and each entry is stat'ed relative to the opened
// directory without following it. more says entries were left out (a
// directory of more than 16*limit names is listed from the first it
// gives).
func ListSandbox(workDir, frameworkID, taskID string, limit int) (entries []SandboxEntry, more bool, err error) {
	limit = max(limit, 1) // Readdirnames(0) would read every name
	sandbox, err := SandboxPath("", frameworkID, taskID)
	if err != nil {
		return nil, false, err
	}
	dfd, err := unix.Open(workDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false, &fs.PathError{Op: "open", Path: workDir, Err: err}
	}
	defer unix.Close(dfd)
	path := filepath.Join(workDir, sandbox)
	fd, err := openat2Beneath(dfd, sandbox, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOTDIR) {
			err = ErrNotRegularFile
		}
		return nil, false, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	dir := os.NewFile(uintptr(fd), path)
	defer dir.Close()
	// Names only (getdents): each is stat'ed below through the directory's
	// descriptor, not its path. A task may make millions: at most
	// 16*limit are read, and sorted.
	names, err := dir.Readdirnames(16 * limit)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, &fs.PathError{Op: "readdir", Path: path, Err: err}
	}
	if len(names) == 16*limit {
		if next, _ := dir.Readdirnames(1); len(next) > 0 {
			more = true
		}
	}
	slices.Sort(names)
	if len(names) > limit {
		names, more = names[:limit], true
	}

	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // removed meanwhile
		}
		entries = append(entries, SandboxEntry{Name: name, Size: st.Size, Mode: fileMode(st.Mode), Modified: st.Mtim.Nano()})
	}
	return entries, more, nil
}

// fileMode turns a stat mode into Go's.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	}
	return mode
}

// giveSandbox makes sandbox the task's user's (who; nil: the agent's own,
// nothing to do), so the task can write in it; the agent never follows a
// name the task leaves there.
func giveSandbox(sandbox string, who *User) error {
	if who == nil {
		return nil
	}
	if err := os.Lchown(sandbox, int(who.UID), int(who.GID)); err != nil {
		return fmt.Errorf("give the sandbox to user %s: %w", who.Name, err)
	}
	return nil
}

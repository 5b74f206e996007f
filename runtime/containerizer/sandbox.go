package containerizer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

package containerizer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Identified is implemented by containers of a real process: its PID and
// start time (clock ticks since boot) tell it from a later process that
// reuses the PID. The agent checkpoints both to re-attach after a restart.
type Identified interface {
	Identity() (pid int, startTime uint64)
}

// ExitFile is where Command's tasks record their exit code.
func ExitFile(sandbox string) string { return filepath.Join(sandbox, ".agora-exit") }

// ProcessStartTime reads a process's start time from /proc.
func ProcessStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0, errors.New("short /proc stat")
	}
	return strconv.ParseUint(fields[19], 10, 64) // field 22: starttime
}

// RecordedExit reads the exit code a task recorded in its sandbox. The
// task's user writes the file: it is read as any sandbox file is (a link
// or a FIFO put there records nothing).
func RecordedExit(sandbox string) (Exit, bool) {
	b, err := readSandboxFile(sandbox, filepath.Base(ExitFile(sandbox)), 32)
	if err != nil {
		return Exit{}, false
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return Exit{}, false
	}
	return Exit{Code: code}, true
}

// Attach re-attaches to a task process that Command started under an
// earlier run of the agent. It returns false if that process (pid with
// that start time) no longer runs: then RecordedExit tells how it ended.
// It follows the process until it ends or ctx is done; after that, Wait
// only returns ctx's error.
func Attach(ctx context.Context, pid int, startTime uint64, sandbox string) (Container, bool) {
	if pid <= 0 {
		return nil, false
	}
	if st, err := ProcessStartTime(pid); err != nil || st != startTime {
		return nil, false
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, false
	}
	// The follower polls the pidfd and a pipe whose write end closes when
	// ctx is done, so it does not outlive its owner.
	var stop [2]int
	if err := unix.Pipe2(stop[:], unix.O_CLOEXEC); err != nil {
		unix.Close(fd)
		return nil, false
	}
	unwatch := context.AfterFunc(ctx, func() { unix.Close(stop[1]) })
	a := &attached{group: newGroup(pid), start: startTime, following: make(chan struct{})}
	go func() {
		defer close(a.following)
		defer unix.Close(fd)
		defer unix.Close(stop[0])
		// No longer our child: a pidfd becomes readable when it exits.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(stop[0]), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != syscall.EINTR {
				break
			}
		}
		if fds[0].Revents == 0 && fds[1].Revents != 0 {
			return // ctx is done (it closed the write end): stop following
		}
		if unwatch() {
			unix.Close(stop[1])
		}
		ex, ok := RecordedExit(sandbox)
		if !ok {
			ex = Exit{Code: -1, Signal: "unknown (ended without recording its exit code)"}
		}
		a.end(ex)
	}()
	return a, true
}

type attached struct {
	group
	start     uint64
	following chan struct{} // closed when the follower returns
}

func (a *attached) Identity() (int, uint64) { return a.pid, a.start }

package containerizer

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The sandbox's listing shows what a task left there as it is: a link as
// a link (never followed to say what it names), a FIFO as a FIFO (never
// opened); a sandbox replaced by a link is refused; the listing is
// bounded. Both ways of resolving (openat2 and the component walk) agree.
func TestListSandboxShowsWithoutFollowing(t *testing.T) {
	for _, walk := range []bool{false, true} {
		noOpenat2 = walk
		work := t.TempDir()
		sandbox, _ := SandboxPath(work, "fw", "t1")
		if err := os.MkdirAll(sandbox, 0o755); err != nil {
			t.Fatal(err)
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.WriteFile(filepath.Join(sandbox, "stdout"), []byte("hello\n"), 0o644))
		must(os.Symlink("/etc/shadow", filepath.Join(sandbox, "shadow")))
		must(syscall.Mkfifo(filepath.Join(sandbox, "fifo"), 0o600))
		must(os.Mkdir(filepath.Join(sandbox, "out"), 0o755))
		entries, more, err := ListSandbox(work, "fw", "t1", 10)
		if err != nil || more {
			t.Fatalf("walk=%v: %v (more %v)", walk, err, more)
		}
		got := map[string]SandboxEntry{}
		for _, e := range entries {
			got[e.Name] = e
		}
		if len(entries) != 4 || got["stdout"].Size != 6 || !got["stdout"].Mode.IsRegular() || got["shadow"].Mode&fs.ModeSymlink == 0 ||
			got["fifo"].Mode&fs.ModeNamedPipe == 0 || !got["out"].Mode.IsDir() || entries[0].Name != "fifo" {
			t.Fatalf("walk=%v: listing %+v", walk, entries)
		}
		if entries, more, _ := ListSandbox(work, "fw", "t1", 2); len(entries) != 2 || !more {
			t.Fatalf("walk=%v: limit 2 gave %d entries (more %v)", walk, len(entries), more)
		}
		// A sandbox that is a link (to another task's) is not listed.
		other, _ := SandboxPath(work, "fw", "t2")
		must(os.Symlink(sandbox, other))
		if _, _, err := ListSandbox(work, "fw", "t2", 10); !errors.Is(err, ErrNotRegularFile) {
			t.Fatalf("walk=%v: a linked sandbox: %v, want ErrNotRegularFile", walk, err)
		}
		if _, _, err := ListSandbox(work, "fw", "nope", 10); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("walk=%v: a missing sandbox: %v, want ErrNotExist", walk, err)
		}
		if _, _, err := ListSandbox(work, "fw", "..", 10); !errors.Is(err, ErrBadID) {
			t.Fatalf("walk=%v: ..: %v, want ErrBadID", walk, err)
		}
	}
	noOpenat2 = false
}

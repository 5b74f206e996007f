package checkpoint

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteFileReplacesAtomically(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "f")
	for _, content := range []string{"one", "two"} {
		if err := WriteFile(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Fatalf("content %q, want %q", b, content)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if err := WriteFile("/proc/no/such/dir/f", nil); err == nil {
		t.Fatal("want an error for an unwritable path")
	}
}

// dirSync is one fsync of a directory, and whether the watched file
// existed under its final name at that moment.
type dirSync struct {
	dir         string
	filePresent bool
}

// recordSyncs makes syncDir note each directory it syncs.
func recordSyncs(t *testing.T, watch string) *[]dirSync {
	t.Helper()
	var synced []dirSync
	real := syncDir
	syncDir = func(dir string) error {
		_, err := os.Stat(watch)
		synced = append(synced, dirSync{dir, err == nil})
		return real(dir)
	}
	t.Cleanup(func() { syncDir = real })
	return &synced
}

// A rename is durable only once its directory is fsynced (rename(2) then
// fsync(dir), as ext4 and XFS require); so is a new directory's entry in
// its parent. WriteFile syncs every directory it created into its parent,
// and the file's directory after the file has its final name.
func TestWriteFileSyncsDirectoriesAfterRename(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "f")
	synced := recordSyncs(t, path)
	if err := WriteFile(path, []byte("x")); err != nil {
		t.Fatal(err)
	}
	want := []dirSync{{root, false}, {filepath.Join(root, "a"), false}, {filepath.Join(root, "a", "b"), true}}
	if !slices.Equal(*synced, want) {
		t.Fatalf("synced %v, want %v", *synced, want)
	}
	// Rewriting in an existing directory syncs only that directory.
	*synced = nil
	if err := WriteFile(path, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if want := []dirSync{{filepath.Join(root, "a", "b"), true}}; !slices.Equal(*synced, want) {
		t.Fatalf("rewrite synced %v, want %v", *synced, want)
	}
}

// Remove syncs the directory after the file is gone, and a missing file is
// no error (a removal retried after a crash).
func TestRemoveIsDurableAndIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(path, []byte("x")); err != nil {
		t.Fatal(err)
	}
	synced := recordSyncs(t, path)
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if want := []dirSync{{filepath.Dir(path), false}}; !slices.Equal(*synced, want) {
		t.Fatalf("synced %v, want the directory once, after the removal", *synced)
	}
	if err := Remove(path); err != nil {
		t.Fatalf("removing a removed file: %v", err)
	}
}

// BenchmarkWriteFile measures one durable replacement of a small
// checkpoint (the agent writes one per status update).
func BenchmarkWriteFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "sandbox", ".agora-task")
	data := make([]byte, 512)
	for b.Loop() {
		if err := WriteFile(path, data); err != nil {
			b.Fatal(err)
		}
	}
}

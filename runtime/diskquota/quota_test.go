package diskquota

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Mesos' posix/disk isolator: a container whose sandbox holds more than
// its disk resource is killed (REASON_CONTAINER_LIMITATION_DISK); one
// without disk is not limited. Agora adds persistent volumes, each bounded
// by its size.
func TestDecide(t *testing.T) {
	web := Task{Key: "web", Sandbox: "/s/web", SandboxMiB: 10}
	db := Task{Key: "db", Sandbox: "/s/db", SandboxMiB: 10, Volumes: []Volume{{ID: "data", Path: "/v/data", MiB: 64}}}
	free := Task{Key: "free", Sandbox: "/s/free"}
	for _, tc := range []struct {
		name   string
		tasks  []Task
		usages map[string]Usage
		want   []string // keys killed
		says   string   // in the first kill's message
	}{
		{"under the limit", []Task{web}, map[string]Usage{"/s/web": {Bytes: 10 * MiB}}, nil, ""},
		{"over the limit", []Task{web}, map[string]Usage{"/s/web": {Bytes: 10*MiB + 1}}, []string{"web"}, "sandbox uses 10.0 MiB of the 10 MiB"},
		{"walk stopped past the limit", []Task{web}, map[string]Usage{"/s/web": {Bytes: 11 * MiB, Over: true}}, []string{"web"}, "at least 11.0 MiB"},
		{"partial walk below the limit decides nothing", []Task{web}, map[string]Usage{"/s/web": {Bytes: 5 * MiB, Partial: true}}, nil, ""},
		{"failed walk decides nothing", []Task{web}, map[string]Usage{"/s/web": {Bytes: 50 * MiB, Err: os.ErrNotExist}}, nil, ""},
		{"not measured", []Task{web}, nil, nil, ""},
		{"no disk: unbounded", []Task{free}, map[string]Usage{"/s/free": {Bytes: 1 << 40}}, nil, ""},
		{"volume over its size", []Task{db}, map[string]Usage{"/s/db": {Bytes: MiB}, "/v/data": {Bytes: 65 * MiB}}, []string{"db"}, `volume "data" holds 65.0 MiB, more than its size 64 MiB`},
		{"sandbox and volume over: one kill, for the sandbox", []Task{db}, map[string]Usage{"/s/db": {Bytes: 20 * MiB}, "/v/data": {Bytes: 65 * MiB}}, []string{"db"}, "sandbox uses"},
		{"a shared volume over kills every task using it", []Task{db, {Key: "db2", Sandbox: "/s/db2", Volumes: db.Volumes}, web},
			map[string]Usage{"/v/data": {Bytes: 65 * MiB, Over: true}}, []string{"db", "db2"}, "volume"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kills := Decide(tc.tasks, tc.usages)
			var keys []string
			for _, k := range kills {
				keys = append(keys, k.Key)
			}
			if !reflect.DeepEqual(keys, tc.want) {
				t.Fatalf("killed %v, want %v (%+v)", keys, tc.want, kills)
			}
			if tc.says != "" && !strings.Contains(kills[0].Message, tc.says) {
				t.Fatalf("message %q does not say %q", kills[0].Message, tc.says)
			}
		})
	}
}

func TestTargetsMeasuresEachBoundedDirectoryOnce(t *testing.T) {
	vol := []Volume{{ID: "data", Path: "/v/data", MiB: 1}}
	got := Targets([]Task{
		{Key: "b", Sandbox: "/s/b", SandboxMiB: 2, Volumes: vol},
		{Key: "a", Sandbox: "/s/a", Volumes: vol}, // no disk: its sandbox is not walked
	})
	want := []Target{{Path: "/s/b", Limit: 2 * MiB}, {Path: "/v/data", Limit: MiB}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("targets %+v, want %+v", got, want)
	}
}

func write(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Written, not truncated to size: a sparse file takes no blocks.
	if err := os.WriteFile(path, make([]byte, n), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMeasureCountsBlocksAsDu(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a"), 3*MiB)
	write(t, filepath.Join(dir, "sub", "b"), 2*MiB)
	if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "a2")); err != nil {
		t.Fatal(err)
	}
	// A link to a large tree outside (a command task's volume) is not followed.
	outside := t.TempDir()
	write(t, filepath.Join(outside, "big"), 8*MiB)
	if err := os.Symlink(outside, filepath.Join(dir, "volume")); err != nil {
		t.Fatal(err)
	}
	// A sparse file counts what it holds.
	f, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 * MiB); err != nil {
		t.Fatal(err)
	}
	f.Close()

	u := Measure(context.Background(), Target{Path: dir}, MaxFiles)
	if u.Err != nil || u.Over || u.Partial {
		t.Fatalf("measure: %+v", u)
	}
	if u.Bytes < 5*MiB || u.Bytes > 5*MiB+64<<10 {
		t.Fatalf("measured %d bytes, want 5 MiB and a few blocks of directories", u.Bytes)
	}
	if u.Files != 7 { // dir, a, a2, sub, sub/b, volume, sparse
		t.Fatalf("counted %d entries, want 7", u.Files)
	}
}

func TestMeasureStopsEarly(t *testing.T) {
	dir := t.TempDir()
	for i := range 20 {
		write(t, filepath.Join(dir, "f"+string(rune('a'+i))), MiB)
	}
	u := Measure(context.Background(), Target{Path: dir, Limit: 3 * MiB}, MaxFiles)
	if !u.Over || u.Files > 6 {
		t.Fatalf("want the walk to stop once past 3 MiB, got %+v", u)
	}
	u = Measure(context.Background(), Target{Path: dir, Limit: 100 * MiB}, 5)
	if !u.Partial || u.Over || u.Files != 5 {
		t.Fatalf("want the walk to stop after 5 entries, got %+v", u)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if u := Measure(ctx, Target{Path: dir}, MaxFiles); !u.Partial || u.Files != 0 {
		t.Fatalf("want a cancelled walk to stop at once, got %+v", u)
	}
	if u := Measure(context.Background(), Target{Path: filepath.Join(dir, "gone")}, MaxFiles); u.Err == nil {
		t.Fatal("want an error for a missing directory")
	}
}

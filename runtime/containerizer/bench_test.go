package containerizer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agora-sched/agora/messages"
)

// BenchmarkLaunchTrue launches `true` and waits for it: as the agent's own
// user, and as another (nobody): what resolving the user, giving it the
// sandbox and its output, and switching to it cost a launch.
func BenchmarkLaunchTrue(b *testing.B) {
	for _, user := range []string{"", "nobody"} {
		name := "as=agent"
		if user != "" {
			name = "as=" + user
		}
		b.Run(name, func(b *testing.B) {
			work := b.TempDir()
			for _, d := range []string{work, filepath.Dir(work)} {
				if err := os.Chmod(d, 0o755); err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < b.N; i++ {
				c, err := Command{}.Launch(b.Context(), LaunchSpec{ID: "t", Sandbox: filepath.Join(work, "sandbox"), User: user,
					Command: &messages.CommandInfo{Value: "true"}})
				if err != nil {
					b.Fatal(err)
				}
				if ex, err := c.Wait(b.Context()); err != nil || !ex.Success() {
					b.Fatalf("%+v %v", ex, err)
				}
			}
		})
	}
}

// BenchmarkOpenSandboxFile opens a task's stdout as the agent's HTTP API
// does (no link followed, regular files only), against a plain os.Open.
func BenchmarkOpenSandboxFile(b *testing.B) {
	work := b.TempDir()
	sb, _ := SandboxPath(work, "f", "t")
	if err := os.MkdirAll(sb, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sb, "stdout"), []byte("out\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, how := range []struct {
		name string
		open func() (*os.File, error)
	}{
		{"beneath", func() (*os.File, error) { return OpenSandboxFile(work, "f", "t", "stdout") }},
		{"os.Open", func() (*os.File, error) { return os.Open(filepath.Join(sb, "stdout")) }},
	} {
		b.Run(how.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				f, err := how.open()
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// BenchmarkLookupUser resolves a user as every launch does (its uid, gid
// and supplementary groups).
func BenchmarkLookupUser(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := LookupUser("nobody"); err != nil {
			b.Fatal(err)
		}
	}
}

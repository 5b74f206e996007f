package main

import (
	"runtime/debug"
	"testing"
)

// Issue 16: `agora version` printed "dev". make build stamps it; a binary
// built with plain go build (or go run, go install) names its commit from
// the build information instead.
func TestBuildVersion(t *testing.T) {
	vcs := func(kv ...string) *debug.BuildInfo {
		info := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
		for i := 0; i < len(kv); i += 2 {
			info.Settings = append(info.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return info
	}
	for _, c := range []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"no build information", nil, "dev"},
		{"no VCS, no module version", vcs(), "dev"},
		{"a clean checkout", vcs("vcs.revision", "f8ba6fe0123456789abcdef", "vcs.modified", "false"), "f8ba6fe01234"},
		{"a tree with changes", vcs("vcs.revision", "f8ba6fe0123456789abcdef", "vcs.modified", "true"), "f8ba6fe01234-dirty"},
		{"go install of a tag", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}}, "v0.3.0"},
	} {
		if got := buildVersion(c.info); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

package main

import (
	"fmt"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=..." (make
// build stamps `git describe`); a binary built otherwise takes it from
// the build information Go records (see buildVersion).
var version = "dev"

type versionCmd struct{}

func (versionCmd) Run() error { fmt.Println("agora", agoraVersion()); return nil }

// agoraVersion is the version this binary reports, in agora version and
// to the master (agents' and masters' info, /state).
func agoraVersion() string {
	if version != "dev" {
		return version
	}
	info, _ := debug.ReadBuildInfo()
	return buildVersion(info)
}

// buildVersion names a build that -ldflags did not stamp: go build and go
// run inside a git checkout record the commit (vcs.revision, and
// vcs.modified when the tree had changes), go install of a tagged module
// its version. Without either, as from a source tarball, it is "dev", so
// that a bug report still shows that the build is not a release.
func buildVersion(info *debug.BuildInfo) string {
	if info == nil {
		return "dev"
	}
	var rev string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "-dirty"
		}
		return rev
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return "dev"
}

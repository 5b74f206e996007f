// Package fetcher puts a task's or executor's files (CommandInfo.uris)
// into its sandbox before it starts, as Mesos' fetcher does: over HTTP(S)
// or from a path on the agent, made executable or unpacked on request,
// every download bounded in size.
//
//	cache, err := fetcher.NewCache(filepath.Join(workDir, "fetcher-cache"), 2<<30)
//	err = fetcher.Fetch(ctx, fetcher.Config{MaxBytes: 1 << 30, Cache: cache, User: user}, info.Command.Uris, sandbox)
//
// URIs marked cache are downloaded once per user into the agent's Cache
// and copied (or unpacked) from there into each sandbox; the others are
// downloaded for each sandbox. A failure is ErrFailed, naming the URI and
// why (the agent ends the task with REASON_FETCHER_FAILED).
package fetcher

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/agora-sched/agora/messages"
)

// DefaultMaxBytes bounds one sandbox's fetched files.
const DefaultMaxBytes = 4 << 30

// Errors.
var (
	// ErrFailed wraps every reason a Fetch fails.
	ErrFailed = errors.New("fetch failed")
	// ErrTooLarge is a fetch past Config.MaxBytes.
	ErrTooLarge = errors.New("fetched files exceed the agent's limit")
)

// Config is how files are fetched.
type Config struct {
	// Client fetches http and https URIs; nil is http.DefaultClient.
	Client *http.Client
	// MaxBytes bounds what one Fetch writes (archives counted unpacked);
	// 0 is DefaultMaxBytes.
	MaxBytes int64
	// Cache keeps the URIs marked cache (nil: every URI is downloaded).
	Cache *Cache
	// User is who the task runs as: cached files are kept per user.
	User string
}

// Fetch fetches uris into sandbox, in order; the first failure ends it
// and says which URI failed and why.
func Fetch(ctx context.Context, cfg Config, uris []*messages.CommandInfo_URI, sandbox string) error {
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	budget := cfg.MaxBytes
	if budget <= 0 {
		budget = DefaultMaxBytes
	}
	for _, u := range uris {
		n, err := fetchOne(ctx, cfg, u, sandbox, budget)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrFailed, u.GetValue(), err)
		}
		budget -= n
	}
	return nil
}

func fetchOne(ctx context.Context, cfg Config, u *messages.CommandInfo_URI, sandbox string, budget int64) (int64, error) {
	var src io.Reader
	name, err := nameOf(u.GetValue())
	if err != nil {
		return 0, err
	}
	if u.GetCache() && cfg.Cache != nil {
		f, release, err := cfg.Cache.open(cfg.User, u.GetValue(), budget, func() (io.ReadCloser, error) {
			return open(ctx, cfg.Client, u.GetValue())
		})
		if err != nil {
			return 0, err
		}
		defer release()
		src = f
	} else {
		rc, err := open(ctx, cfg.Client, u.GetValue())
		if err != nil {
			return 0, err
		}
		defer rc.Close()
		src = rc
	}
	if u.GetOutputFile() != "" {
		name = u.GetOutputFile()
	}
	dst, err := inside(sandbox, name)
	if err != nil {
		return 0, err
	}
	if u.GetExtract() && archive(name) {
		return extract(src, name, sandbox, budget)
	}
	mode := os.FileMode(0o644)
	if u.GetExecutable() {
		mode = 0o755
	}
	return write(dst, io.LimitReader(src, budget+1), mode, budget)
}

// nameOf is the file name a URI is fetched as: its last path element.
// It refuses a URI open cannot fetch.
func nameOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("not a URI: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
		return path.Base(u.Path), nil
	case "file", "":
		if !filepath.IsAbs(u.Path) {
			return "", errors.New("a local path must be absolute")
		}
		return filepath.Base(u.Path), nil
	}
	return "", fmt.Errorf("scheme %q is not supported (http, https, file, or an absolute path)", u.Scheme)
}

// open opens a URI nameOf took: http(s), file://, or an absolute path.
func open(ctx context.Context, client *http.Client, raw string) (io.ReadCloser, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a URI: %w", err)
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
		if err != nil {
			return nil, err
		}
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusOK {
			res.Body.Close()
			return nil, fmt.Errorf("the server answered %s", res.Status)
		}
		return res.Body, nil
	}
	return os.Open(u.Path)
}

// inside is name within dir, refusing one that leaves it.
func inside(dir, name string) (string, error) {
	clean := filepath.Clean(filepath.Join(dir, name))
	if name == "" || name == "." || name == "/" || !strings.HasPrefix(clean, filepath.Clean(dir)+string(filepath.Separator)) {
		return "", fmt.Errorf("file name %q leaves the sandbox", name)
	}
	return clean, nil
}

func write(dst string, r io.Reader, mode os.FileMode, budget int64) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > budget {
		err = fmt.Errorf("%w (%d bytes)", ErrTooLarge, budget)
	}
	if err == nil {
		err = os.Chmod(dst, mode) // past the umask
	}
	return n, err
}

func archive(name string) bool {
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".zip"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// extract unpacks an archive into dir: regular files and directories
// only (links are skipped), none outside dir.
func extract(src io.Reader, name, dir string, budget int64) (int64, error) {
	if strings.HasSuffix(name, ".zip") {
		// zip needs random access: spool it, bounded.
		tmp, err := os.CreateTemp(dir, ".fetch-*.zip")
		if err != nil {
			return 0, err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		n, err := io.Copy(tmp, io.LimitReader(src, budget+1))
		if err != nil {
			return 0, err
		}
		if n > budget {
			return 0, fmt.Errorf("%w (%d bytes)", ErrTooLarge, budget)
		}
		zr, err := zip.NewReader(tmp, n)
		if err != nil {
			return 0, err
		}
		var total int64
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			if !f.Mode().IsRegular() {
				continue
			}
			dst, err := inside(dir, f.Name)
			if err != nil {
				return total, err
			}
			rc, err := f.Open()
			if err != nil {
				return total, err
			}
			n, err := write(dst, io.LimitReader(rc, budget-total+1), f.Mode().Perm()|0o644, budget-total)
			rc.Close()
			total += n
			if err != nil {
				return total, err
			}
		}
		return total, nil
	}
	r := src
	if strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".tgz") {
		gz, err := gzip.NewReader(src)
		if err != nil {
			return 0, err
		}
		defer gz.Close()
		r = gz
	}
	tr := tar.NewReader(r)
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if h.Typeflag != tar.TypeReg {
			continue // directories are made as files need them; links skipped
		}
		dst, err := inside(dir, h.Name)
		if err != nil {
			return total, err
		}
		n, err := write(dst, io.LimitReader(tr, budget-total+1), os.FileMode(h.Mode).Perm()|0o644, budget-total)
		total += n
		if err != nil {
			return total, err
		}
	}
}

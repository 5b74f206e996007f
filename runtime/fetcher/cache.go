package fetcher

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Cache keeps fetched files on the agent for URIs marked cache, as Mesos'
// fetcher cache does: keyed by the URI and the user the task runs as (one
// user's download is never served to another), bounded in bytes, the
// least recently used evicted first. Its directory is the agent's own: it
// is emptied when the cache is made (Mesos, too, starts its cache afresh
// with each agent). Safe for concurrent use: fetches run off the agent's
// actor, several at once.
type Cache struct {
	dir string
	max int64

	mu    sync.Mutex
	used  int64
	lru   *list.List // of *cached, most recently used first
	byKey map[string]*list.Element
	// hits and misses count lookups (Stats).
	hits, misses int64
}

type cached struct {
	key  string
	path string
	size int64
	// users counts fetches copying from the file now: an entry in use is
	// not removed until they are done.
	users   int
	evicted bool
}

// NewCache makes an empty cache of at most maxBytes in dir (emptied
// first).
func NewCache(dir string, maxBytes int64) (*Cache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("fetcher cache: size %d: want more than 0 bytes", maxBytes)
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("fetcher cache: emptying %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fetcher cache: %w", err)
	}
	return &Cache{dir: dir, max: maxBytes, lru: list.New(), byKey: map[string]*list.Element{}}, nil
}

// Stats is how many lookups the cache served and missed, and the bytes
// it holds.
func (c *Cache) Stats() (hits, misses, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses, c.used
}

func cacheKey(user, uri string) string {
	h := sha256.Sum256([]byte(user + "\x00" + uri))
	return hex.EncodeToString(h[:])
}

// open is the cached file for (user, uri), downloading it with download
// on a miss (bounded by limit). release must be called once the file is
// read. A file larger than the whole cache is served once, uncached.
func (c *Cache) open(user, uri string, limit int64, download func() (io.ReadCloser, error)) (f *os.File, release func(), err error) {
	key := cacheKey(user, uri)
	if f, release, ok := c.hit(key); ok {
		return f, release, nil
	}
	src, err := download()
	if err != nil {
		return nil, nil, err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(c.dir, ".download-*")
	if err != nil {
		return nil, nil, fmt.Errorf("fetcher cache: %w", err)
	}
	n, err := io.Copy(tmp, io.LimitReader(src, limit+1))
	if err == nil && n > limit {
		err = fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
	}
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, nil, err
	}
	if n > c.max {
		// Read it once from the spool, then drop it.
		return tmp, func() { tmp.Close(); os.Remove(tmp.Name()) }, nil
	}
	e := c.insert(key, tmp.Name(), n)
	return tmp, func() { tmp.Close(); c.done(e) }, nil
}

func (c *Cache) hit(key string) (*os.File, func(), bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		c.misses++
		return nil, nil, false
	}
	e := el.Value.(*cached)
	f, err := os.Open(e.path)
	if err != nil {
		// Gone from the disk behind the cache's back: forget it, fetch anew.
		c.remove(el)
		c.misses++
		return nil, nil, false
	}
	c.hits++
	e.users++
	c.lru.MoveToFront(el)
	return f, func() { f.Close(); c.done(e) }, true
}

// insert keeps a downloaded file under key, evicting the least recently
// used entries not in use until it fits. Two fetches that missed at once
// both download; the second's copy replaces nothing and is dropped.
func (c *Cache) insert(key, tmp string, size int64) *cached {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &cached{key: key, path: tmp, size: size, users: 1}
	if _, dup := c.byKey[key]; dup {
		e.evicted = true // read by this fetch, then removed
		return e
	}
	final := filepath.Join(c.dir, key)
	if err := os.Rename(tmp, final); err == nil {
		e.path = final
	}
	c.byKey[key] = c.lru.PushFront(e)
	c.used += size
	for el := c.lru.Back(); c.used > c.max && el != nil; {
		prev := el.Prev()
		if v := el.Value.(*cached); v != e {
			c.remove(el)
		}
		el = prev
	}
	return e
}

// remove drops an entry from the books; its file goes once no fetch
// reads it.
func (c *Cache) remove(el *list.Element) {
	e := el.Value.(*cached)
	c.lru.Remove(el)
	delete(c.byKey, e.key)
	c.used -= e.size
	e.evicted = true
	if e.users == 0 {
		os.Remove(e.path)
	}
}

func (c *Cache) done(e *cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.users--
	if e.evicted && e.users == 0 {
		os.Remove(e.path)
	}
}

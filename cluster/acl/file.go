package acl

import (
	"context"
	"fmt"
	"time"

	"github.com/agora-sched/agora/cluster/filewatch"
)

// LoadFile reads and parses the list in path, and returns its text too
// (what WatchFile compares against).
func LoadFile(path string) (*List, []byte, error) {
	b, err := filewatch.Read(path)
	if err != nil {
		return nil, nil, fmt.Errorf("access control list: %w", err)
	}
	l, err := Parse(b)
	if err != nil {
		return nil, nil, fmt.Errorf("access control list %s: %w", path, err)
	}
	return l, b, nil
}

// WatchFile follows the list in path until ctx ends, reading it on each
// tick: when its text differs from current (the text in force), the new
// list goes to apply if it parses; if not, refused gets why, and the list
// in force stays (an operator's typo must not open or close the cluster).
// A file that cannot be read goes to refused too.
func WatchFile(ctx context.Context, path string, current []byte, ticks <-chan time.Time, apply func(*List, []byte), refused func(error)) {
	filewatch.Poll(ctx, path, current, ticks, func(b []byte) {
		l, err := Parse(b)
		if err != nil {
			refused(fmt.Errorf("access control list %s: %w; the list in force stays", path, err))
			return
		}
		apply(l, b)
	}, func(err error) {
		refused(fmt.Errorf("access control list: %w; the list in force stays", err))
	})
}

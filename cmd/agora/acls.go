package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agora-sched/agora/actors/master"
	"github.com/agora-sched/agora/cluster/acl"
	"github.com/agora-sched/agora/cluster/credentials"
	"github.com/agora-sched/agora/cluster/filewatch"
	"github.com/agora-sched/agora/cluster/kvconfig"
	"github.com/agora-sched/agora/cluster/security"
)

// aclsFromConsul is the --acls value that reads the list from the
// election's Consul KV.
const aclsFromConsul = "consul"

// aclVersion is one list in force, with its text and where it came from.
type aclVersion struct {
	list   *acl.List
	text   []byte
	source string
}

// accessControl is a master node's access control list and credentials:
// loaded at start, followed for changes (a file polled, a Consul key
// watched), and handed to whichever master actor leads.
type accessControl struct {
	m    *masterRole
	acls atomic.Pointer[aclVersion]
	// creds is the credentials in force (nil: none configured).
	creds atomic.Pointer[credentials.Set]
	// consulKey is set when the list lives in Consul KV.
	consulKey string
}

// newAccessControl loads --acls and --credentials: a node whose list or
// credentials do not load does not start.
func newAccessControl(m *masterRole) (*accessControl, error) {
	a := &accessControl{m: m}
	a.acls.Store(&aclVersion{})
	c := m.c
	if (c.ACLs != "" || c.Credentials != "") && c.ReloadInterval <= 0 {
		return nil, fmt.Errorf("--reload-interval %s: want a positive duration such as 2s", c.ReloadInterval)
	}
	switch {
	case c.ACLs == "":
	case c.ACLs == aclsFromConsul:
		if m.consul == nil {
			return nil, errors.New("--acls consul: the list lives in the election's Consul KV; it needs --election consul://host:port/<cluster> (or give --acls a file)")
		}
		a.consulKey = kvconfig.ACLsKey(m.cluster)
	default:
		l, text, err := acl.LoadFile(c.ACLs)
		if err != nil {
			return nil, fmt.Errorf("--acls: %w", err)
		}
		a.acls.Store(&aclVersion{list: l, text: text, source: "file " + c.ACLs})
	}
	if c.Credentials != "" {
		s, err := credentials.LoadFile(c.Credentials)
		if err != nil {
			return nil, fmt.Errorf("--credentials: %w", err)
		}
		a.creds.Store(s)
	}
	return a, nil
}

// list is the access control list in force (nil: none).
func (a *accessControl) list() *acl.List { return a.acls.Load().list }

// authenticator is the credentials in force, for the HTTP gate.
func (a *accessControl) authenticator() security.Authenticator {
	if s := a.creds.Load(); s != nil {
		return s
	}
	return nil
}

// run loads the Consul list (if there) and follows every source until ctx
// ends.
func (a *accessControl) run(ctx context.Context) error {
	c, log := a.m.c, a.m.logger
	if a.consulKey != "" {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		l, text, index, err := kvconfig.LoadACLs(lctx, a.m.consul, a.consulKey)
		cancel()
		if err != nil {
			return fmt.Errorf("--acls consul: %w", err)
		}
		if l == nil {
			log.Warn("no access control list in Consul yet: everything is allowed to every authenticated client until one is stored (agora acls set FILE)", "key", a.consulKey)
		}
		a.acls.Store(&aclVersion{list: l, text: text, source: "consul " + a.consulKey})
		go kvconfig.ACLWatch{Client: a.m.consul, Key: a.consulKey, Index: index, Text: text,
			Apply: func(l *acl.List, text []byte) { a.apply(l, text, "consul "+a.consulKey) }, Refused: a.refused,
			Failed: func(err error) { log.Warn("access control list watch", "err", err) }}.Run(ctx)
	} else if c.ACLs != "" {
		go a.poll(ctx, func(ticks <-chan time.Time) {
			acl.WatchFile(ctx, c.ACLs, a.acls.Load().text, ticks, func(l *acl.List, text []byte) { a.apply(l, text, "file "+c.ACLs) }, a.refused)
		})
	}
	if c.Credentials != "" {
		first, _ := filewatch.Read(c.Credentials)
		go a.poll(ctx, func(ticks <-chan time.Time) {
			filewatch.Poll(ctx, c.Credentials, first, ticks, func(b []byte) {
				s, err := credentials.Parse(b)
				if err != nil {
					log.Error("credentials file refused; the credentials in force stay", "file", c.Credentials, "err", err)
					return
				}
				a.creds.Store(s)
				log.Info("credentials reloaded", "file", c.Credentials, "credentials", s.Len())
			}, func(err error) {
				log.Error("credentials file unreadable; the credentials in force stay", "err", err)
			})
		})
	}
	return nil
}

// poll runs follow with a ticker of --reload-interval.
func (a *accessControl) poll(ctx context.Context, follow func(<-chan time.Time)) {
	t := time.NewTicker(a.m.c.ReloadInterval)
	defer t.Stop()
	follow(t.C)
}

// apply puts a new list in force: for the HTTP API at once, and for the
// core through the leading master actor. A term that starts meanwhile
// reads it from here (the seat builds a term and names its master under
// one lock, so the list reaches either the term's config or its actor).
func (a *accessControl) apply(l *acl.List, text []byte, source string) {
	a.acls.Store(&aclVersion{list: l, text: text, source: source})
	if pid := a.m.seat.Master(); pid != nil {
		a.m.node.System.Root.Send(pid, master.ReplaceACLs{List: l})
	}
	a.m.metrics.ACLsLoaded(true)
	a.m.logger.Info("access control list loaded", "source", source)
}

func (a *accessControl) refused(err error) {
	a.m.metrics.ACLsLoaded(false)
	a.m.logger.Error("access control list refused", "err", err)
}

// httpAccess is the master HTTP API's view of it.
func (a *accessControl) httpAccess() *master.HTTPAccess {
	return &master.HTTPAccess{ACLs: a.list, Metrics: a.m.metrics, Logger: a.m.logger,
		Text: func() ([]byte, string) { v := a.acls.Load(); return v.text, v.source },
		Set:  a.set,
	}
}

// set stores a new list where the masters read it: Consul KV; a file is
// the operator's to edit.
func (a *accessControl) set(ctx context.Context, text []byte) error {
	switch {
	case a.consulKey != "":
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return kvconfig.SaveACLs(ctx, a.m.consul, a.consulKey, text)
	case a.m.c.ACLs != "":
		return fmt.Errorf("this master reads its access control list from the file %s: edit that file (on every master); it is reloaded within %s", a.m.c.ACLs, a.m.c.ReloadInterval)
	}
	return errors.New("this master loads no access control list: start masters with --acls FILE, or --acls consul with --election")
}

// The operator's commands.

type aclsCmd struct {
	Get aclsGetCmd `cmd:"" help:"Print the access control list the master enforces."`
	Set aclsSetCmd `cmd:"" help:"Replace the access control list (masters started with --acls consul; with a file, edit the file)."`
}

type aclsGetCmd struct {
	masterFlags
}

func (c *aclsGetCmd) Run(*slog.Logger) error {
	body, err := masterCall(c.TLS, c.Auth, c.MasterHTTP, c.Timeout, http.MethodGet, "/acls", nil)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(body)
	return err
}

type aclsSetCmd struct {
	masterFlags
	File string `arg:"" help:"The list (JSON; see the README's \"A secured cluster\"); - reads standard input."`
}

func (c *aclsSetCmd) Run(*slog.Logger) error {
	var text []byte
	var err error
	if c.File == "-" {
		text, err = io.ReadAll(io.LimitReader(os.Stdin, filewatch.MaxSize+1))
	} else {
		text, err = filewatch.Read(c.File)
	}
	if err != nil {
		return err
	}
	if _, err := acl.Parse(text); err != nil {
		return fmt.Errorf("%s: %w", c.File, err)
	}
	body, err := masterCall(c.TLS, c.Auth, c.MasterHTTP, c.Timeout, http.MethodPut, "/acls", text)
	if err != nil {
		return err
	}
	fmt.Print(strings.TrimSpace(string(body)) + "\n")
	return nil
}

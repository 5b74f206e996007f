package containerizer

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
)

// User is who a task runs as, resolved on the agent: a task names its user
// (CommandInfo.user, else FrameworkInfo.user, else the agent's default),
// and the agent runs it with that user's uid, primary gid and supplementary
// groups, as Mesos does with --switch_user.
type User struct {
	Name     string
	UID, GID uint32
	// Groups are the user's supplementary groups (from the group database).
	Groups []uint32
	Home   string
}

var (
	// ErrUnknownUser: the user a task names does not exist on the agent.
	ErrUnknownUser = errors.New("unknown user")
	// ErrCannotSwitchUser: the agent does not run as root, so it can run
	// tasks only as its own user.
	ErrCannotSwitchUser = errors.New("cannot switch user")
)

// LookupUser resolves a user name on this machine.
func LookupUser(name string) (User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if errors.As(err, new(user.UnknownUserError)) {
			return User{}, fmt.Errorf("%w: %q does not exist on this agent: create it there, or run the task as another user (CommandInfo.user, FrameworkInfo.user, or the agent's --task-user)", ErrUnknownUser, name)
		}
		return User{}, fmt.Errorf("look up user %q: %w", name, err)
	}
	return resolved(u)
}

func resolved(u *user.User) (User, error) {
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return User{}, fmt.Errorf("user %q has a non-numeric uid or gid: %w", u.Username, err)
	}
	out := User{Name: u.Username, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}
	ids, err := u.GroupIds()
	if err != nil {
		return User{}, fmt.Errorf("supplementary groups of user %q: %w", u.Username, err)
	}
	for _, s := range ids {
		g, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return User{}, fmt.Errorf("user %q is in group %q, which is not numeric: %w", u.Username, s, err)
		}
		if !slices.Contains(out.Groups, uint32(g)) {
			out.Groups = append(out.Groups, uint32(g))
		}
	}
	return out, nil
}

// switchTo resolves the user a task runs as. It returns nil when the task
// runs as the agent's own user (name empty, or naming the agent's user):
// then nothing is switched. An agent that is not root can run tasks only
// as itself.
func switchTo(name string) (*User, error) {
	if name == "" {
		return nil, nil
	}
	u, err := LookupUser(name)
	if err != nil {
		return nil, err
	}
	euid := os.Geteuid()
	switch {
	case u.UID == uint32(euid) && euid != 0:
		return nil, nil
	case euid != 0:
		return nil, fmt.Errorf("%w: the agent does not run as root, so it runs tasks only as its own user, not as %q: run the agent as root, or run the task as the agent's user", ErrCannotSwitchUser, name)
	}
	return &u, nil
}

// agentUser is the agent's own user, for a task that does not switch.
func agentUser() User {
	if u, err := user.Current(); err == nil {
		if r, err := resolved(u); err == nil {
			return r
		}
	}
	return User{Name: strconv.Itoa(os.Geteuid()), UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()), Home: "/"}
}

package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/rezup/rezup/materialize"
)

// A revision is named on the command line (diff, status --packages) the
// way `rezup status NAME` shows it, or by a unique prefix of that name, or
// relative to the latest: "latest" is the revision status marks latest,
// "latest~N" the Nth ready revision before it in the same root. (A
// negative number cannot be used: "-1" reads as a flag.)

// revisionSpec matches what names a revision: a timestamp or a prefix of
// one, or latest[~N]. The first argument of `rezup diff` is a container
// name unless it matches. Compiled on first use, not at every start.
var revisionSpec = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9][0-9.]*|latest(~[0-9]+)?)$`) })

// revisionSet is every revision `rezup status NAME` lists, remote first.
type revisionSet struct {
	container string
	noneErr   error                   // the error when it has no ready revision: noRevisionError's
	remote    []*materialize.Revision // newest first; nil with --local or no remote root
	local     []*materialize.Revision // newest first
}

// revisionSet lists container name's revisions in its remote root (unless
// local) and its local root.
func (a *app) revisionSet(name string, local bool) (*revisionSet, error) {
	c, err := a.openContainer(name)
	if err != nil {
		return nil, err
	}
	s := &revisionSet{container: name, noneErr: noRevisionError(c, local)}
	if s.local, err = c.root.Revisions(name); err != nil {
		return nil, err
	}
	if c.hasRemote && !local {
		if s.remote, err = c.remote.Revisions(name); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ready keeps the ready revisions of revs.
func ready(revs []*materialize.Revision) []*materialize.Revision {
	var out []*materialize.Revision
	for _, r := range revs {
		if r.Ready() {
			out = append(out, r)
		}
	}
	return out
}

// line is the ready revisions `latest` and `latest~N` count in: the
// remote root's when it has any, as `rezup use` follows it, else the
// local root's.
func (s *revisionSet) line() []*materialize.Revision {
	if r := ready(s.remote); len(r) > 0 {
		return r
	}
	return ready(s.local)
}

// hint is the hint of every error about a named revision.
func (s *revisionSet) hint() string {
	return fmt.Sprintf("`rezup status %s` lists its revisions", s.container)
}

// latest is the revision `rezup status NAME` marks latest.
func (s *revisionSet) latest() (*materialize.Revision, error) {
	l := s.line()
	if len(l) == 0 {
		return nil, s.noneErr
	}
	return l[0], nil
}

// find returns the revision spec names (see revisionSpec). A name in both
// roots (a remote revision and its local mirror) is the remote one.
func (s *revisionSet) find(spec string) (*materialize.Revision, error) {
	if !revisionSpec().MatchString(spec) {
		return nil, usagef("%q names no revision: use a revision name as `rezup status %s` shows it, a unique prefix of one, latest or latest~N", spec, s.container)
	}
	if n, ok := strings.CutPrefix(spec, "latest"); ok {
		back := 0
		if n != "" {
			var err error
			if back, err = strconv.Atoi(n[1:]); err != nil {
				return nil, usagef("%q: %s is not a number of revisions", spec, n[1:])
			}
		}
		if _, err := s.latest(); err != nil {
			return nil, err
		}
		l := s.line()
		if back >= len(l) {
			return nil, withHint(fmt.Errorf("%s: container %s has %d ready revision(s) in its %s root", spec, s.container, len(l), rootWord(l[0])), "%s", s.hint())
		}
		return l[back], nil
	}
	// A name is matched whole first; a prefix is unique among the ready
	// revisions (one being written does not make it ambiguous).
	var matches, unready []*materialize.Revision
	seen := map[string]bool{}
	for _, r := range append(append([]*materialize.Revision{}, s.remote...), s.local...) {
		if seen[r.Name] || !strings.HasPrefix(r.Name, spec) {
			continue
		}
		seen[r.Name] = true
		switch {
		case r.Name == spec:
			matches, unready = []*materialize.Revision{r}, nil
		case r.Ready():
			matches = append(matches, r)
		default:
			unready = append(unready, r)
		}
		if r.Name == spec {
			break
		}
	}
	if len(matches) == 0 && len(unready) > 0 {
		matches = unready[:1]
	}
	switch {
	case len(matches) == 0:
		return nil, withHint(fmt.Errorf("container %s has no revision %s", s.container, spec), "%s", s.hint())
	case len(matches) > 1:
		return nil, withHint(fmt.Errorf("revision %s of %s is ambiguous: %d revisions start with it (%s, %s…)", spec, s.container, len(matches), matches[0].Name, matches[1].Name),
			"give more digits; %s", s.hint())
	}
	r := matches[0]
	if !r.Ready() {
		why := "not ready (being written, or left by a crash)"
		if r.Err != nil {
			why = fmt.Sprintf("unreadable (%v)", r.Err)
		}
		return nil, withHint(fmt.Errorf("revision %s of %s is %s", r.Name, s.container, why), "%s", s.hint())
	}
	return r, nil
}

// before is the ready revision just older than rev in rev's own root.
func (s *revisionSet) before(rev *materialize.Revision) (*materialize.Revision, error) {
	revs := ready(s.local)
	if rev.Remote {
		revs = ready(s.remote)
	}
	for i, r := range revs {
		if r.Name == rev.Name && i+1 < len(revs) {
			return revs[i+1], nil
		}
	}
	return nil, withHint(fmt.Errorf("container %s has no ready revision before %s in its %s root: nothing to compare with", s.container, rev.Name, rootWord(rev)),
		"%s; name both revisions to compare others", s.hint())
}

// rootWord is "remote" or "local", as status says where a revision is.
func rootWord(r *materialize.Revision) string {
	if r.Remote {
		return "remote"
	}
	return "local"
}

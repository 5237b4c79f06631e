package pyresolve

import (
	"fmt"
	"strings"
)

// ChangeKind is what happened to a distribution between two locks.
type ChangeKind string

// The change kinds.
const (
	Added      ChangeKind = "added"
	Removed    ChangeKind = "removed"
	Upgraded   ChangeKind = "upgraded"
	Downgraded ChangeKind = "downgraded"
	// SourceChanged: same version, but what the key counts of its source
	// differs (a rebuilt wheel, another commit, edited sources).
	SourceChanged ChangeKind = "source changed"
)

// Change is one distribution of one venv that differs.
type Change struct {
	Venv string
	Name string
	Kind ChangeKind
	Old  *Dist // nil when Added
	New  *Dist // nil when Removed
}

// Diff returns what changed from old to new, venv by venv (new's order,
// then venvs only old has), each venv's changes sorted by name. A nil lock
// counts as empty. Versions are compared with CompareVersions; a moved
// archive with the same file name and hash is no change (as in the key).
func Diff(old, new *Resolution) []Change {
	var oldV, newV []VenvResolution
	if old != nil {
		oldV = old.sorted().Venvs
	}
	if new != nil {
		newV = new.sorted().Venvs
	}
	find := func(vs []VenvResolution, name string) VenvResolution {
		for _, v := range vs {
			if v.Name == name {
				return v
			}
		}
		return VenvResolution{Name: name}
	}
	var names []string
	seen := map[string]bool{}
	for _, vs := range [][]VenvResolution{newV, oldV} {
		for _, v := range vs {
			if !seen[v.Name] {
				seen[v.Name] = true
				names = append(names, v.Name)
			}
		}
	}
	var out []Change
	for _, name := range names {
		out = append(out, diffVenv(find(oldV, name), find(newV, name))...)
	}
	return out
}

// diffVenv merges two venvs' dists, both sorted by name.
func diffVenv(old, new VenvResolution) []Change {
	var out []Change
	i, j := 0, 0
	for i < len(old.Dists) || j < len(new.Dists) {
		switch {
		case j == len(new.Dists) || i < len(old.Dists) && old.Dists[i].Name < new.Dists[j].Name:
			out = append(out, Change{Venv: new.Name, Name: old.Dists[i].Name, Kind: Removed, Old: &old.Dists[i]})
			i++
		case i == len(old.Dists) || new.Dists[j].Name < old.Dists[i].Name:
			out = append(out, Change{Venv: new.Name, Name: new.Dists[j].Name, Kind: Added, New: &new.Dists[j]})
			j++
		default:
			o, n := &old.Dists[i], &new.Dists[j]
			c := Change{Venv: new.Name, Name: n.Name, Old: o, New: n}
			switch v := CompareVersions(o.Version, n.Version); {
			case v < 0:
				c.Kind = Upgraded
			case v > 0:
				c.Kind = Downgraded
			case o.Version != n.Version || o.Source.key() != n.Source.key():
				// 1.0 and 1.0.0 are equal versions but different files.
				c.Kind = SourceChanged
			}
			if c.Kind != "" {
				out = append(out, c)
			}
			i++
			j++
		}
	}
	return out
}

// FormatDiff writes changes for people, one line each:
//
//	rez: upgraded rez 2.113.0 -> 2.114.0
//	rez: added fake-lib 1.0
//	shared: source changed foo 1.0 (sha256 1ac89a8ad6c0 -> sha256 984408ed531b)
//
// It returns "" for no changes.
func FormatDiff(changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		switch c.Kind {
		case Added:
			fmt.Fprintf(&b, "%s: added %s %s\n", c.Venv, c.Name, c.New.Version)
		case Removed:
			fmt.Fprintf(&b, "%s: removed %s %s\n", c.Venv, c.Name, c.Old.Version)
		case Upgraded, Downgraded:
			fmt.Fprintf(&b, "%s: %s %s %s -> %s\n", c.Venv, c.Kind, c.Name, c.Old.Version, c.New.Version)
		default:
			fmt.Fprintf(&b, "%s: %s %s %s (%s -> %s)\n", c.Venv, c.Kind, c.Name, c.New.Version,
				describe(c.Old.Source), describe(c.New.Source))
		}
	}
	return b.String()
}

// describe is a short identity of a source for FormatDiff.
func describe(s Source) string {
	short := func(h string) string { return h[:min(12, len(h))] }
	switch {
	case s.Kind == KindVCS:
		return "commit " + short(s.Commit)
	case s.Kind == KindDir:
		return "tree " + short(s.TreeSHA256)
	case s.SHA256 != "":
		return "sha256 " + short(s.SHA256)
	default:
		return s.URL
	}
}

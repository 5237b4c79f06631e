package pyresolve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Version is the lock file format this package writes and reads.
const Version = 1

// Kind is where a distribution comes from.
type Kind string

// The source kinds; see the package doc.
const (
	KindIndex Kind = "index"
	KindFile  Kind = "file"
	KindURL   Kind = "url"
	KindVCS   Kind = "vcs"
	KindDir   Kind = "dir"
)

// Resolution is the resolution of every venv of a revision.
type Resolution struct {
	Version int              `json:"version"`
	Venvs   []VenvResolution `json:"venvs"`
}

// VenvResolution is the resolution of one venv: every distribution it installs.
type VenvResolution struct {
	Name  string `json:"name"`
	Dists []Dist `json:"dists"`
}

// Dist is one locked distribution.
type Dist struct {
	Name      string `json:"name"` // canonical (PEP 503)
	Version   string `json:"version"`
	Requested bool   `json:"requested,omitempty"` // named by the requirements, not pulled in as a dependency
	Source    Source `json:"source"`
}

// Source is where a Dist comes from; which fields are set depends on Kind.
type Source struct {
	Kind Kind `json:"kind"`
	// URL: the archive's URL (index, file, url) or the repository's (vcs).
	URL string `json:"url,omitempty"`
	// SHA256: the archive's sha256 in hex (index, file, url), when known.
	SHA256 string `json:"sha256,omitempty"`
	// VCS, RequestedRevision, Commit: a vcs source.
	VCS               string `json:"vcs,omitempty"`
	RequestedRevision string `json:"requested_revision,omitempty"`
	Commit            string `json:"commit,omitempty"`
	// Path, TreeSHA256, Editable: a dir source. TreeSHA256 is rezup's
	// content hash (TreeHash), not an artifact hash pip could check.
	Path       string `json:"path,omitempty"`
	TreeSHA256 string `json:"tree_sha256,omitempty"`
	Editable   bool   `json:"editable,omitempty"`
}

// ErrVersion is returned by Parse for a lock of a format it does not read.
var ErrVersion = errors.New("unsupported lock version")

// nameRun, and this package's other regexps, compile on first use: a
// launch never needs them.
var nameRun = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[-_.]+`) })

// isHexSHA256 says whether s is a sha256 in lowercase hex (a regexp with
// {64} would cost every rezup start its 64-fold compilation).
func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// CanonicalName is name normalized per PEP 503.
func CanonicalName(name string) string {
	return strings.ToLower(nameRun().ReplaceAllString(name, "-"))
}

// Marshal returns l as indented JSON, dists sorted by name, ending in a
// newline. It refuses a lock Parse would refuse.
func (l *Resolution) Marshal() ([]byte, error) {
	c := l.sorted()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("marshal lock: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal lock: %w", err)
	}
	return append(b, '\n'), nil
}

// Parse reads a lock written by Marshal. Unknown fields, an unknown
// version and inconsistent entries are errors.
func Parse(data []byte) (*Resolution, error) {
	// The version is read first, on its own, so that a newer format says
	// so rather than failing on a field it added. This also refuses
	// trailing data after the object.
	var head struct {
		Version json.RawMessage `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("parse lock: not a lock file (%v)", err)
	}
	if string(head.Version) != "1" {
		v := string(head.Version)
		if v == "" {
			v = "missing"
		}
		return nil, fmt.Errorf("parse lock: %w %s (this rezup reads version %d): upgrade rezup", ErrVersion, v, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var l Resolution
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("parse lock: %v", err)
	}
	if err := l.validate(); err != nil {
		return nil, fmt.Errorf("parse lock: %w", err)
	}
	c := l.sorted()
	return &c, nil
}

// sorted is a copy of l with each venv's dists sorted by name.
func (l *Resolution) sorted() Resolution {
	c := Resolution{Version: l.Version, Venvs: make([]VenvResolution, len(l.Venvs))}
	for i, v := range l.Venvs {
		c.Venvs[i] = v.sorted()
	}
	return c
}

func (v VenvResolution) sorted() VenvResolution {
	d := slices.Clone(v.Dists)
	slices.SortStableFunc(d, func(a, b Dist) int { return strings.Compare(a.Name, b.Name) })
	return VenvResolution{Name: v.Name, Dists: d}
}

func (l *Resolution) validate() error {
	if l.Version != Version {
		return fmt.Errorf("%w %d (this rezup writes version %d)", ErrVersion, l.Version, Version)
	}
	seen := map[string]bool{}
	for _, v := range l.Venvs {
		if v.Name == "" {
			return errors.New("a venv has no name")
		}
		if seen[v.Name] {
			return fmt.Errorf("venv %q is listed twice", v.Name)
		}
		seen[v.Name] = true
		if err := v.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (v VenvResolution) validate() error {
	seen := map[string]bool{}
	for _, d := range v.Dists {
		if d.Name == "" || d.Name != CanonicalName(d.Name) {
			return fmt.Errorf("venv %s: distribution name %q is not canonical", v.Name, d.Name)
		}
		if seen[d.Name] {
			return fmt.Errorf("venv %s: %s is listed twice", v.Name, d.Name)
		}
		seen[d.Name] = true
		if d.Version == "" || strings.ContainsAny(d.Version, " \t\r\n;#") {
			return fmt.Errorf("venv %s: %s has a bad version %q", v.Name, d.Name, d.Version)
		}
		if err := d.Source.validate(); err != nil {
			return fmt.Errorf("venv %s: %s: %w", v.Name, d.Name, err)
		}
	}
	return nil
}

func (s Source) validate() error {
	if s.SHA256 != "" && !isHexSHA256(s.SHA256) {
		return fmt.Errorf("sha256 %q is not 64 lowercase hex digits", s.SHA256)
	}
	if s.TreeSHA256 != "" && !isHexSHA256(s.TreeSHA256) {
		return fmt.Errorf("tree_sha256 %q is not 64 lowercase hex digits", s.TreeSHA256)
	}
	// A requirements file has one requirement a line, and a URL has its
	// spaces escaped.
	if strings.ContainsAny(s.URL+s.Commit+s.VCS+s.RequestedRevision, " \t\r\n") || strings.ContainsAny(s.Path, "\r\n") {
		return errors.New("source has whitespace in a url, vcs or commit, or a newline in a path")
	}
	switch s.Kind {
	case KindIndex, KindFile, KindURL:
		if s.URL == "" {
			return fmt.Errorf("%s source has no url", s.Kind)
		}
		if s.Path != "" || s.TreeSHA256 != "" || s.Commit != "" || s.VCS != "" || s.Editable {
			return fmt.Errorf("%s source has fields of another kind", s.Kind)
		}
	case KindVCS:
		if s.URL == "" || s.VCS == "" || s.Commit == "" {
			return errors.New("vcs source needs url, vcs and commit")
		}
		if s.Path != "" || s.TreeSHA256 != "" || s.SHA256 != "" {
			return errors.New("vcs source has fields of another kind")
		}
	case KindDir:
		if s.Path == "" || s.TreeSHA256 == "" {
			return errors.New("dir source needs path and tree_sha256")
		}
		if s.URL != "" || s.SHA256 != "" || s.Commit != "" || s.VCS != "" {
			return errors.New("dir source has fields of another kind")
		}
	default:
		return fmt.Errorf("unknown source kind %q (want index, file, url, vcs or dir)", s.Kind)
	}
	return nil
}

// Venv returns the lock of the venv called name, and whether there is one.
func (l *Resolution) Venv(name string) (VenvResolution, bool) {
	for _, v := range l.Venvs {
		if v.Name == name {
			return v, true
		}
	}
	return VenvResolution{}, false
}

// keySource is the part of a Source that decides a build's content; see
// the package doc.
type keySource struct {
	Kind     Kind   `json:"kind"`
	File     string `json:"file,omitempty"`
	URL      string `json:"url,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	VCS      string `json:"vcs,omitempty"`
	Commit   string `json:"commit,omitempty"`
	Path     string `json:"path,omitempty"`
	Tree     string `json:"tree_sha256,omitempty"`
	Editable bool   `json:"editable,omitempty"`
}

func (s Source) key() keySource {
	k := keySource{Kind: s.Kind}
	switch s.Kind {
	case KindIndex, KindFile, KindURL:
		if s.SHA256 != "" {
			k.File, k.SHA256 = archiveName(s.URL), s.SHA256
		} else {
			k.URL = s.URL
		}
	case KindVCS:
		k.VCS, k.URL, k.Commit = s.VCS, s.URL, s.Commit
	case KindDir:
		k.Tree, k.Editable = s.TreeSHA256, s.Editable
		if s.Editable {
			k.Path = s.Path
		}
	}
	return k
}

// archiveName is the file name at the end of an archive URL, without its
// query or fragment.
func archiveName(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return path.Base(u)
}

// KeyBytes returns the canonical bytes of l to hash into a build key:
// compact JSON of each venv's name and, per dist sorted by name, its name,
// version and the key part of its source (see the package doc). Two locks
// with equal KeyBytes install the same files.
func (l *Resolution) KeyBytes() ([]byte, error) {
	type keyDist struct {
		Name    string    `json:"name"`
		Version string    `json:"version"`
		Source  keySource `json:"source"`
	}
	type keyVenv struct {
		Name  string    `json:"name"`
		Dists []keyDist `json:"dists"`
	}
	c := l.sorted()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("lock key: %w", err)
	}
	out := struct {
		Version int       `json:"version"`
		Venvs   []keyVenv `json:"venvs"`
	}{Version: c.Version, Venvs: []keyVenv{}}
	for _, v := range c.Venvs {
		kv := keyVenv{Name: v.Name, Dists: []keyDist{}}
		for _, d := range v.Dists {
			kv.Dists = append(kv.Dists, keyDist{Name: d.Name, Version: d.Version, Source: d.Source.key()})
		}
		out.Venvs = append(out.Venvs, kv)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("lock key: %w", err)
	}
	return b, nil
}

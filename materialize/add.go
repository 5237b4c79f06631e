package materialize

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyresolve"
	"github.com/rezup/rezup/recipe"
)

// AddRequest is what `rezup add` asks: a new revision of a container from
// its recipe, in the local root or published to a remote root.
type AddRequest struct {
	// Container is the container's name.
	Container string
	// RecipePath is the container's recipe file, Recipe its parse
	// (strict) and RecipeData its bytes, frozen into the revision.
	// RecipeData nil means the file does not exist: Default is written
	// there first (never over a file: one another process wrote meanwhile
	// is read instead), and Recipe is ignored.
	RecipePath string
	Recipe     *recipe.Recipe
	RecipeData []byte
	Default    []byte
	// DefaultNote, when not empty, says where Default's settings came from,
	// in the report that it was written ("with pip.options of ~/rezup.toml").
	DefaultNote string
	// Fresh draws a new [build] salt: a new build of the same resolution.
	Fresh bool
	// Frozen builds the latest revision's lock.json again, without
	// running pip's resolver (no index needed).
	Frozen bool
	// Remote, when not nil, is the remote root the revision is written
	// to (add --remote): the build is published to the shared cache and
	// the revision pins the archive.
	Remote *Root
	// Signer, when not nil, signs the remote revision (see
	// RevisionTrust): nodes that require signed revisions launch it.
	Signer *cache.SecretKey
	// Strict refuses a remote add whose recipe Python rezup nodes read
	// differently (recipe.PythonDifferences), with a
	// *PythonDifferencesError; without it, and without the recipe's
	// [root] python-compatible, each difference is a warning.
	Strict bool
}

// Added is what Add made.
type Added struct {
	Revision *Revision
	Manifest *Manifest
	// Reused says the build was in the store already.
	Reused bool
	// Pin is the archive published for the build and pinned by a remote
	// revision; nil for a local one, or with no shared cache.
	Pin *cache.Entry
}

var (
	// ErrNothingFrozen means add --frozen has no lock.json to build: the
	// container has no revision, or its latest has none.
	ErrNothingFrozen = errors.New("no lock to build")
	// ErrNotPublished means add --remote found, once the build was ready,
	// that it could not hand it on: it came from the shared cache without
	// a trusted signature.
	ErrNotPublished = errors.New("not published")
	// ErrPythonDifferences means a strict add --remote found what Python
	// rezup nodes read differently in the recipe (see
	// PythonDifferencesError).
	ErrPythonDifferences = errors.New("read differently by Python rezup nodes")
)

// PythonDifferencesError is a remote add refused because Python rezup
// nodes read its recipe differently from this rezup, or cannot read it:
// the add was strict (AddRequest.Strict), or the recipe asks for it
// ([root] python-compatible = true, then Setting is set). Nothing was
// made. Its message is one line, then the differences, one a line.
type PythonDifferencesError struct {
	File        string
	Differences []recipe.PythonDifference
	Setting     bool
}

func (e *PythonDifferencesError) Error() string {
	why := "--strict"
	if e.Setting {
		why = "[root] python-compatible"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "add --remote: Python rezup nodes read %s differently in %d %s, refused (%s)", e.File, len(e.Differences), plural(len(e.Differences), "place", "places"), why)
	for _, d := range e.Differences {
		b.WriteString("\n" + d.String())
	}
	return b.String()
}

func (e *PythonDifferencesError) Unwrap() error { return ErrPythonDifferences }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// StepError is a failure of Add's resolution ("resolve"), build ("build")
// or publication ("publish"): the caller tells the user what to fix by
// Step. Its message is Err's.
type StepError struct {
	Step string
	Err  error
	// Frozen says that add --frozen could build instead: the container's
	// latest revision has a lock.json (resolve only).
	Frozen bool
}

func (e *StepError) Error() string { return e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// sentinelError is a message of its own that errors.Is matches with a
// sentinel.
type sentinelError struct {
	sentinel error
	msg      string
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.sentinel }

// Add makes a new revision of req.Container: it resolves the recipe with
// pip into a resolution (lock.json), or takes the latest revision's with
// Frozen; computes the key that covers it; reuses the build of that key,
// or fetches or builds it (see Materialize); and records the revision,
// in the local root, or in req.Remote after publishing the build to the
// shared cache and pinning its archive.
//
// The salt rule: Fresh draws a new [build] salt; otherwise, when the
// recipe has no salt of its own and the resolution equals the latest
// revision's, that revision's salt is kept, so that a fresh build is not
// undone by the next plain add. A resolution that changed drops it.
//
// The publisher's trust rule (Remote): a build already in the store is
// published only if it was built here, fetched by a pin, or fetched from
// an entry a trusted key signed (Origin.Trusted); any other is moved aside
// and built again (or, while something runs in it, built afresh under a
// new salt). Only entries a trusted key signed are fetched by key.
//
// An add that fails takes back what it created in the local root and
// nobody uses (a new container with no revision, a lock file of a build
// that is not there, an empty .store, a new .tmp, the root itself when it
// was new); what was there stays.
func (s *Store) Add(ctx context.Context, req AddRequest) (added *Added, err error) {
	before := snapshotRoot(s.opt.Root)
	defer func() {
		if err != nil {
			before.undo(s)
		}
	}()
	name, forPublish := req.Container, req.Remote != nil
	data, r := req.RecipeData, req.Recipe
	if data == nil {
		if data, err = s.writeDefaultRecipe(req.RecipePath, req.Default, req.DefaultNote); err != nil {
			return nil, err
		}
		if r, _, err = recipe.Parse(req.RecipePath, data); err != nil {
			return nil, err
		}
	}
	if tools := EditTools(r); forPublish && len(tools) > 0 {
		// Refused before building: what the nodes would run is the
		// source tree on this machine.
		return nil, &sentinelError{ErrEditMode, fmt.Sprintf("add --remote: %s is installed with edit = true, and an edit-mode build is never published (it points into a source tree on this machine)", strings.Join(tools, ", "))}
	}
	if forPublish {
		// What Python nodes following the remote root would read
		// otherwise: said before anything is built, and refused when
		// asked. (The salt rezup may add below is a plain string.)
		diffs, err := recipe.PythonDifferences(req.RecipePath, data)
		if err != nil {
			return nil, err
		}
		if strict := req.Strict || r.Root.PythonCompatible; strict && len(diffs) > 0 {
			return nil, &PythonDifferencesError{File: req.RecipePath, Differences: diffs, Setting: !req.Strict}
		}
		for _, d := range diffs {
			s.opt.Reporter.Warnf("%s", d)
		}
	}
	setSalt := func(salt string) error {
		if data, err = recipe.WithSalt(req.RecipePath, data, salt); err != nil {
			return err
		}
		r, _, err = recipe.Parse(req.RecipePath, data)
		return err
	}
	newSalt := func() error {
		var salt [8]byte
		_, _ = rand.Read(salt[:]) // crypto/rand does not fail on supported platforms
		return setSalt(hex.EncodeToString(salt[:]))
	}
	if req.Fresh {
		if err := newSalt(); err != nil {
			return nil, err
		}
	}
	root := s.opt.Root
	if forPublish {
		root = *req.Remote
		root.Remote = true
	}
	prev, prevRes, err := latestResolution(root, name)
	if err != nil {
		return nil, err
	}
	base, err := s.plan(ctx, r, nil) // the interpreters, probed once
	if err != nil {
		return nil, err
	}
	var res *pyresolve.Resolution
	switch {
	case req.Frozen && prevRes == nil:
		why := "has no revision"
		if prev != nil {
			why = fmt.Sprintf("has no lock in its latest revision %s (made before locks, or by the Python rezup)", prev.Name)
		}
		return nil, fmt.Errorf("add --frozen: container %s %s: %w", name, why, ErrNothingFrozen)
	case req.Frozen:
		res = prevRes
	default:
		if res, err = s.resolve(ctx, base); err != nil {
			return nil, &StepError{Step: "resolve", Err: err, Frozen: prevRes != nil}
		}
	}
	if !req.Fresh && r.Build.Salt == "" && prevRes != nil {
		if salt := frozenSalt(prev); salt != "" && sameResolution(res, prevRes) {
			s.opt.Reporter.Debugf("same lock as the latest revision %s: keeping its salt %s", prev.Name, salt)
			if err := setSalt(salt); err != nil {
				return nil, err
			}
		}
	}
	plan, err := base.with(r, res)
	if err != nil {
		return nil, err
	}
	s.opt.Reporter.Debugf("resolved %s: key %s, inputs %s", name, plan.Key, plan.Inputs)
	if forPublish && s.ready(plan.Key) {
		if why := s.untrusted(plan.Key); why != "" {
			// Never hand on what someone else chose: move it aside and
			// build it here; if it is in use, build under a new salt.
			s.opt.Reporter.Warnf("the build %s here %s: building it again to publish it", plan.Key, why)
			if err := s.RemoveEntry(plan.Key, nil); err != nil {
				s.opt.Reporter.Warnf("%v; building a fresh one under a new [build] salt instead", err)
				if err := newSalt(); err != nil {
					return nil, err
				}
				if plan, err = base.with(r, res); err != nil {
					return nil, err
				}
			}
		}
	}
	reused := s.ready(plan.Key)
	if reused {
		s.opt.Reporter.Infof("reused %s", plan.Key)
	}
	h, err := s.Materialize(ctx, Request{Key: plan.Key, Plan: plan, ForPublish: forPublish})
	if err != nil {
		return nil, &StepError{Step: "build", Err: err}
	}
	// Held until the revision refers to the build, so that a collector
	// cannot take it in between.
	defer h.Close()
	m, err := s.ReadManifest(plan.Key)
	if err != nil {
		return nil, err
	}
	added = &Added{Manifest: m, Reused: reused}
	if forPublish {
		if why := s.untrusted(plan.Key); why != "" {
			return nil, fmt.Errorf("the build %s %s: it is %w", plan.Key, why, ErrNotPublished)
		}
		if s.opt.Cache == nil {
			s.opt.Reporter.Warnf("no shared cache: every node will build %s itself (set REZUP_CACHE or [cache] url)", plan.Key)
		} else {
			e, err := s.Publish(ctx, plan.Key)
			if err != nil {
				return nil, &StepError{Step: "publish", Err: err}
			}
			added.Pin = &e
		}
	}
	var signer *cache.SecretKey
	if forPublish {
		signer = req.Signer
	}
	rev, err := s.addRevision(root, name, data, res, m, added.Pin, signer)
	if err != nil {
		if forPublish {
			return nil, fmt.Errorf("write remote revision: %w", err)
		}
		return nil, err
	}
	added.Revision = rev
	return added, nil
}

// writeDefaultRecipe writes data, the default recipe, to path for a
// container that has none, as the Python rezup does, and never replaces an
// existing file: one a concurrent rezup wrote meanwhile is read instead.
func (s *Store) writeDefaultRecipe(path string, data []byte, note string) ([]byte, error) {
	err := fsx.CreateExclusive(path, 0o666, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("write default recipe: %w", err)
	}
	if note != "" {
		note = " " + note
	}
	s.opt.Reporter.Infof("wrote the default recipe to %s%s", path, note)
	return data, nil
}

// latestResolution is the latest ready revision of container in root and
// its lock.json; (nil, nil) when there is no revision, and a nil
// resolution when it has none.
func latestResolution(root Root, container string) (*Revision, *pyresolve.Resolution, error) {
	rev, err := root.Latest(container)
	if errors.Is(err, ErrNoRevision) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	res, err := rev.ReadResolution()
	if err != nil {
		return rev, nil, err
	}
	return rev, res, nil
}

// frozenSalt is the [build] salt of rev's frozen recipe, "" when it has
// none or cannot be read (then no salt is carried over).
func frozenSalt(rev *Revision) string {
	data, err := os.ReadFile(rev.RecipePath())
	if err != nil {
		return ""
	}
	r, _, err := recipe.ParseFrozen(rev.RecipePath(), data)
	if err != nil {
		return ""
	}
	return r.Build.Salt
}

// sameResolution says whether two resolutions install the same
// distributions.
func sameResolution(a, b *pyresolve.Resolution) bool {
	ka, err := a.KeyBytes()
	if err != nil {
		return false
	}
	kb, err := b.KeyBytes()
	return err == nil && bytes.Equal(ka, kb)
}

// untrusted says why ready entry k must not be handed on by a publisher
// ("" when it may): it was fetched from a cache entry no trusted key
// signed, or an older rezup made it and its origin is unknown.
func (s *Store) untrusted(k cas.Key) string {
	m, err := s.ReadManifest(k)
	if err != nil {
		return fmt.Sprintf("cannot be read (%v)", err)
	}
	var trusted []cache.PublicKey
	if c := s.opt.Cache; c != nil {
		trusted = c.TrustedKeys()
	}
	switch o := m.Origin; {
	case o.Trusted(trusted):
		return ""
	case o == nil:
		return "has no recorded origin (an older rezup made it)"
	case o.Index != (cas.Digest{}):
		return fmt.Sprintf("was fetched from the shared cache (index %s) without a trusted signature", o.Index)
	default:
		return fmt.Sprintf("was fetched from the shared cache (archive %s) without a trusted signature", o.Digest)
	}
}

package materialize

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyresolve"
)

// revisionStatementVersion starts the statement a remote revision's
// signature covers; entries' statements start otherwise, so that one
// never verifies as the other.
const revisionStatementVersion = "rezup-revision/1"

// revisionStatement is what a signature of a remote revision covers, one
// field a line: which container and revision, the build key, the archive
// it pins (the BLAKE3 of the pin's entry statement, "none" without a pin),
// and the BLAKE3 of its frozen recipe and of its lock.json ("none"):
//
//	rezup-revision/1
//	<container>
//	<revision name>
//	<key>
//	<pin>
//	<recipe>
//	<lock>
//
// Who made it, when, and where it lies (revision_path) are not covered:
// they are for people.
func revisionStatement(container, name string, meta Meta, recipeBytes, lockBytes []byte) ([]byte, error) {
	pin := "none"
	if meta.Archive != nil {
		st, err := cache.Statement(*meta.Archive)
		if err != nil {
			return nil, err
		}
		pin = cas.DigestOf(st).String()
	}
	lock := "none"
	if lockBytes != nil {
		lock = cas.DigestOf(lockBytes).String()
	}
	fields := []string{revisionStatementVersion, container, name, meta.Key.String(), pin, cas.DigestOf(recipeBytes).String(), lock}
	var b strings.Builder
	for _, f := range fields {
		if strings.ContainsAny(f, "\r\n") {
			return nil, fmt.Errorf("revision %s of %s cannot be signed: %q holds a line break", name, container, f)
		}
		b.WriteString(f)
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// RevisionTrust says which remote revisions a launch runs. The zero value
// checks nothing: every ready remote revision is launched, as before
// revisions were signed.
type RevisionTrust struct {
	// Keys are the public keys whose signatures of remote revisions this
	// machine trusts (the same as the cache's trusted keys).
	Keys []cache.PublicKey
	// Require launches only remote revisions a key of Keys signed: a newer
	// one that is unsigned, signed by another key, or changed since it was
	// signed is passed over, with a warning, for the newest signed one.
	Require bool
	// WarnStamp, when set, is the file whose mtime tells when this user
	// was last warned that an unsigned remote revision is launched
	// (without Require): at most once a day, as a farm's logs would
	// otherwise repeat it at every launch.
	WarnStamp string
}

// checks says whether t verifies remote revisions at all.
func (t RevisionTrust) checks() bool { return len(t.Keys) > 0 || t.Require }

// signedRevision is a remote revision read for launching: its frozen
// recipe and lock.json, read once, and whether a trusted key signed those
// very bytes (err says why not).
type signedRevision struct {
	rev  *Revision
	fr   *frozenRecipe
	res  *pyresolve.Resolution
	err  error
	read error // the revision could not be read at all
}

// readSigned reads rev's frozen recipe and lock.json and verifies its
// signature against keys.
func readSigned(rev *Revision, keys []cache.PublicKey) signedRevision {
	sr := signedRevision{rev: rev}
	data, err := fsx.ReadMeta(rev.RecipePath(), fsx.MaxJSONMeta)
	if err != nil {
		sr.read = &RevisionError{Revision: rev, Err: fmt.Errorf("%s: read recipe: %w", rev.label(), err)}
		return sr
	}
	if sr.fr, sr.read = parseFrozen(rev, data); sr.read != nil {
		return sr
	}
	lockBytes, err := fsx.ReadMeta(rev.ResolutionPath(), fsx.MaxJSONMeta)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		lockBytes = nil
	case err != nil:
		sr.read = &RevisionError{Revision: rev, Err: fmt.Errorf("%s: read lock.json: %w", rev.label(), err)}
		return sr
	default:
		if sr.res, err = pyresolve.Parse(lockBytes); err != nil {
			sr.read = &RevisionError{Revision: rev, Err: fmt.Errorf("%s: %w", rev.ResolutionPath(), err)}
			return sr
		}
	}
	msg, err := revisionStatement(rev.Container, rev.Name, *rev.Meta, data, lockBytes)
	if err == nil {
		err = cache.VerifySignatures(rev.label(), msg, rev.Meta.Signatures, keys)
	}
	sr.err = err
	return sr
}

// trustedRemote is the remote revision to launch among the remote root's
// ready revisions, latest the newest: with t.Require, the newest that a
// trusted key signed (a warning names the newer ones passed over; none at
// all is an error); without, latest, with a warning (at most once a day,
// see WarnStamp) when it is not signed by a trusted key.
func (p *pick) trustedRemote(latest *Revision, t RevisionTrust) (signedRevision, error) {
	sr := readSigned(latest, t.Keys)
	if sr.read != nil || sr.err == nil {
		return sr, sr.read
	}
	if !t.Require {
		p.warnUnsigned(sr, t.WarnStamp)
		return sr, nil
	}
	revs, err := p.l.Remote.Revisions(p.container)
	if err != nil {
		return sr, &RemoteRootError{Root: *p.l.Remote, Err: err}
	}
	for _, rev := range revs {
		if !rev.Ready() || !rev.Time.Before(latest.Time) {
			continue
		}
		older := readSigned(rev, t.Keys)
		if older.read == nil && older.err == nil {
			p.reporter().Warnf("%v: passed over, as only signed revisions are launched here; using %s", sr.err, rev.label())
			return older, nil
		}
	}
	return sr, fmt.Errorf("no remote revision of %s is signed by a trusted key, and only those are launched here (require-signed): the newest, %w", p.container, sr.err)
}

// warnUnsigned says that an unsigned remote revision is launched, at most
// once a day when stamp is set.
func (p *pick) warnUnsigned(sr signedRevision, stamp string) {
	msg := fmt.Sprintf("%v: launched all the same; publish it again with `rezup add %s --remote` and a secret key, and set require-signed", sr.err, p.container)
	if stamp == "" {
		p.reporter().Warnf("%s", msg)
		return
	}
	now := p.store.opt.Now()
	if fi, err := os.Stat(stamp); err == nil && now.Sub(fi.ModTime()) < 24*time.Hour {
		p.reporter().Debugf("%s (warned at %s)", msg, fi.ModTime().Format(time.RFC3339))
		return
	}
	p.reporter().Warnf("%s (said once a day)", msg)
	// A stamp that cannot be written only repeats the warning.
	if err := os.MkdirAll(filepath.Dir(stamp), 0o777); err == nil {
		_ = fsx.WriteFile(stamp, nil, 0o666)
		_ = os.Chtimes(stamp, now, now)
	}
}

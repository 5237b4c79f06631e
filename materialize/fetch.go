package materialize

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
)

// fetch materializes a cache entry: stream, verify and unpack it into a
// staging dir, relocate it to this store's prefix, check its base
// interpreters exist here, then publish it. Called under the entry's
// exclusive lock. A corrupt archive is refused before anything is visible.
func (s *Store) fetch(ctx context.Context, e cas.Entry) (*Manifest, error) {
	k := e.Key
	final := s.opt.Root.EntryDir(k)
	staging, err := s.stage(k)
	if err != nil {
		return nil, err
	}
	m, err := s.unpack(ctx, e, staging, final)
	if err == nil {
		err = s.publish(staging, m)
	}
	if err != nil {
		// Only the staging dir holds anything, and the next materializer
		// clears it under the lock if this removal fails.
		_ = os.RemoveAll(staging)
		return nil, fmt.Errorf("materialize %s from %s: %w", k, s.opt.Cache, err)
	}
	s.opt.Reporter.Infof("fetched %s from %s", k, s.opt.Cache)
	return m, nil
}

func (s *Store) unpack(ctx context.Context, e cas.Entry, staging, final string) (*Manifest, error) {
	rc, err := s.opt.Cache.Open(ctx, e)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	s.opt.Reporter.Infof("fetching %s (%s)", e.Key, HumanSize(e.Size))
	total := cas.Progress{Bytes: e.Bytes, Files: e.Files}
	opt := cas.UnpackOptions{
		Progress: func(p cas.Progress) { s.opt.Reporter.Progress("unpack "+e.Key.String(), p, total) },
	}
	// Relocate on the way through, while each file's bytes are in memory:
	// nothing is read twice. The manifest is left as it was packed (it
	// names the build prefix, checked below); publish rewrites it.
	manifestPath := filepath.Join(staging, ".rezup", "manifest.json")
	rel, err := pyenv.NewRelocator(e.Prefix, final)
	if err != nil {
		return nil, fmt.Errorf("entry of %s: %w", e.Key, err)
	}
	if rel != nil {
		opt.Rewrite = func(p string, data []byte) []byte {
			if p == manifestPath {
				return nil
			}
			return rel.Content(p, data)
		}
		opt.Relink = rel.Target
	}
	start := time.Now()
	st, err := cas.Unpack(ctxReader{ctx, rc}, staging, e.Digest, opt)
	if err != nil {
		return nil, err
	}
	s.opt.Reporter.Debugf("unpacked %s: %d entries, %s in %v", e.Key, st.Files, HumanSize(st.Bytes), time.Since(start).Round(time.Millisecond))
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, fmt.Errorf("archive of %s has no manifest: %w", e.Key, cas.ErrCorrupt)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Key != e.Key.String() {
		return nil, fmt.Errorf("archive of %s holds the manifest of %q: %w", e.Key, m.Key, cas.ErrCorrupt)
	}
	if m.Prefix != e.Prefix {
		return nil, fmt.Errorf("archive of %s was built at %s, its entry says %s: %w", e.Key, m.Prefix, e.Prefix, cas.ErrCorrupt)
	}
	// Three waits overlap: the bulk of the one sync pass (the writes of
	// Unpack go to disk while the rest runs; publish's sync then has only
	// the manifest and any rewritten large file left to write), python
	// starting to confirm the base interpreters, and the large files being
	// relocated.
	syncErr := make(chan error, 1)
	go func() {
		start := time.Now()
		err := fsx.SyncTree(staging)
		s.opt.Reporter.Debugf("synced the unpacked %s in %v", e.Key, time.Since(start).Round(time.Millisecond))
		syncErr <- err
	}()
	baseErr := make(chan error, 1)
	go func() {
		start := time.Now()
		for _, v := range m.Venvs {
			if err := pyenv.CheckBase(ctx, filepath.Join(staging, "venv", v), s.opt.Environ); err != nil {
				baseErr <- fmt.Errorf("venv %s: %w", v, err)
				return
			}
		}
		s.opt.Reporter.Debugf("checked the base interpreters of %s in %v", e.Key, time.Since(start).Round(time.Millisecond))
		baseErr <- nil
	}()
	var relErr error
	if rel != nil {
		// The few files too large to have been held in memory.
		start := time.Now()
		for _, p := range st.Unseen {
			if relErr = rel.File(p); relErr != nil {
				relErr = fmt.Errorf("relocate %s: %w", p, relErr)
				break
			}
		}
		s.opt.Reporter.Debugf("relocated %d large file(s) of %s in %v", len(st.Unseen), e.Key, time.Since(start).Round(time.Millisecond))
		if bin := rel.Report().Binary; len(bin) > 0 {
			s.opt.Reporter.Warnf("%d binary file(s) hold the build path %s and were left as they are, e.g. %s",
				len(bin), m.Prefix, filepath.Join(final, strings.TrimPrefix(bin[0], staging)))
		}
		m.Prefix = final
	}
	// Both goroutines are waited for; the first error is the one to act on.
	if err := cmp.Or(<-baseErr, relErr, <-syncErr); err != nil {
		return nil, err
	}
	return &m, nil
}

// pack publishes a ready entry to the shared cache. The caller holds a
// lock on the entry (shared or exclusive), so it cannot vanish meanwhile.
func (s *Store) pack(ctx context.Context, k cas.Key, m *Manifest) error {
	e := cas.Entry{Key: k, Prefix: m.Prefix, RezupVersion: s.opt.Version}
	if py, ok := m.Interpreters[m.RezPython]; ok {
		e.Interpreter = cas.Interpreter{Implementation: py.Implementation, Version: py.Version, Platform: py.Platform}
	}
	s.opt.Reporter.Infof("publishing %s to %s", k, s.opt.Cache)
	// The archive is packed to a local file first, beside the store, so
	// that its digest is known before anything reaches the cache and an
	// upload can be sent again.
	staging, err := s.stage(k)
	if err != nil {
		return err
	}
	// Best effort: a leftover staging dir is cleared by the next
	// materializer of k, or by gc.
	defer func() { _ = os.RemoveAll(staging) }()
	a, err := cas.PackFile(staging, s.opt.Root.EntryDir(k), cas.PackOptions{})
	if err != nil {
		return err
	}
	_, err = s.opt.Cache.Publish(ctx, e, a)
	return err
}

// Publish makes sure the shared cache holds entry k, which must be ready
// in the store: it packs and publishes it unless the cache already has it.
func (s *Store) Publish(ctx context.Context, k cas.Key) error {
	if s.opt.Cache == nil {
		return fmt.Errorf("publish %s: no shared cache is configured", k)
	}
	if _, err := s.opt.Cache.Lookup(ctx, k); err == nil {
		return nil
	}
	if err := s.opt.Cache.Writable(ctx); err != nil {
		return fmt.Errorf("publish %s: %w", k, err)
	}
	lease, err := s.Lease(ctx, k)
	if err != nil {
		return err
	}
	defer lease.Release()
	m, err := s.ReadManifest(k)
	if err != nil {
		return err
	}
	return s.pack(ctx, k, m)
}

// ctxReader stops a long unpack when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// HumanSize formats a byte count for people: 512 B, 21.4 MiB.
func HumanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// app holds what every command resolves once: the environment, home and
// output streams. Packages below get typed options built from it.
type app struct {
	environ        []string
	stdout, stderr io.Writer
	debug          bool
	log            *slog.Logger
	// startEnviron is the environment rezup started with, before the
	// site-customize script ([init] script) replaced environ.
	startEnviron []string
	// mainRecipe is ~/rezup.toml as preRun read it; the next
	// loadRecipe(".main") takes it instead of parsing the file again.
	mainRecipe *containerRecipe
	// warnedUnauthenticated: the warning that the shared cache has no
	// trusted keys was given (once per run).
	warnedUnauthenticated bool

	// progressShown: a reporter's progress line is on stderr, with no
	// newline yet; whatever prints next ends it first (endProgress).
	progressMu    sync.Mutex
	progressShown bool

	// stdin is what an interactive shell would read: `use` starts one
	// only when it is a terminal.
	stdin any

	// nets are the network caches' helpers (see openNet).
	nets netHelpers
}

func newApp(environ []string, stdout, stderr io.Writer) *app {
	return &app{environ: environ, stdout: stdout, stderr: stderr, stdin: os.Stdin, log: slog.New(slog.DiscardHandler)}
}

func (a *app) getenv(key string) string { return envlist.Get(a.environ, key) }

func (a *app) home() (string, error) {
	if h := a.getenv("HOME"); h != "" {
		return h, nil
	}
	if h, err := os.UserHomeDir(); err == nil {
		return h, nil
	}
	return "", errors.New("cannot tell the home directory: set HOME")
}

func (a *app) expand(p, home string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[1:])
	}
	return p
}

// containerRecipe is a container's recipe file in the home directory.
type containerRecipe struct {
	Path   string
	Data   []byte // nil when the file does not exist
	Recipe *recipe.Recipe
}

// loadRecipe reads ~/rezup[.NAME].toml. A missing file yields the default
// recipe (so roots still come from the environment) with Data nil.
func (a *app) loadRecipe(container string) (*containerRecipe, error) {
	if cr := a.mainRecipe; cr != nil && container == recipe.DefaultContainer {
		a.mainRecipe = nil // used once: later calls see a file that add wrote meanwhile
		return cr, nil
	}
	home, err := a.home()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(home, recipe.FileName(container))
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		r := recipe.Default()
		return &containerRecipe{Path: path, Recipe: r}, nil
	}
	if err != nil {
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			// Nothing rezup could read as a recipe: a recipe error (exit
			// 2), with what to do about it.
			return nil, &recipe.Error{File: path, Msg: "is a directory, not a recipe file: remove it or make it a file"}
		}
		return nil, fmt.Errorf("read recipe: %w", err)
	}
	r, warns, err := recipe.Parse(path, data)
	if err != nil {
		return nil, err
	}
	for _, w := range warns {
		a.warnf("%s", w)
	}
	return &containerRecipe{Path: path, Data: data, Recipe: r}, nil
}

// container is what a command resolves of one container: its recipe in
// the home directory and the roots that recipe (or the environment) names.
type container struct {
	name      string
	recipe    *containerRecipe
	root      materialize.Root
	remote    materialize.Root
	hasRemote bool
}

func (a *app) openContainer(name string) (*container, error) {
	cr, err := a.loadRecipe(name)
	if err != nil {
		return nil, err
	}
	root, err := a.localRoot(cr.Recipe)
	if err != nil {
		return nil, err
	}
	remote, hasRemote, err := a.remoteRoot(cr.Recipe)
	if err != nil {
		return nil, err
	}
	return &container{name: name, recipe: cr, root: root, remote: remote, hasRemote: hasRemote}, nil
}

// cache opens the container's shared cache (nil when there is none); more
// recipes, such as a remote revision's, may name it too. Its trust comes
// from the user's own recipe and the environment (resolveTrust), never
// from a frozen recipe: it looks up only entries a trusted key signed, when
// any is configured, and signs what it publishes with the secret key, when
// one is configured (the admin's add, and nodes that publish on a miss).
func (a *app) cache(c *container, more ...*recipe.Recipe) (*cache.Cache, error) {
	loc, err := a.cacheLocation(c.remote, c.hasRemote, append([]*recipe.Recipe{c.recipe.Recipe}, more...)...)
	if err != nil {
		return nil, err
	}
	sc, err := a.openCache(loc)
	if err != nil || sc == nil {
		return sc, err
	}
	trusted, sk, err := a.resolveTrust(c.recipe.Recipe)
	if err != nil {
		return nil, err
	}
	if len(trusted) > 0 {
		sc = sc.WithTrustedKeys(trusted...)
	}
	if sk != nil {
		sc = sc.WithSigner(*sk)
	}
	return sc, nil
}

// warnUnauthenticated says, once per run, that the container's shared
// cache is used without trusted keys: whoever can write it chooses what a
// lookup by key returns. Nothing is said without a cache, or when the
// trust configuration cannot be read (the command that opens the cache
// reports that).
func (a *app) warnUnauthenticated(c *container) {
	if a.warnedUnauthenticated {
		return
	}
	loc, err := a.cacheLocation(c.remote, c.hasRemote, c.recipe.Recipe)
	if err != nil || loc == "" {
		return
	}
	if keys, err := a.trustedKeys(c.recipe.Recipe); err != nil || len(keys) > 0 {
		return
	}
	a.warnedUnauthenticated = true
	a.warnf("the shared cache %s is unauthenticated: whoever can write it chooses the builds found by key (pinned remote revisions excepted); set [cache] trusted-keys or REZUP_TRUSTED_KEYS", loc)
}

// localRoot is [root] local, else $REZUP_ROOT_LOCAL, else ~/.rezup: the
// recipe supersedes the environment, as in the Python rezup.
func (a *app) localRoot(r *recipe.Recipe) (materialize.Root, error) {
	home, err := a.home()
	if err != nil {
		return materialize.Root{}, err
	}
	dir := r.Root.Local
	if dir == "" {
		dir = a.getenv("REZUP_ROOT_LOCAL")
	}
	if dir == "" {
		dir = filepath.Join(home, ".rezup")
	}
	dir, err = filepath.Abs(a.expand(dir, home))
	if err != nil {
		return materialize.Root{}, err
	}
	return materialize.Root{Dir: dir}, nil
}

// remoteRoot is [root] remote, else $REZUP_ROOT_REMOTE; ok is false when
// neither is set.
func (a *app) remoteRoot(r *recipe.Recipe) (root materialize.Root, ok bool, err error) {
	home, err := a.home()
	if err != nil {
		return materialize.Root{}, false, err
	}
	dir := r.Root.Remote
	if dir == "" {
		dir = a.getenv("REZUP_ROOT_REMOTE")
	}
	if dir == "" {
		return materialize.Root{}, false, nil
	}
	dir, err = filepath.Abs(a.expand(dir, home))
	if err != nil {
		return materialize.Root{}, false, err
	}
	return materialize.Root{Dir: dir, Remote: true}, true, nil
}

// cacheLocation is where the shared cache is, first match wins:
// $REZUP_CACHE, the recipes' [cache] url (the container's recipe, then
// any further ones given, such as a remote revision's), then
// <remote root>/.cache. "" means no shared cache.
func (a *app) cacheLocation(remote materialize.Root, hasRemote bool, recipes ...*recipe.Recipe) (string, error) {
	if loc := a.getenv("REZUP_CACHE"); loc != "" {
		return loc, nil
	}
	home, err := a.home()
	if err != nil {
		return "", err
	}
	for _, r := range recipes {
		if r != nil && r.Cache.URL != "" {
			return a.expand(r.Cache.URL, home), nil
		}
	}
	if hasRemote {
		return filepath.Join(remote.Dir, ".cache"), nil
	}
	return "", nil
}

// openCache opens the shared cache at loc ("" means none).
func (a *app) openCache(loc string) (*cache.Cache, error) {
	if loc == "" {
		return nil, nil
	}
	transfers, err := a.cacheTransfers()
	if err != nil {
		return nil, err
	}
	c, err := cache.OpenWith(loc, cache.OpenOptions{
		Schemes: a.cacheSchemes(),
		StackOptions: backend.StackOptions{
			Transfers: transfers,
			Retry:     backend.RetryOptions{OnRetry: a.logRetry(loc)},
		},
	})
	if err != nil {
		return nil, withHint(fmt.Errorf("shared cache %s: %w", loc, err),
			"set REZUP_CACHE or [cache] url to a directory (local disk, NFS or SMB), an http(s):// URL or an s3://bucket/prefix")
	}
	return c, nil
}

// cacheSchemes is every cache backend rezup has: directories in the
// process, and the network caches through rezup-net (openNet), which
// reads the credentials from rezup's environment.
func (a *app) cacheSchemes() *backend.Registry {
	r := cache.Schemes()
	r.Register("http", a.openNet)
	r.Register("https", a.openNet)
	r.Register("s3", a.openNet)
	return r
}

// logRetry returns the debug line (-D) of each retry of the cache at loc.
func (a *app) logRetry(loc string) func(op, name string, attempt int, wait time.Duration, err error) {
	return func(op, name string, attempt int, wait time.Duration, err error) {
		if !a.debug {
			return
		}
		a.endProgress()
		a.log.Debug(fmt.Sprintf("shared cache %s: %s %s: try %d failed, retrying in %v: %v", loc, op, name, attempt, wait.Round(time.Millisecond), err))
	}
}

// cacheTransfers is $REZUP_CACHE_TRANSFERS, the number of transfers to and
// from the shared cache this process runs at once (0: cas's default).
func (a *app) cacheTransfers() (int, error) {
	v := a.getenv("REZUP_CACHE_TRANSFERS")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return 0, withHint(fmt.Errorf("REZUP_CACHE_TRANSFERS=%q is not a number of transfers", v),
			"set it to a whole number of 1 or more (default %d), or unset it", backend.DefaultTransfers)
	}
	return n, nil
}

func (a *app) store(root materialize.Root, sc *cache.Cache) (*materialize.Store, error) {
	home, err := a.home()
	if err != nil {
		return nil, err
	}
	var pipLog io.Writer = io.Discard
	if a.debug {
		pipLog = a.stderr
	}
	leaseTTL, err := a.leaseTTL()
	if err != nil {
		return nil, err
	}
	return materialize.New(materialize.Options{
		Root:     root,
		Home:     home,
		Environ:  a.environ,
		Log:      pipLog,
		Reporter: newReporter(a),
		Cache:    sc,
		Version:  rezupVersion(),
		LeaseTTL: leaseTTL,
		// Creator and host are only written when something is built or
		// recorded: resolving them (NSS, uname) stays off the hot path.
		Creator:  func() (string, string) { return currentUser(a), hostname() },
		PipCache: a.pipCacheDir(home),
	}), nil
}

// pipCacheDir is where this user's builds keep the interpreters' bundled
// pip unpacked (see materialize.Options.PipCache): rezup/pip in the
// user's cache directory, as os.UserCacheDir finds it but from rezup's
// environment ($XDG_CACHE_HOME, else ~/.cache; ~/Library/Caches on
// macOS; %LocalAppData% on Windows). "" when there is none: the root's
// .tmp/pip.
func (a *app) pipCacheDir(home string) string {
	var dir string
	switch runtime.GOOS {
	case "windows":
		dir = a.getenv("LocalAppData")
	case "darwin", "ios":
		if home != "" {
			dir = filepath.Join(home, "Library", "Caches")
		}
	default:
		dir = a.getenv("XDG_CACHE_HOME")
		if !filepath.IsAbs(dir) && home != "" {
			dir = filepath.Join(home, ".cache")
		}
	}
	if !filepath.IsAbs(dir) {
		return ""
	}
	return filepath.Join(dir, "rezup", "pip")
}

// minLeaseTTL keeps REZUP_CACHE_LEASE above what a refresh every TTL/3
// can keep up with.
const minLeaseTTL = time.Second

// leaseTTL is REZUP_CACHE_LEASE, the farm build lease's TTL (0: the
// default).
func (a *app) leaseTTL() (time.Duration, error) {
	s := a.getenv("REZUP_CACHE_LEASE")
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < minLeaseTTL || d > cache.MaxLeaseTTL {
		return 0, withHint(fmt.Errorf("REZUP_CACHE_LEASE=%q is not a duration from %v to %v", s, minLeaseTTL, cache.MaxLeaseTTL),
			"set it to how long a dead builder holds the farm back, such as 2m (the default), or unset it")
	}
	return d, nil
}

func currentUser(a *app) string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	if u := a.getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// showProgress prints line, a progress line that the next one (or
// endProgress) replaces.
func (a *app) showProgress(line string) {
	a.progressMu.Lock()
	defer a.progressMu.Unlock()
	fmt.Fprint(a.stderr, line)
	a.progressShown = true
}

// endProgress ends the progress line on stderr, if one is shown, so that
// what is printed next starts on a line of its own.
func (a *app) endProgress() {
	a.progressMu.Lock()
	defer a.progressMu.Unlock()
	if a.progressShown {
		fmt.Fprint(a.stderr, "\n")
		a.progressShown = false
	}
}

func (a *app) warnf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "rezup: warning: "+format+"\n", args...)
}

func (a *app) infof(format string, args ...any) {
	fmt.Fprintf(a.stderr, "rezup: "+format+"\n", args...)
}

// writeDefaultRecipe writes the default recipe for a container that has
// none, as the Python rezup does, and never replaces an existing file.
func (a *app) writeDefaultRecipe(path string) ([]byte, error) {
	data := recipe.DefaultTOML()
	err := fsx.CreateExclusive(path, 0o666, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path) // written by a concurrent rezup: use theirs
	}
	if err != nil {
		return nil, fmt.Errorf("write default recipe: %w", err)
	}
	a.infof("wrote the default recipe to %s", path)
	return data, nil
}

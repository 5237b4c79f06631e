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
	"github.com/rezup/rezup/cas/objects"
	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/oneproc"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// app holds what every command resolves once: the environment, home and
// output streams. Packages below get typed options built from it.
type app struct {
	// armInterrupts makes SIGINT and SIGTERM cancel the run's context
	// (see interruptible, makes); nil in tests that build an app alone.
	armInterrupts func()

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
	// warnedRecipes are the home recipes whose problems were told (once
	// per run).
	warnedRecipes map[string]bool
	// warned are the warnings printed (each once per run).
	warnMu sync.Mutex
	warned map[string]bool

	// progressShown: a reporter's progress line is on stderr, with no
	// newline yet; whatever prints next ends it first (endProgress).
	progressMu    sync.Mutex
	progressShown bool
	progressAt    time.Time // when a transfer's progress was last drawn

	// quiet (-q) prints errors only.
	quiet bool
	// live is the status line of a terminal (nil: not a terminal, or -q,
	// or -D, whose logs say more).
	live *liveLine

	// stdin is what an interactive shell would read: `use` starts one
	// only when it is a terminal.
	stdin any

	// nets are the network caches' helpers (see openNet).
	nets netHelpers
}

func newApp(environ []string, stdout, stderr io.Writer) *app {
	return &app{environ: environ, stdout: stdout, stderr: stderr, stdin: os.Stdin, log: slog.New(slog.DiscardHandler), warnedRecipes: map[string]bool{}}
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
	// Strict is why the file does not parse strictly (nil when it does):
	// add refuses it, every other command reads it leniently.
	Strict error
	// Unreadable says the file could not be read at all (not TOML, no
	// permission): Recipe is the defaults, so roots come from the
	// environment, and trust comes from the environment alone.
	Unreadable bool
}

// loadRecipe reads ~/rezup[.NAME].toml for add: strictly, an unknown key
// or a wrong type is an error naming the file and line. A missing file
// yields the default recipe (so roots still come from the environment)
// with Data nil.
func (a *app) loadRecipe(container string) (*containerRecipe, error) {
	cr, err := a.readRecipe(container)
	if err != nil {
		return nil, err
	}
	if cr.Strict != nil {
		return nil, cr.Strict
	}
	return cr, nil
}

// readRecipe reads ~/rezup[.NAME].toml for every command but add: a home
// recipe that does not parse strictly never stops a launch, a pull or a
// status of revisions that exist. Problems the lenient parse tells (an
// unknown key, a wrong type: the Python rezup ignores them) are warnings
// naming the file and line; a file that cannot be read at all is one
// warning, and the environment and the defaults stand in for it (see
// containerRecipe.Unreadable). Each file is warned about once per run.
func (a *app) readRecipe(container string) (*containerRecipe, error) {
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
		strict := fmt.Errorf("read recipe: %w", err)
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			// Nothing rezup could read as a recipe: a recipe error (exit
			// 2), with what to do about it.
			strict = &recipe.Error{File: path, Msg: "is a directory, not a recipe file: remove it or make it a file"}
		}
		return a.unreadableRecipe(path, strict), nil
	}
	r, warns, err := recipe.Parse(path, data)
	if err == nil {
		a.warnRecipe(path, warns)
		return &containerRecipe{Path: path, Data: data, Recipe: r}, nil
	}
	strict := err
	r, warns, err = recipe.ParseFrozen(path, data)
	if err != nil {
		return a.unreadableRecipe(path, strict), nil
	}
	a.warnRecipe(path, warns)
	return &containerRecipe{Path: path, Data: data, Recipe: r, Strict: strict}, nil
}

// unreadableRecipe stands in for a home recipe that cannot be read at all
// (why): the defaults, after one warning that says what that means.
func (a *app) unreadableRecipe(path string, why error) *containerRecipe {
	if !a.warnedRecipes[path] {
		a.warnedRecipes[path] = true
		a.warnf("%v; using the environment and the defaults instead (roots from REZUP_ROOT_LOCAL and REZUP_ROOT_REMOTE; the shared cache only for pinned archives unless REZUP_TRUSTED_KEYS is set): fix it, `rezup add` reads it strictly", why)
	}
	return &containerRecipe{Path: path, Recipe: recipe.Default(), Strict: why, Unreadable: true}
}

// warnRecipe prints the warnings of a home recipe's parse, once per file.
func (a *app) warnRecipe(path string, warns []recipe.Warning) {
	if len(warns) == 0 || a.warnedRecipes[path] {
		return
	}
	a.warnedRecipes[path] = true
	for _, w := range warns {
		a.warnf("%s", w)
	}
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

// openContainer resolves container name for every command but add: its
// home recipe read leniently (readRecipe).
func (a *app) openContainer(name string) (*container, error) {
	cr, err := a.readRecipe(name)
	if err != nil {
		return nil, err
	}
	return a.containerOf(name, cr)
}

// openContainerStrict is openContainer for add: a home recipe that does
// not parse strictly is an error naming its file and line.
func (a *app) openContainerStrict(name string) (*container, error) {
	cr, err := a.loadRecipe(name)
	if err != nil {
		return nil, err
	}
	return a.containerOf(name, cr)
}

func (a *app) containerOf(name string, cr *containerRecipe) (*container, error) {
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
	} else if c.recipe.Unreadable {
		// The recipe that may name trusted keys cannot be read: never
		// fall back to trusting whatever the cache holds by key.
		sc = sc.PinsOnly()
	}
	if sk != nil {
		sc = sc.WithSigner(*sk)
	}
	return sc, nil
}

// warnMissingRemote says, once per run and root, that c's remote root
// does not exist: a typo in REZUP_ROOT_REMOTE or [root] remote, or a share
// not mounted, would otherwise go unnoticed as the local root stands in.
func (a *app) warnMissingRemote(c *container) {
	if !c.hasRemote || a.warnedRecipes["remote:"+c.remote.Dir] {
		return
	}
	if _, err := os.Stat(c.remote.Dir); errors.Is(err, fs.ErrNotExist) {
		a.warnedRecipes["remote:"+c.remote.Dir] = true
		a.warnf("the remote root %s does not exist; using the local root %s", c.remote.Dir, c.root.Dir)
	}
}

// warnUnauthenticated says that the container's shared cache is used
// without trusted keys: whoever can write it chooses what a lookup by key
// returns. It is said where a person decides (status, add --remote) each
// time, and elsewhere (pull, which farm boot scripts run on every node) at
// most once a day per user, so that it stays worth reading. Nothing is said
// without a cache, or when the trust configuration cannot be read (the
// command that opens the cache reports that).
func (a *app) warnUnauthenticated(c *container, daily bool) {
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
	msg := fmt.Sprintf("the shared cache %s is unauthenticated: whoever can write it chooses the builds found by key (pinned remote revisions excepted); set [cache] trusted-keys or REZUP_TRUSTED_KEYS", loc)
	if daily && !a.oncePerDay("warned-unauthenticated") {
		a.log.Debug(msg)
		return
	}
	a.warnf("%s", msg)
}

// oncePerDay says whether what the stamp name stands for is to be done
// now, and if so stamps it: at most once a day per user, the stamp being a
// file in the user's cache directory. Without one (no home), always.
func (a *app) oncePerDay(name string) bool {
	home, err := a.home()
	if err != nil {
		return true
	}
	dir := a.userCacheDir(home)
	if dir == "" {
		return true
	}
	stamp := filepath.Join(dir, name)
	now := time.Now()
	if fi, err := os.Stat(stamp); err == nil && now.Sub(fi.ModTime()) < 24*time.Hour {
		return false
	}
	// A stamp that cannot be written only repeats the message, and so
	// does one a crash loses: it is not synced, which would cost a fresh
	// node's first command a wait for the disk.
	if err := os.MkdirAll(dir, 0o777); err == nil {
		_ = fsx.ReplaceStaged(stamp, nil, 0o666)
		_ = os.Chtimes(stamp, now, now)
	}
	return true
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
	idle, rate, err := a.cacheBounds()
	if err != nil {
		return nil, err
	}
	c, err := cache.OpenWith(loc, cache.OpenOptions{
		Schemes: a.cacheSchemes(),
		StackOptions: backend.StackOptions{
			Transfers:   transfers,
			IdleTimeout: idle,
			Retry:       backend.RetryOptions{OnRetry: a.logRetry(loc)},
		},
		MinRate: rate,
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

// cacheBounds are $REZUP_CACHE_IDLE, how long a read of the shared cache
// may go without a byte (a Go duration), and $REZUP_CACHE_MIN_RATE, the
// slowest a read may go on average (bytes a second, or with a k, KiB, M
// or MiB suffix): 0 for the defaults.
func (a *app) cacheBounds() (idle time.Duration, rate int64, err error) {
	if v := strings.TrimSpace(a.getenv("REZUP_CACHE_IDLE")); v != "" {
		idle, err = time.ParseDuration(v)
		if err != nil || idle < 100*time.Millisecond || idle > time.Hour {
			return 0, 0, withHint(&configError{fmt.Sprintf("REZUP_CACHE_IDLE=%q is not a duration from 100ms to 1h", v)},
				"set it to how long a read of the shared cache may go without a byte, such as 60s (the default), or unset it")
		}
	}
	if v := strings.TrimSpace(a.getenv("REZUP_CACHE_MIN_RATE")); v != "" {
		rate = parseRate(v)
		if rate <= 0 {
			return 0, 0, withHint(&configError{fmt.Sprintf("REZUP_CACHE_MIN_RATE=%q is not a rate", v)},
				"set it to bytes a second, such as 64KiB (the default) or 1MiB, or unset it")
		}
	}
	return idle, rate, nil
}

// parseRate reads "65536", "64k", "64KiB", "1M", "1MiB" as bytes; 0 for
// anything else.
func parseRate(v string) int64 {
	mult := int64(1)
	lower := strings.ToLower(v)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"k", 1 << 10}, {"m", 1 << 20}} {
		if strings.HasSuffix(lower, u.suffix) {
			lower, mult = strings.TrimSuffix(lower, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(lower), 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0
	}
	return n * mult
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

// store is the store of root, for commands that make no build (status,
// drop, gc, repair): REZUP_CACHE_FORMAT and REZUP_LINK_MODE are not read,
// so a bad value does not stop them.
func (a *app) store(root materialize.Root, sc *cache.Cache) (*materialize.Store, error) {
	return a.newStore(root, sc, materialize.CacheFormatArchive, objects.Hardlink)
}

// storeFor is the store of a container whose recipe is r, for the
// commands that fetch, build and publish (add, use, pull): in what
// format builds are published (REZUP_CACHE_FORMAT, [cache] format), and
// how builds fetched file by file are linked (REZUP_LINK_MODE).
func (a *app) storeFor(root materialize.Root, sc *cache.Cache, r *recipe.Recipe) (*materialize.Store, error) {
	format, err := a.cacheFormat(r)
	if err != nil {
		return nil, err
	}
	linkMode, err := a.linkMode()
	if err != nil {
		return nil, err
	}
	return a.newStore(root, sc, format, linkMode)
}

func (a *app) newStore(root materialize.Root, sc *cache.Cache, format string, linkMode objects.LinkMode) (*materialize.Store, error) {
	home, err := a.home()
	if err != nil {
		return nil, err
	}
	var pipLog io.Writer = io.Discard
	switch {
	case a.debug:
		pipLog = a.stderr
	case a.live != nil:
		pipLog = a.live // what pip is doing, on the status line
	}
	leaseTTL, err := a.leaseTTL()
	if err != nil {
		return nil, err
	}
	leaseWait, err := a.leaseWait()
	if err != nil {
		return nil, err
	}
	return materialize.New(materialize.Options{
		Root:      root,
		Home:      home,
		Environ:   a.environ,
		Log:       pipLog,
		Reporter:  newReporter(a),
		Cache:     sc,
		Version:   rezupVersion(),
		LeaseTTL:  leaseTTL,
		LeaseWait: leaseWait,
		// Creator and host are only written when something is built or
		// recorded: resolving them (NSS, uname) stays off the hot path.
		Creator:     func() (string, string) { return currentUser(a), hostname() },
		PipCache:    a.pipCacheDir(home),
		CacheFormat: format,
		LinkMode:    linkMode,
	}), nil
}

// cacheFormat is what this machine publishes to the shared cache:
// $REZUP_CACHE_FORMAT, else r's [cache] format, else "archive" (see
// materialize.ParseCacheFormat).
func (a *app) cacheFormat(r *recipe.Recipe) (string, error) {
	if v := strings.TrimSpace(a.getenv("REZUP_CACHE_FORMAT")); v != "" {
		f, err := materialize.ParseCacheFormat(v)
		if err != nil {
			return "", withHint(&configError{fmt.Sprintf("REZUP_CACHE_FORMAT=%q is not a cache format", v)},
				"set it to archive (the default), files or both, or unset it")
		}
		return f, nil
	}
	if r != nil {
		return materialize.ParseCacheFormat(r.Cache.Format) // checked by the recipe's parse
	}
	return materialize.CacheFormatArchive, nil
}

// linkMode is $REZUP_LINK_MODE: how a build's files are made from the
// object store, .store/objects: hardlink (the default), clone or copy.
// Only the commands that make builds read it (add, use, pull).
func (a *app) linkMode() (objects.LinkMode, error) {
	v := strings.TrimSpace(a.getenv("REZUP_LINK_MODE"))
	if v == "" {
		return objects.Hardlink, nil
	}
	m, err := objects.ParseLinkMode(v)
	if err != nil {
		return 0, withHint(&configError{fmt.Sprintf("REZUP_LINK_MODE=%q is not a link mode", v)},
			"set it to hardlink (the default), clone or copy, or unset it")
	}
	return m, nil
}

// userCacheDir is rezup's directory in the user's cache directory, as
// os.UserCacheDir finds it but from rezup's environment ($XDG_CACHE_HOME,
// else ~/.cache; ~/Library/Caches on macOS; %LocalAppData% on Windows):
// the pip cache, and the stamps of warnings said once a day. "" when
// there is none.
func (a *app) userCacheDir(home string) string {
	p := a.pipCacheDir(home)
	if p == "" {
		return ""
	}
	return filepath.Dir(p)
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

// leaseWait is REZUP_CACHE_LEASE_WAIT, how long in all a node waits for
// another node's build of a key before it builds itself (0: the default).
func (a *app) leaseWait() (time.Duration, error) {
	s := strings.TrimSpace(a.getenv("REZUP_CACHE_LEASE_WAIT"))
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > 24*time.Hour {
		return 0, withHint(&configError{fmt.Sprintf("REZUP_CACHE_LEASE_WAIT=%q is not a duration from 1s to 24h", s)},
			"set it to how long a node waits for another's build before it builds itself, such as 10m (the default), or unset it")
	}
	return d, nil
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
	a.progressAt = time.Now()
}

// showLive prints the live status line, unless a transfer's progress line
// was drawn a moment ago: that one says more.
func (a *app) showLive(line string) {
	a.progressMu.Lock()
	defer a.progressMu.Unlock()
	if time.Since(a.progressAt) < 2*liveEvery {
		return
	}
	fmt.Fprint(a.stderr, line)
	a.progressShown = true
}

// endProgress erases the progress or status line on stderr, if one is
// shown, so that what is printed next starts on a line of its own.
func (a *app) endProgress() {
	a.progressMu.Lock()
	defer a.progressMu.Unlock()
	a.endProgressLocked()
}

func (a *app) endProgressLocked() {
	if a.progressShown {
		fmt.Fprint(a.stderr, "\r\033[K")
		a.progressShown = false
	}
}

// makes is called before the run makes anything: by every command but
// the launches (use, env, bare rezup) as it starts, and by a launch once
// it must fetch or build, or upgrade rezup. It arms the interrupts (a
// signal then cancels the run, which takes back what it made) and gives
// the process back its Ps (internal/oneproc); a warm launch has neither
// to pay for.
func (a *app) makes() {
	if a.armInterrupts != nil {
		a.armInterrupts()
	}
	oneproc.All()
}

// stopLive erases the live status line for good: the command is done, or
// is about to run something else on this terminal.
func (a *app) stopLive() {
	if a.live != nil {
		a.live.stop()
	}
}

// warnf prints a warning, once per run: the same words twice (from two
// layers that each noticed, or two containers of one root) say nothing
// new.
func (a *app) warnf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.warnMu.Lock()
	defer a.warnMu.Unlock()
	if a.warned[msg] {
		return
	}
	if a.warned == nil {
		a.warned = map[string]bool{}
	}
	a.warned[msg] = true
	if a.quiet {
		return
	}
	a.progressMu.Lock()
	defer a.progressMu.Unlock()
	a.endProgressLocked()
	fmt.Fprintf(a.stderr, "rezup: warning: %s\n", msg)
}

func (a *app) infof(format string, args ...any) {
	if a.quiet {
		return
	}
	a.progressMu.Lock()
	defer a.progressMu.Unlock()
	a.endProgressLocked()
	fmt.Fprintf(a.stderr, "rezup: "+format+"\n", args...)
}

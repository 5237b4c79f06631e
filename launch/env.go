package launch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/recipe"
)

// Options is what composing a launch environment needs. cmd/rezup fills it
// once from the flags, the environment and the revision.
type Options struct {
	// Container is the container's name, e.g. ".main".
	Container string
	// Remote is true when the revision came from the remote root.
	Remote bool
	// Recipe is the revision's frozen recipe; nil means no [dotenv] or [env].
	Recipe *recipe.Recipe
	// BinDirs are the production bin dirs of every venv, in order. They are
	// prepended to PATH.
	BinDirs []string
	// Environ is the caller's environment ("KEY=VALUE" entries).
	Environ []string
	// GOOS picks the [dotenv.<goos>] table (linux, darwin, windows);
	// "" means the running system's.
	GOOS string
}

// ErrNested is returned by CheckNested when rezup runs inside a shell or
// command that rezup launched.
var ErrNested = errors.New("already inside rezup container")

// CheckNested refuses to start rezup inside a rezup container, as the seed
// does: REZUP_CONTAINER set to a non-empty value in environ.
func CheckNested(environ []string) error {
	if name, _ := envlist.Lookup(environ, "REZUP_CONTAINER"); name != "" {
		// What to do about it is cmd/rezup's hint: said once.
		return fmt.Errorf("%w %s", ErrNested, name)
	}
	return nil
}

// Environ composes the environment of a revision as the Python rezup
// does, each step over the one before:
//
//  1. the caller's environment (o.Environ);
//  2. the [dotenv] files: the top-level entries sorted by key, then the
//     [dotenv.<GOOS>] entries sorted by key; each file's bindings in file
//     order. A missing file is skipped, as the Python rezup did, with a
//     warning naming it; a file that cannot be read or parsed is an error
//     naming it and its recipe key;
//  3. [env], in file order (recipe.EnvVar: each value as python-dotenv
//     reads it);
//  4. REZUP_CONTAINER and REZUP_USING_REMOTE ("yes" or "");
//  5. PATH: the bin dirs, then the PATH composed so far.
//
// Dotenv values and [env] values get python-dotenv's interpolation
// (${VAR}, ${VAR:-default}), single-quoted dotenv values too, and see
// what python-dotenv lets them see: the caller's environment and the
// bindings before them in the same file, or in [env]; never another
// file's, and [env] never the files'. (python-dotenv reads each file, and
// the [env] the Python rezup writes out, on its own against os.environ.)
// The result keeps the caller's order, with new keys appended, and has no
// duplicate keys (case-insensitive on Windows, where the caller's
// spelling of a key such as Path is kept). The warnings are one line
// each, for the caller to show.
func Environ(o Options) (environ, warnings []string, err error) {
	env := newEnvList(o.Environ)
	if r := o.Recipe; r != nil {
		caller := newEnvList(o.Environ) // python-dotenv's os.environ
		goos := o.GOOS
		if goos == "" {
			goos = runtime.GOOS
		}
		type file struct{ table, key, path string }
		var files []file
		for _, k := range sortedKeys(r.Dotenv.Shared) {
			files = append(files, file{"[dotenv]", k, r.Dotenv.Shared[k]})
		}
		plat := r.Dotenv.Platform[goos]
		for _, k := range sortedKeys(plat) {
			files = append(files, file{"[dotenv." + goos + "]", k, plat[k]})
		}
		for _, f := range files {
			where := ""
			if r.File != "" {
				where = " of " + r.File
			}
			kvs, err := readDotenv(f.path)
			if errors.Is(err, fs.ErrNotExist) {
				warnings = append(warnings, fmt.Sprintf("skipped %s %s%s: no file %s", f.table, f.key, where, f.path))
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("load %s %s%s: %w", f.table, f.key, where, err)
			}
			seen := caller.over()
			for _, kv := range kvs {
				if kv.NoValue {
					// python-dotenv binds it to None: a later ${NAME}
					// of this file reads it as empty.
					seen.set(kv.Key, "")
					continue
				}
				v := expand(kv.Value, seen.get)
				seen.set(kv.Key, v)
				env.set(kv.Key, v)
			}
		}
		seen := caller.over()
		for _, e := range r.Env {
			v := expand(e.Value, seen.get)
			seen.set(e.Name, v)
			env.set(e.Name, v)
		}
	}

	env.set("REZUP_CONTAINER", o.Container)
	remote := ""
	if o.Remote {
		remote = "yes"
	}
	env.set("REZUP_USING_REMOTE", remote)

	if len(o.BinDirs) > 0 {
		path := strings.Join(o.BinDirs, string(os.PathListSeparator))
		// An empty PATH stays out: a trailing separator would mean the
		// working directory.
		if old, _ := env.get("PATH"); old != "" {
			path += string(os.PathListSeparator) + old
		}
		env.set("PATH", path)
	}
	return env.list(), warnings, nil
}

func readDotenv(path string) ([]recipe.KV, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	defer f.Close() // read-only; nothing to lose
	kvs, err := recipe.ParseDotenv(f)
	var de *recipe.DotenvError
	if errors.As(err, &de) {
		de.File = path
	}
	return kvs, err
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// envList is an environment being composed: ordered, one entry per key.
type envList struct {
	keys []string // as first spelled
	vals []string
	idx  map[string]int // envlist.Key(key) → position
}

func newEnvList(environ []string) *envList {
	e := &envList{idx: make(map[string]int, len(environ)+8)}
	for _, kv := range environ {
		if k, v, ok := envlist.Split(kv); ok {
			e.set(k, v)
		}
	}
	return e
}

// over is a lookup of e's variables where set values win: what
// python-dotenv interpolates with, os.environ under the bindings read so
// far. It leaves e as it is.
func (e *envList) over() *overlay {
	return &overlay{base: e, vals: map[string]string{}}
}

type overlay struct {
	base *envList
	vals map[string]string // envlist.Key(key) → value
}

func (o *overlay) get(key string) (string, bool) {
	if v, ok := o.vals[envlist.Key(key)]; ok {
		return v, true
	}
	return o.base.get(key)
}

func (o *overlay) set(key, value string) { o.vals[envlist.Key(key)] = value }

func (e *envList) get(key string) (string, bool) {
	if i, ok := e.idx[envlist.Key(key)]; ok {
		return e.vals[i], true
	}
	return "", false
}

func (e *envList) set(key, value string) {
	if i, ok := e.idx[envlist.Key(key)]; ok {
		e.vals[i] = value
		return
	}
	e.idx[envlist.Key(key)] = len(e.keys)
	e.keys = append(e.keys, key)
	e.vals = append(e.vals, value)
}

func (e *envList) list() []string {
	out := make([]string, len(e.keys))
	for i, k := range e.keys {
		out[i] = k + "=" + e.vals[i]
	}
	return out
}

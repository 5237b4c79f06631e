package pyenv

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/rezup/rezup/internal/fsx"
)

// ErrNoBasePip means the interpreter has no usable bundled pip wheel: its
// ensurepip module or wheel is missing, or the wheel is older than
// MinBasePip. Create then falls back to ensurepip.
var ErrNoBasePip = errors.New("no usable bundled pip wheel")

// MinBasePip is the oldest bundled pip run from outside a venv: pip 22.3
// is the first with --python, which callers resolving with the base
// interpreter may pass.
var MinBasePip = [3]int{22, 3, 0}

// BasePip is a pip that runs without being installed in any venv: the
// wheel ensurepip would install, unpacked once into a cache directory and
// compiled there. Running a wheel as a zip costs seconds per run (zip
// imports cannot cache bytecode); the unpacked copy starts as fast as an
// installed pip.
type BasePip struct {
	Wheel   string // the interpreter's bundled wheel file
	Version string // pip's version, from the wheel's name
	Dir     string // the unpacked wheel: Dir/pip is pip's package
}

// Argv is the argv prefix that runs this pip with the interpreter python
// (a base interpreter or a venv's), with -E: pip then works on python's
// environment, whether or not pip is installed in it. Append the pip
// command (install, download, …) and its arguments.
//
// pip runs as `python -E DIR/pip` would run it, but for one thing: the
// User-Agent header pip computes for each run (pip's user_agent(): it
// runs lsb_release and rustc, half a second or more of a short pip run)
// is computed once and remembered in the cache directory, for the same
// interpreter, pip and environment (PATH and the variables pip reads for
// it), as pipBoot says.
func (b BasePip) Argv(python string) []string {
	return []string{python, "-E", "-c", pipBoot, b.Dir, filepath.Dir(b.Dir)}
}

// pipBoot runs the pip unpacked in argv[1], remembering its User-Agent
// in the directory argv[2] (best effort: anything failing there leaves
// pip as it is).
const pipBoot = `import hashlib, os, sys
pipdir, memodir = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
sys.argv[0] = "pip"
sys.path[0] = pipdir  # -c puts the working directory first: never import from it
def remember():
    from pip._internal.network import session
    env = [os.environ.get(k) for k in ("BUILD_BUILDID", "BUILD_ID", "CI", "PIP_IS_CI", "PIP_USER_AGENT_USER_DATA", "PATH")]
    st = os.stat(sys.executable)
    key = repr((sys.executable, st.st_size, st.st_mtime_ns, sys.version, pipdir, env))
    path = os.path.join(memodir, "user-agent-" + hashlib.sha256(key.encode()).hexdigest()[:16])
    try:
        with open(path) as f:
            ua = f.read()
    except OSError:
        ua = session.user_agent()
        try:
            tmp = "%s.%d" % (path, os.getpid())
            with open(tmp, "w") as f:
                f.write(ua)
            os.replace(tmp, path)
        except OSError:
            pass
    if ua.startswith("pip/"):
        session.user_agent = lambda: ua
try:
    remember()
except Exception:
    pass
from pip._internal.cli.main import main
sys.exit(main())
`

// findPipScript prints the bundled pip wheels ensurepip knows of: its own
// _bundled dir, and the system dir Debian-style builds use instead.
const findPipScript = `import glob, json, os, sys
try:
    import ensurepip
except ImportError:
    sys.stdout.write("null")
    sys.exit(0)
dirs = [os.path.join(os.path.dirname(ensurepip.__file__), "_bundled")]
extra = getattr(ensurepip, "_WHEEL_PKG_DIR", None)
if extra:
    dirs.insert(0, extra)
wheels = []
for d in dirs:
    wheels += glob.glob(os.path.join(d, "pip-*.whl"))
try:
    version = ensurepip.version()
except Exception:
    version = ""
json.dump({"wheels": wheels, "version": version, "dirs": dirs}, sys.stdout)
`

// bundledPips is what findPipScript prints: nil without ensurepip.
type bundledPips struct {
	Wheels  []string `json:"wheels"`
	Version string   `json:"version"`
	Dirs    []string `json:"dirs"`
}

// findBundled runs findPipScript with py, or reads its memo in cacheDir:
// it holds while the interpreter, the directories searched and the
// wheels found are unchanged.
func findBundled(ctx context.Context, py Interpreter, cacheDir string, env []string) (*bundledPips, error) {
	var found *bundledPips
	if loadMemo(cacheDir, "bundled-pip", py.Executable, &found) {
		return found, nil
	}
	exeStamp, stamped := stamps(py.Executable)
	out, err := output(ctx, py.Executable, []string{"-E", "-c", findPipScript}, env)
	if err != nil {
		return nil, fmt.Errorf("bundled pip of %s: %w", py.Executable, err)
	}
	if err := json.Unmarshal(out, &found); err != nil {
		return nil, fmt.Errorf("bundled pip of %s: unexpected output %q: %w", py.Executable, tail(out, 3), err)
	}
	if found != nil && stamped {
		var paths []string
		for _, d := range found.Dirs {
			if _, err := os.Stat(d); err == nil {
				paths = append(paths, d) // a directory made later changes its parent: good enough
			}
		}
		if st, ok := stamps(append(paths, found.Wheels...)...); ok {
			storeMemo(cacheDir, "bundled-pip", py.Executable, append(exeStamp, st...), found)
		}
	}
	return found, nil
}

var pipWheelRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^pip-(\d+)\.(\d+)(?:\.(\d+))?[^-]*-`) })

// FindBasePip finds py's bundled pip wheel and makes it runnable from
// cacheDir (created if needed; one subdirectory per wheel content and
// python version, shared by concurrent builds: each is published with
// one rename). A wheel that is missing or older than MinBasePip wraps
// ErrNoBasePip and says which.
func FindBasePip(ctx context.Context, py Interpreter, cacheDir string, env []string) (BasePip, error) {
	if cacheDir == "" {
		return BasePip{}, errors.New("bundled pip: no cache directory")
	}
	found, err := findBundled(ctx, py, cacheDir, env)
	if err != nil {
		return BasePip{}, err
	}
	if found == nil {
		return BasePip{}, fmt.Errorf("%s has no ensurepip module: %w", py.Executable, ErrNoBasePip)
	}
	// The wheel ensurepip itself would install, else the newest.
	var best BasePip
	var bestV [3]int
	for _, w := range found.Wheels {
		m := pipWheelRe().FindStringSubmatch(filepath.Base(w))
		if m == nil {
			continue
		}
		var v [3]int
		for i := range v {
			v[i], _ = strconv.Atoi(m[i+1]) // digits by the regexp; a missing patch is 0
		}
		version := strings.SplitN(filepath.Base(w), "-", 3)[1]
		if best.Version == found.Version && found.Version != "" {
			break
		}
		if best.Wheel == "" || version == found.Version || less(bestV, v) {
			best, bestV = BasePip{Wheel: w, Version: version}, v
		}
	}
	if best.Wheel == "" {
		return BasePip{}, fmt.Errorf("%s has no bundled pip wheel: %w", py.Executable, ErrNoBasePip)
	}
	if less(bestV, MinBasePip) {
		return BasePip{}, fmt.Errorf("the bundled pip %s of %s is older than %d.%d: %w", best.Version, py.Executable, MinBasePip[0], MinBasePip[1], ErrNoBasePip)
	}
	dir, err := unpackPip(ctx, py, best.Wheel, cacheDir, env)
	if err != nil {
		return BasePip{}, fmt.Errorf("bundled pip %s: %w", best.Wheel, err)
	}
	best.Dir = dir
	return best, nil
}

func less(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// unpackPip returns cacheDir/<wheel>-<content hash>-py<X.Y>, unpacking the
// wheel and compiling it with py first when it is not there yet.
func unpackPip(ctx context.Context, py Interpreter, wheel, cacheDir string, env []string) (string, error) {
	data, err := os.ReadFile(wheel)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	// -c2: the layout with the side .dist-info and hash pycs (CopyInto);
	// an older copy without them is left alone, for gc.
	final := filepath.Join(cacheDir, fmt.Sprintf("%s-%s-py%s-c2", strings.TrimSuffix(filepath.Base(wheel), ".whl"), hex.EncodeToString(sum[:8]), py.MajorMinor()))
	if _, err := os.Stat(filepath.Join(final, "pip", "__main__.py")); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(cacheDir, 0o777); err != nil {
		return "", err
	}
	staging, err := os.MkdirTemp(cacheDir, ".unpack-")
	if err != nil {
		return "", err
	}
	// Whatever happens, the staging dir goes: renamed into place, or
	// removed (best effort: it is a private temp name).
	defer func() { _ = os.RemoveAll(staging) }()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", err
	}
	for _, f := range zr.File {
		// The dist-info goes aside (for CopyInto): at the top, this copy
		// would be an installed pip, and run from a dir on sys.path, it
		// would see itself installed in every venv and skip installing
		// the wheel there.
		dir := staging
		if top, _, _ := strings.Cut(f.Name, "/"); strings.HasSuffix(top, ".dist-info") {
			dir = filepath.Join(staging, sideDistInfo)
		}
		if err := unzipFile(f, dir); err != nil {
			return "", err
		}
	}
	// Compiled once here, so that no run of pip writes bytecode into a
	// directory other builds are reading, and so that CopyInto copies
	// compiled pip into every venv: checked-hash pycs (pip needs python
	// 3.7+, which has them) that name their sources "pip/…", whatever
	// the directory (import fixes co_filename up to the real source), so
	// that a build's bytes do not depend on where this cache is. Files
	// that do not compile are compiled (or not) when imported, as without
	// a cache.
	compile := []string{"-E", "-m", "compileall", "-q", "-f", "--invalidation-mode", "checked-hash", "-d", "pip", filepath.Join(staging, "pip")}
	if _, err := output(ctx, py.Executable, compile, env); err != nil {
		return "", fmt.Errorf("compile: %w", err)
	}
	if err := os.Chmod(staging, fsx.Perm(0o777)); err != nil {
		return "", err
	}
	if err := os.Rename(staging, final); err != nil {
		if _, serr := os.Stat(filepath.Join(final, "pip", "__main__.py")); serr == nil {
			return final, nil // another build unpacked it first
		}
		return "", err
	}
	return final, nil
}

// unzipFile writes one member of the wheel under dir; names that would
// leave dir are refused.
func unzipFile(f *zip.File, dir string) error {
	name := filepath.FromSlash(f.Name)
	if !filepath.IsLocal(name) {
		return fmt.Errorf("unsafe name %q in the wheel", f.Name)
	}
	p := filepath.Join(dir, name)
	if strings.HasSuffix(f.Name, "/") {
		return os.MkdirAll(p, 0o777)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return err
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close() // read side: a close error loses nothing
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, rc); err != nil {
		w.Close()
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	return w.Close()
}

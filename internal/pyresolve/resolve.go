package pyresolve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/proc"
	"github.com/rezup/rezup/internal/pyout"
)

// ResolveOptions says how to run pip and on what.
type ResolveOptions struct {
	// Name is the venv's name in the lock ("rez", an extension, "shared").
	Name string
	// Pip is the argv prefix that runs pip (≥ 22.2), e.g.
	// {"/venv/bin/python", "-m", "pip"}, or a base interpreter running a
	// pip wheel; the caller decides.
	Pip []string
	// Requirements are pip requirement arguments, one requirement each
	// ("rez>=2.83", "./src/foo", "-e", "./dev" is two arguments).
	Requirements []string
	// Options go before the requirements: the recipe's pip options
	// (--no-index, --find-links DIR, --index-url URL, …).
	Options []string
	// Env is pip's environment; nil means this process's, as os/exec does.
	Env []string
	// Dir is pip's working directory, against which relative paths in
	// Requirements and Options resolve; "" means this process's.
	Dir string
	// TempDir holds pip's report while it runs; required.
	TempDir string
	// Log receives pip's output as it runs; nil discards it.
	Log io.Writer
}

// Errors Resolve wraps, for callers that give a hint (such as --frozen).
var (
	// ErrNoNetwork: pip could not reach an index or URL. pip says so
	// only when it retries (its default is 5 retries): with --retries 0
	// it logs the connection error at debug level only, and the error is
	// ErrNotFound, which a caller should then treat as possibly offline.
	ErrNoNetwork = errors.New("pip could not reach the network or index")
	// ErrNotFound: no distribution satisfies a requirement (a wrong
	// name or version, or an index option that lists nothing).
	ErrNotFound = errors.New("no distribution satisfies a requirement")
)

// outputKeep is how much of pip's output Resolve keeps for its error.
const outputKeep = 64 << 10

// Resolve runs `pip install --dry-run --ignore-installed --report` on
// o.Requirements and returns what pip would install, each distribution
// with its source and hash. A local archive the report gives no hash for
// is hashed here; a local directory is hashed with TreeHash. A failure is
// one line with pip's error lines; it wraps ErrNoNetwork or ErrNotFound
// when pip's output says so.
func Resolve(ctx context.Context, o ResolveOptions) (*VenvResolution, error) {
	if o.Name == "" || len(o.Pip) == 0 || o.TempDir == "" {
		return nil, errors.New("resolve: Name, Pip and TempDir are required")
	}
	if len(o.Requirements) == 0 {
		return &VenvResolution{Name: o.Name, Dists: []Dist{}}, nil
	}
	dir, err := os.MkdirTemp(o.TempDir, "resolve-")
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", o.Name, err)
	}
	// Best effort: the report is a small temporary file nobody else reads.
	defer os.RemoveAll(dir)
	reportPath := filepath.Join(dir, "report.json")

	args := append([]string{}, o.Pip[1:]...)
	args = append(args, "install", "--dry-run", "--ignore-installed", "--report", reportPath,
		"--quiet", "--no-input", "--disable-pip-version-check")
	args = append(args, o.Options...)
	args = append(args, o.Requirements...)
	cmd := exec.CommandContext(ctx, o.Pip[0], args...)
	cmd.Env, cmd.Dir = o.Env, o.Dir
	// Its own process group: an interrupt ends pip and what it started
	// (build backends of sdists) together.
	proc.Group(cmd)
	out := &tailBuffer{max: outputKeep}
	var w io.Writer = out
	if o.Log != nil {
		w = io.MultiWriter(o.Log, out)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("resolve %s: %w", o.Name, ctx.Err())
		}
		return nil, pipError(o.Name, err, out.Bytes())
	}
	data, err := fsx.ReadMeta(reportPath, 64<<20)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: pip wrote no report (pip ≥ 22.2 is needed): %w", o.Name, err)
	}
	v, err := fromReport(o.Name, data)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", o.Name, err)
	}
	return v, nil
}

// pipError is Resolve's one-line error for a failed pip run.
func pipError(name string, runErr error, output []byte) error {
	text := string(output)
	var kind error
	switch {
	case containsAny(text, "NewConnectionError", "Failed to establish a new connection",
		"Temporary failure in name resolution", "Name or service not known",
		"Max retries exceeded", "connection broken", "ConnectTimeoutError", "Network is unreachable",
		"Could not fetch URL"):
		kind = ErrNoNetwork
	case containsAny(text, "Could not find a version that satisfies", "No matching distribution found"):
		kind = ErrNotFound
	}
	msg := excerpt(text)
	// pip's own words follow the message, for the caller's excerpt: a
	// warning that explains the failure (a --find-links directory that
	// does not exist, an index that does not answer) is among them.
	if kind != nil {
		return pyout.WithOSError(fmt.Errorf("resolve %s: %w: %s\n%s", name, kind, msg, text), text)
	}
	return pyout.WithOSError(fmt.Errorf("resolve %s: pip failed (%v): %s\n%s", name, runErr, msg, text), text)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// excerpt is pip's error lines on one line, at most 600 bytes: its
// "ERROR:" lines if there are any; else, for a build step that failed
// (a build backend that raised), pip's summary of the step ("× ...") and
// the exception line of the step's traceback, each once; else its last
// three lines.
func excerpt(text string) string {
	var lines, errs, steps []string
	seen := map[string]bool{}
	for _, pl := range pyout.Lines(text) {
		l, exception := pl.Text, pl.Exception
		lines = append(lines, l)
		if pl.Frame {
			continue
		}
		if rest, ok := strings.CutPrefix(l, "ERROR: "); ok {
			errs = append(errs, rest)
		}
		step, isStep := strings.CutPrefix(l, "× ")
		if exception {
			step = l
		}
		if (isStep || exception) && !seen[step] {
			seen[step] = true
			steps = append(steps, step)
		}
	}
	if len(errs) == 0 {
		errs = steps
	}
	if len(errs) == 0 {
		errs = lines[max(0, len(lines)-3):]
	}
	s := strings.Join(errs, " / ")
	if s == "" {
		s = "no output"
	}
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte { return t.buf }

// report is the part of pip's installation report (formats "0" and "1")
// that a lock needs; see pip's reference/installation-report.
type report struct {
	Version    string `json:"version"`
	PipVersion string `json:"pip_version"`
	Install    []struct {
		DownloadInfo struct {
			URL          string `json:"url"`
			Subdirectory string `json:"subdirectory"`
			ArchiveInfo  *struct {
				Hash   string            `json:"hash"`
				Hashes map[string]string `json:"hashes"`
			} `json:"archive_info"`
			VCSInfo *struct {
				VCS               string `json:"vcs"`
				RequestedRevision string `json:"requested_revision"`
				CommitID          string `json:"commit_id"`
			} `json:"vcs_info"`
			DirInfo *struct {
				Editable bool `json:"editable"`
			} `json:"dir_info"`
		} `json:"download_info"`
		IsDirect  bool `json:"is_direct"`
		Requested bool `json:"requested"`
		Metadata  struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"metadata"`
	} `json:"install"`
}

// fromReport turns pip's installation report into the lock of venv name.
func fromReport(name string, data []byte) (*VenvResolution, error) {
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("read pip's report: %v", err)
	}
	if r.Version != "0" && r.Version != "1" {
		return nil, fmt.Errorf("read pip's report: format %q of pip %s is not one rezup reads (0 or 1)", r.Version, r.PipVersion)
	}
	v := &VenvResolution{Name: name, Dists: []Dist{}}
	for _, it := range r.Install {
		di := it.DownloadInfo
		d := Dist{Name: CanonicalName(it.Metadata.Name), Version: it.Metadata.Version, Requested: it.Requested}
		if d.Name == "" || d.Version == "" {
			return nil, fmt.Errorf("read pip's report: an item has no name or version (%s)", di.URL)
		}
		if di.Subdirectory != "" {
			return nil, fmt.Errorf("%s from %s#subdirectory=%s: sources in a subdirectory are not supported", d.Name, di.URL, di.Subdirectory)
		}
		var err error
		switch {
		case di.VCSInfo != nil:
			d.Source = Source{Kind: KindVCS, URL: di.URL, VCS: di.VCSInfo.VCS,
				RequestedRevision: di.VCSInfo.RequestedRevision, Commit: di.VCSInfo.CommitID}
		case di.DirInfo != nil:
			d.Source, err = dirSource(di.URL, di.DirInfo.Editable)
		case di.ArchiveInfo != nil:
			d.Source, err = archiveSource(di.URL, it.IsDirect, di.ArchiveInfo.Hashes, di.ArchiveInfo.Hash)
		default:
			err = fmt.Errorf("download_info of %s has no archive, vcs or dir info", di.URL)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", d.Name, d.Version, err)
		}
		v.Dists = append(v.Dists, d)
	}
	s := v.sorted()
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("read pip's report: %w", err)
	}
	return &s, nil
}

func archiveSource(u string, direct bool, hashes map[string]string, legacy string) (Source, error) {
	s := Source{URL: u, SHA256: strings.ToLower(hashes["sha256"])}
	if s.SHA256 == "" {
		if algo, h, ok := strings.Cut(legacy, "="); ok && algo == "sha256" {
			s.SHA256 = strings.ToLower(h)
		}
	}
	local, isFile := fileURLPath(u)
	switch {
	case !direct:
		s.Kind = KindIndex
	case isFile:
		s.Kind = KindFile
	default:
		s.Kind = KindURL
	}
	if s.SHA256 == "" && isFile {
		sum, err := fileSHA256(local)
		if err != nil {
			return Source{}, err
		}
		s.SHA256 = sum
	}
	return s, nil
}

func dirSource(u string, editable bool) (Source, error) {
	local, ok := fileURLPath(u)
	if !ok {
		return Source{}, fmt.Errorf("directory source %s is not a file:// URL", u)
	}
	sum, err := TreeHash(local)
	if err != nil {
		return Source{}, err
	}
	return Source{Kind: KindDir, Path: local, TreeSHA256: sum, Editable: editable}, nil
}

// fileURLPath is the local path of a file:// URL.
func fileURLPath(u string) (string, bool) {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "file" || (p.Host != "" && p.Host != "localhost") {
		return "", false
	}
	path := p.Path
	// file:///C:/x is C:/x on Windows.
	if len(path) > 2 && path[0] == '/' && path[2] == ':' {
		path = path[1:]
	}
	return filepath.FromSlash(path), true
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

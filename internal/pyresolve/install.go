package pyresolve

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/rezup/rezup/internal/fsx"
)

// Requirements returns the requirements file that installs exactly v, one
// line per distribution (see the package doc for each kind's form), and
// whether every line carries a hash, so that pip can run with
// --require-hashes (pip wants hashes on all requirements or none; vcs and
// dir sources have none pip could check).
func (v VenvResolution) Requirements() (text string, allHashed bool) {
	var b strings.Builder
	allHashed = len(v.Dists) > 0
	for _, d := range v.sorted().Dists {
		s := d.Source
		switch s.Kind {
		case KindIndex:
			fmt.Fprintf(&b, "%s==%s", d.Name, d.Version)
			if s.SHA256 != "" {
				fmt.Fprintf(&b, " --hash=sha256:%s", s.SHA256)
			}
		case KindFile, KindURL:
			u, _, _ := strings.Cut(s.URL, "#")
			fmt.Fprintf(&b, "%s @ %s", d.Name, u)
			if s.SHA256 != "" {
				fmt.Fprintf(&b, "#sha256=%s", s.SHA256)
			}
		case KindVCS:
			u := s.VCS + "+" + s.URL + "@" + s.Commit
			// pip's PEP 508 parser refuses "name @ git+file:///…" (no host),
			// so local repositories take the older egg form.
			if strings.HasPrefix(s.URL, "file:") {
				fmt.Fprintf(&b, "%s#egg=%s", u, d.Name)
			} else {
				fmt.Fprintf(&b, "%s @ %s", d.Name, u)
			}
		case KindDir:
			u := (&url.URL{Scheme: "file", Path: filepath.ToSlash(s.Path)}).String()
			if !strings.HasPrefix(u, "file:///") {
				// A Windows path, C:/x, gives file://C:/x.
				u = "file:///" + strings.TrimPrefix(u, "file://")
			}
			if s.Editable {
				fmt.Fprintf(&b, "-e %s", u)
			} else {
				fmt.Fprintf(&b, "%s @ %s", d.Name, u)
			}
		}
		b.WriteByte('\n')
		if s.SHA256 == "" || s.Kind == KindVCS || s.Kind == KindDir {
			allHashed = false
		}
	}
	return b.String(), allHashed
}

// InstallArgs writes v's requirements file at reqFile (atomically) and
// returns the arguments of `pip install` that install exactly v:
// --no-deps, --require-hashes when every distribution has a hash, and
// -r reqFile. A file rather than argv keeps long locks within the
// command-line limit. index sources are found again by pip's finder: the
// caller adds the pip options (index, find-links) the lock was resolved
// with; the pins and hashes make sure the finder picks the locked files.
func (v VenvResolution) InstallArgs(reqFile string) (args []string, requireHashes bool, err error) {
	if err := v.validate(); err != nil {
		return nil, false, fmt.Errorf("install args: %w", err)
	}
	text, requireHashes := v.Requirements()
	if err := fsx.WriteFile(reqFile, []byte(text), 0o666); err != nil {
		return nil, false, fmt.Errorf("install args: %w", err)
	}
	args = []string{"--no-deps"}
	if requireHashes {
		args = append(args, "--require-hashes")
	}
	return append(args, "-r", reqFile), requireHashes, nil
}

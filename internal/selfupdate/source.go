package selfupdate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoRelease is returned by Newest when the source holds no release for
// the platform.
var ErrNoRelease = errors.New("no release")

// Release is one release binary in a source directory.
type Release struct {
	Version Version
	Path    string
}

// ReleaseName is the file name of a release binary in a source directory:
// rezup-<version>-<goos>-<goarch>, plus ".exe" on Windows.
func ReleaseName(version, goos, goarch string) string {
	name := "rezup-" + version + "-" + goos + "-" + goarch
	if goos == "windows" {
		name += ".exe"
	}
	return name
}

// Newest returns the newest release for goos/goarch in the source
// directory dir (one directory read). Files whose names do not parse, and
// anything that is not a regular file, are skipped. It fails when dir
// cannot be read, and with ErrNoRelease when nothing matches.
func Newest(dir, goos, goarch string) (Release, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return Release{}, fmt.Errorf("read upgrade source: %w", err)
	}
	suffix := "-" + goos + "-" + goarch
	if goos == "windows" {
		suffix += ".exe"
	}
	var best Release
	found := false
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "rezup-") || !strings.HasSuffix(name, suffix) {
			continue
		}
		v, err := ParseVersion(strings.TrimSuffix(strings.TrimPrefix(name, "rezup-"), suffix))
		if err != nil {
			continue // not a release name, such as rezup-notes-linux-amd64
		}
		// ReadDir's type comes from the directory entry: a symlink to a
		// release is followed so sources can point "latest" names at files.
		if t := e.Type(); !t.IsRegular() {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
		}
		if !found || Compare(v, best.Version) > 0 {
			best, found = Release{Version: v, Path: filepath.Join(dir, name)}, true
		}
	}
	if !found {
		return Release{}, fmt.Errorf("%w for %s/%s in %s (want files named %s)", ErrNoRelease, goos, goarch, dir, ReleaseName("VERSION", goos, goarch))
	}
	return best, nil
}

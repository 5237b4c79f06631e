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

// HelperProgram is the name of rezup's network helper (cmd/rezup-net),
// which is installed beside rezup and released with it.
const HelperProgram = "rezup-net"

// Release is one release binary in a source directory.
type Release struct {
	Version Version
	Path    string
	// Helper is the path of rezup-net of the same version and platform in
	// the same directory, "" when the source has none.
	Helper string
}

// ReleaseName is the file name of a release binary in a source directory:
// rezup-<version>-<goos>-<goarch>, plus ".exe" on Windows.
func ReleaseName(version, goos, goarch string) string {
	return fileName("rezup", version, goos, goarch)
}

// HelperName is the file name of the rezup-net binary of a release:
// rezup-net-<version>-<goos>-<goarch>, plus ".exe" on Windows.
func HelperName(version, goos, goarch string) string {
	return fileName(HelperProgram, version, goos, goarch)
}

func fileName(program, version, goos, goarch string) string {
	name := program + "-" + version + "-" + goos + "-" + goarch
	if goos == "windows" {
		name += ".exe"
	}
	return name
}

// Newest returns the newest release for goos/goarch in the source
// directory dir (one directory read), with its rezup-net when the
// directory has one of the same version. Files whose names do not parse,
// and anything that is not a regular file, are skipped. It fails when dir
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
	helpers := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, suffix) || !isRegular(dir, e) {
			continue
		}
		if rest, ok := strings.CutPrefix(name, HelperProgram+"-"); ok {
			helpers[strings.TrimSuffix(rest, suffix)] = true
			continue
		}
		if !strings.HasPrefix(name, "rezup-") {
			continue
		}
		v, err := ParseVersion(strings.TrimSuffix(strings.TrimPrefix(name, "rezup-"), suffix))
		if err != nil {
			continue // not a release name, such as rezup-notes-linux-amd64
		}
		if !found || Compare(v, best.Version) > 0 {
			best, found = Release{Version: v, Path: filepath.Join(dir, name)}, true
		}
	}
	if !found {
		return Release{}, fmt.Errorf("%w for %s/%s in %s (want files named %s)", ErrNoRelease, goos, goarch, dir, ReleaseName("VERSION", goos, goarch))
	}
	if helpers[best.Version.String()] {
		best.Helper = filepath.Join(dir, HelperName(best.Version.String(), goos, goarch))
	}
	return best, nil
}

// isRegular reports whether the entry is a regular file. ReadDir's type
// comes from the directory entry: a symlink to a release is followed, so
// sources can point "latest" names at files.
func isRegular(dir string, e os.DirEntry) bool {
	if e.Type().IsRegular() {
		return true
	}
	fi, err := os.Stat(filepath.Join(dir, e.Name()))
	return err == nil && fi.Mode().IsRegular()
}

//go:build unix

package pyenv

import (
	"io/fs"
	"path/filepath"
)

const (
	defaultPython = "python3"
	binDirName    = "bin"
	venvPython    = "python"
)

// executableNames lists the file names that run the command name.
func executableNames(name string) []string { return []string{name} }

// isExecutable reports whether info (from os.Stat, so symlinks are
// followed) is a regular file with an execute bit. A bit for someone else
// is enough: the exec itself will tell if we may not run it.
func isExecutable(_ string, info fs.FileInfo) bool {
	return info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}

// scriptFile is the file an entry point named name is written to.
func scriptFile(dir, name string) string { return filepath.Join(dir, name) }

// scriptFiles lists what pip may have generated for the console script
// name in a bin directory.
func scriptFiles(dir, name string) []string { return []string{filepath.Join(dir, name)} }

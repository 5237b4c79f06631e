//go:build windows

package pyenv

import (
	"io/fs"
	"path/filepath"
	"strings"
)

const (
	defaultPython = "python"
	binDirName    = "Scripts"
	venvPython    = "python.exe"
)

var exeSuffixes = []string{".exe", ".bat", ".cmd", ".com"}

// executableNames lists the file names that run the command name.
func executableNames(name string) []string {
	ext := strings.ToLower(filepath.Ext(name))
	for _, s := range exeSuffixes {
		if ext == s {
			return []string{name}
		}
	}
	names := make([]string, 0, len(exeSuffixes))
	for _, s := range exeSuffixes {
		names = append(names, name+s)
	}
	return names
}

func isExecutable(path string, info fs.FileInfo) bool {
	if !info.Mode().IsRegular() {
		return false
	}
	ext := strings.ToLower(filepath.Ext(path))
	for _, s := range exeSuffixes {
		if ext == s {
			return true
		}
	}
	return false
}

// scriptFile is the file an entry point named name is written to.
//
// Untested: Windows needs a launcher NAME.exe beside NAME-script.py (pip
// copies distlib's t64.exe). rezup writes only the script for now; run it
// with the venv's python.exe.
func scriptFile(dir, name string) string { return filepath.Join(dir, name+"-script.py") }

// scriptFiles lists what pip may have generated for the console script
// name in a Scripts directory.
func scriptFiles(dir, name string) []string {
	return []string{
		filepath.Join(dir, name+".exe"),
		filepath.Join(dir, name+"-script.py"),
		filepath.Join(dir, name),
	}
}

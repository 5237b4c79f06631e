package recipe

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultContainer is the container used when none is named. Its recipe is
// ~/rezup.toml.
const DefaultContainer = ".main"

// ErrBadName is wrapped by every error from [ValidContainerName].
var ErrBadName = errors.New("invalid container name")

// maxNameLen keeps a container name a valid directory name everywhere.
const maxNameLen = 200

// ValidContainerName checks that name can name a container: ".main", or
// letters, digits, ".", "_" and "-" starting with a letter or digit. Names
// that reach outside the root (paths, "..") or collide with rezup's own
// directories (.store, .tmp) are refused.
func ValidContainerName(name string) error {
	const rule = `names use letters, digits, ".", "_" and "-", and start with a letter or digit (or are ".main")`
	switch {
	case name == DefaultContainer:
		return nil
	case name == "":
		return fmt.Errorf("%w: the name is empty; %s", ErrBadName, rule)
	case strings.HasPrefix(name, ".store") || strings.HasPrefix(name, ".tmp"):
		return fmt.Errorf("%w %q: names starting with \".store\" or \".tmp\" are reserved for rezup", ErrBadName, name)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("%w %q: a container name is not a path; %s", ErrBadName, name, rule)
	case strings.Contains(name, ".."):
		return fmt.Errorf("%w %q: names must not contain \"..\"; %s", ErrBadName, name, rule)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w %q: names are at most %d characters long", ErrBadName, name[:20]+"...", maxNameLen)
	case !isPlainName(name):
		return fmt.Errorf("%w %q: %s", ErrBadName, name, rule)
	}
	return nil
}

// FileName returns the recipe file name of a container: "rezup.toml" for
// the default container (".main", or ""), "rezup.NAME.toml" otherwise.
func FileName(container string) string {
	if container == "" || container == DefaultContainer {
		return "rezup.toml"
	}
	return "rezup." + container + ".toml"
}

// ContainerOf is the inverse of [FileName], for listing ~/rezup.*.toml: it
// returns the container a recipe file name belongs to, and false when the
// name is not a recipe file name of a valid container.
func ContainerOf(fileName string) (string, bool) {
	if fileName == "rezup.toml" {
		return DefaultContainer, true
	}
	name, ok := strings.CutPrefix(fileName, "rezup.")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, ".toml")
	if !ok || name == DefaultContainer || ValidContainerName(name) != nil {
		return "", false
	}
	return name, true
}

// isPlainName reports whether s is a name usable as one directory name on
// every platform: letters, digits, ".", "_" and "-", starting with a
// letter or digit. (Checked by hand: every launch reads a recipe, and a
// regexp costs its compilation at every start or first use.)
func isPlainName(s string) bool {
	if s == "" || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

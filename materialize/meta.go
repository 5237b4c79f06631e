package materialize

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rezup/rezup/internal/fsx"
)

// Metadata read from trees rezup does not fully trust (an unpacked
// archive, a remote root, a store entry an older rezup published) goes
// through readJSONMeta and checkVenvNames: a regular file of at most
// fsx.MaxJSONMeta bytes, and venv names that cannot leave the entry.

// ErrBadVenvName means a manifest or a revision.json names a venv that is
// not a plain name: followed, it would put a directory outside the entry
// (a bin of the attacker's choosing) first on PATH.
var ErrBadVenvName = errors.New("not a plain venv name")

// readJSONMeta reads the JSON metadata file at path into v. Errors are
// one line: the path, then what is wrong.
func readJSONMeta(path string, v any) error {
	b, err := fsx.ReadMeta(path, fsx.MaxJSONMeta)
	if err != nil {
		return err // already names path
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// checkVenvNames checks that every entry of venvs is the plain name of a
// venv inside an entry or revision (<dir>/venv/<name>): not empty, not
// "." or "..", with no path separator, no NUL and no drive or volume. It
// is looser than the recipe's rule for new names, so that revisions the
// Python rezup wrote stay readable, but no name can reach outside.
func checkVenvNames(file string, venvs []string) error {
	for _, v := range venvs {
		bad := v == "" || v == "." || v == ".." || len(v) > 255 ||
			strings.ContainsAny(v, "/\\\x00:") ||
			filepath.IsAbs(v) || filepath.VolumeName(v) != "" || filepath.Base(v) != v
		if bad {
			return fmt.Errorf("%s names venv %q: %w", file, v, ErrBadVenvName)
		}
	}
	return nil
}

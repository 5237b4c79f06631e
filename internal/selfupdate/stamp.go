package selfupdate

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rezup/rezup/internal/fsx"
)

// Due reports whether the last check, recorded by Record in the stamp file
// at path, is at least pause old: one stat. A missing or unreadable stamp
// is due, and so is one from the future (a clock that jumped back).
func Due(path string, pause time.Duration, now time.Time) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return true
	}
	age := now.Sub(fi.ModTime())
	return age < 0 || age >= pause
}

// Record marks a check made at now: the stamp's mtime is the time of the
// check, and its text says what was found, for people.
func Record(path string, now time.Time, note string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return fmt.Errorf("record upgrade check: %w", err)
	}
	text := fmt.Sprintf("checked %s\n%s\n", now.UTC().Format(time.RFC3339), note)
	if err := fsx.WriteFile(path, []byte(text), 0o666); err != nil {
		return fmt.Errorf("record upgrade check: %w", err)
	}
	if err := os.Chtimes(path, now, now); err != nil {
		return fmt.Errorf("record upgrade check: %w", err)
	}
	return nil
}

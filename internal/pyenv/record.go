package pyenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rezup/rezup/internal/fsx"
)

// RehashRecords rewrites the RECORD file of every *.dist-info directly
// under dir (a site-packages, or a --target lib dir) so that each row
// says what is on disk now: the sha256 and size of the file as it is, or
// no hash and size when the file is gone. Absolute paths under asDir,
// where dir will be at run time, are read from dir.
//
// pip hashes each file as it writes it. A build then rewrites some of
// them: relocation changes the scripts' shebangs (which named a staging
// dir with a random name) and rezup removes the plain console scripts.
// Left as pip wrote them, RECORD would hold hashes of bytes no longer
// anywhere, different in every build, and two builds of the same
// packages would not be byte-identical. Rows are kept in pip's order; a
// RECORD that needs no change is not rewritten.
func RehashRecords(dir, asDir string) error {
	records, err := filepath.Glob(filepath.Join(dir, "*.dist-info", "RECORD"))
	if err != nil {
		return err
	}
	for _, rec := range records {
		if err := rehashRecord(rec, dir, asDir); err != nil {
			return fmt.Errorf("rehash %s: %w", rec, err)
		}
	}
	return nil
}

func rehashRecord(rec, dir, asDir string) error {
	data, err := os.ReadFile(rec)
	if err != nil {
		return err
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		return err
	}
	changed := false
	for _, row := range rows {
		if len(row) != 3 || row[1] == "" && row[2] == "" {
			continue // RECORD itself, pycs: rows pip leaves without a hash
		}
		hash, size, err := hashFile(recordPath(row[0], dir, asDir))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			hash, size = "", ""
		case err != nil:
			return err
		}
		if row[1] != hash || row[2] != size {
			row[1], row[2] = hash, size
			changed = true
		}
	}
	if !changed {
		return nil
	}
	var out bytes.Buffer
	w := csv.NewWriter(&out)
	w.UseCRLF = bytes.Contains(data, []byte("\r\n")) // as pip's csv module writes it
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	// Inside a staged tree: the caller syncs the tree as a whole.
	return fsx.ReplaceStaged(rec, out.Bytes(), 0o666)
}

// recordPath is the file a RECORD row names: relative to the directory
// that holds the .dist-info, or absolute (under asDir, read from dir).
func recordPath(name, dir, asDir string) string {
	p := filepath.FromSlash(name)
	if !filepath.IsAbs(p) {
		return filepath.Join(dir, p)
	}
	if rel, err := filepath.Rel(asDir, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return filepath.Join(dir, rel)
	}
	return p
}

// hashFile is a RECORD row's hash and size of the regular file at p. A
// symlink or directory is hashed as missing: pip lists only the files it
// wrote.
func hashFile(p string) (hash, size string, err error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return "", "", err
	}
	if !fi.Mode().IsRegular() {
		return "", "", fs.ErrNotExist
	}
	f, err := os.Open(p)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", "", err
	}
	return "sha256=" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)), strconv.FormatInt(n, 10), nil
}

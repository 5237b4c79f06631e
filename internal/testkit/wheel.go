package testkit

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rezup/rezup/internal/fsx"
)

// Wheel describes a pure-Python distribution for WriteWheel.
type Wheel struct {
	Name    string
	Version string
	// Files maps a path inside the wheel ("rez/__init__.py") to its content.
	Files map[string]string
	// ConsoleScripts maps a script name to its "module:func" entry point.
	ConsoleScripts map[string]string
	// Requires are Requires-Dist lines ("rez>=2.100").
	Requires []string
}

// wheelTime is the fixed modification time of every wheel entry, so the
// same Wheel always gives the same bytes. 1980 is the earliest time a zip
// header can hold.
var wheelTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

var nameRun = regexp.MustCompile(`[-_.]+`)

// distName is name as the wheel spec escapes it in file and directory
// names: every run of "-", "_" and "." becomes one "_".
func distName(name string) string {
	return nameRun.ReplaceAllString(name, "_")
}

// versionName is version as it appears in wheel file names.
func versionName(version string) string {
	return strings.ReplaceAll(version, "-", "_")
}

// ModuleName is the import name the fake distributions use for name:
// lowercased, with "-" and "." turned into "_".
func ModuleName(name string) string {
	return strings.ToLower(distName(name))
}

// WheelFileName is the file name WriteWheel gives w.
func WheelFileName(w Wheel) string {
	return fmt.Sprintf("%s-%s-py3-none-any.whl", distName(w.Name), versionName(w.Version))
}

// WriteWheel writes w into dir as a py3-none-any wheel and returns its
// path. The dist-info holds METADATA, WHEEL, entry_points.txt (when there
// are console scripts) and RECORD. The output is deterministic: entries
// are sorted, with the dist-info last, and carry a fixed time and mode.
// The file is replaced atomically, so a pip reading dir never sees half of
// it.
func WriteWheel(dir string, w Wheel) (string, error) {
	if w.Name == "" || w.Version == "" {
		return "", fmt.Errorf("write wheel: name and version are required (got %q %q)", w.Name, w.Version)
	}
	distInfo := distName(w.Name) + "-" + versionName(w.Version) + ".dist-info"

	var meta strings.Builder
	fmt.Fprintf(&meta, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n", w.Name, w.Version)
	for _, r := range w.Requires {
		fmt.Fprintf(&meta, "Requires-Dist: %s\n", r)
	}
	files := map[string]string{
		distInfo + "/METADATA": meta.String(),
		distInfo + "/WHEEL": "Wheel-Version: 1.0\nGenerator: rezup-testkit\n" +
			"Root-Is-Purelib: true\nTag: py3-none-any\n",
	}
	if len(w.ConsoleScripts) > 0 {
		var ep strings.Builder
		ep.WriteString("[console_scripts]\n")
		for _, name := range sortedKeys(w.ConsoleScripts) {
			fmt.Fprintf(&ep, "%s = %s\n", name, w.ConsoleScripts[name])
		}
		files[distInfo+"/entry_points.txt"] = ep.String()
	}
	for p, content := range w.Files {
		clean := filepath.ToSlash(p)
		if clean == "" || strings.HasPrefix(clean, "/") || strings.Contains("/"+clean+"/", "/../") {
			return "", fmt.Errorf("write wheel %s: bad file path %q", w.Name, p)
		}
		if strings.HasPrefix(clean, distInfo+"/") {
			return "", fmt.Errorf("write wheel %s: %q is generated, not a file to pass in", w.Name, p)
		}
		files[clean] = content
	}

	// The wheel spec asks for the dist-info at the end of the archive, and
	// pip's RECORD must list every file, itself included with no hash.
	names := sortedKeys(files)
	sort.SliceStable(names, func(i, j int) bool {
		return !strings.HasPrefix(names[i], distInfo+"/") && strings.HasPrefix(names[j], distInfo+"/")
	})
	record := distInfo + "/RECORD"

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var rec bytes.Buffer
	cw := csv.NewWriter(&rec)
	cw.UseCRLF = false
	add := func(name string, data []byte) error {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: wheelTime}
		h.SetMode(0o644)
		f, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		return err
	}
	for _, name := range names {
		data := []byte(files[name])
		if err := add(name, data); err != nil {
			return "", fmt.Errorf("write wheel %s: %w", w.Name, err)
		}
		sum := sha256.Sum256(data)
		// csv.Writer buffers in memory; its errors surface at Flush below.
		_ = cw.Write([]string{name, "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]), strconv.Itoa(len(data))})
	}
	_ = cw.Write([]string{record, "", ""})
	cw.Flush()
	if err := cw.Error(); err != nil {
		return "", fmt.Errorf("write wheel %s: record: %w", w.Name, err)
	}
	if err := add(record, rec.Bytes()); err != nil {
		return "", fmt.Errorf("write wheel %s: %w", w.Name, err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("write wheel %s: %w", w.Name, err)
	}

	path := filepath.Join(dir, WheelFileName(w))
	if err := fsx.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("write wheel %s: %w", w.Name, err)
	}
	return path, nil
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

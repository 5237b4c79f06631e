package pyenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/rezup/rezup/internal/fsx"
)

// ProductionMarker is the file Rez looks for beside its production entry
// points; it holds the Rez version.
const ProductionMarker = ".rez_production_install"

// maxShebang is distlib's limit for a plain "#!" line, newline included.
// Longer lines are cut by some kernels, so they get the /bin/sh form.
// (distlib allows 512 on macOS; one limit everywhere keeps scripts
// identical across platforms.)
const maxShebang = 127

// EntryPoint is a console script: Name runs Module:Attr().
type EntryPoint struct {
	Name   string
	Module string // dotted module path
	Attr   string // dotted attribute path inside Module
}

// String returns the entry point in setuptools form, "name = module:attr".
func (ep EntryPoint) String() string { return ep.Name + " = " + ep.Module + ":" + ep.Attr }

// ParseEntryPoint parses an entry point value "module:attr [extras]"
// (extras are dropped). The name becomes a file name, so it may not hold a
// path separator.
func ParseEntryPoint(name, value string) (EntryPoint, error) {
	name = strings.TrimSpace(name)
	bad := func(why string) (EntryPoint, error) {
		return EntryPoint{}, fmt.Errorf("entry point %q = %q: %s", name, value, why)
	}
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00\n\r") {
		return bad("bad script name")
	}
	v := strings.TrimSpace(value)
	if i := strings.IndexByte(v, '['); i >= 0 {
		if !strings.HasSuffix(v, "]") {
			return bad("unterminated extras")
		}
		v = strings.TrimSpace(v[:i])
	}
	mod, attr, ok := strings.Cut(v, ":")
	if !ok {
		return bad("want module:attr")
	}
	mod, attr = strings.TrimSpace(mod), strings.TrimSpace(attr)
	if !isDottedName(mod) {
		return bad("bad module name")
	}
	if !isDottedName(attr) {
		return bad("bad attribute name")
	}
	return EntryPoint{Name: name, Module: mod, Attr: attr}, nil
}

// isDottedName reports whether s is Python identifiers joined by dots.
func isDottedName(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for i, r := range part {
			if !(r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
				return false
			}
		}
	}
	return true
}

// Shebang returns the header line(s) of a script run by python with flags,
// following pip's (distlib's) rules: a plain "#!python flags" line when it
// fits in 127 bytes and python holds no blank, otherwise a header that
// /bin/sh runs and Python reads as a string:
//
//	#!/bin/sh
//	'''exec' "PYTHON" FLAGS "$0" "$@"
//	' '''
//
// Unlike distlib, the /bin/sh form always ends in a newline, so any script
// body may follow it. Flags are joined with single spaces, unquoted. A
// python path holding $ or ` works, but Python 3.12+ warns about the \$
// escape sh needs on every run.
func Shebang(python string, flags []string) string {
	post := ""
	if len(flags) > 0 {
		post = " " + strings.Join(flags, " ")
	}
	line := "#!" + python + post + "\n"
	if !strings.ContainsAny(python, " \t") && len(line) <= maxShebang {
		return line
	}
	return "#!/bin/sh\n'''exec' " + shQuote(python) + post + " \"$0\" \"$@\"\n' '''\n"
}

// shQuote double-quotes s for sh.
func shQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"', '$', '`':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pyString returns s as a Python string literal: raw, as the seed writes
// it, when that is exact, escaped otherwise.
func pyString(s string) string {
	if !strings.ContainsAny(s, "'\n\r") && !strings.HasSuffix(s, `\`) {
		return "r'" + s + "'"
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(s) + "'"
}

// scriptBody is distlib's script template, or the seed's edit-mode variant
// (davidlatwe/rezup#56) that tells an editable rez where its production
// bin dir is.
func scriptBody(ep EntryPoint, editRezBinPath string) string {
	importName, _, _ := strings.Cut(ep.Attr, ".")
	var b strings.Builder
	b.WriteString("# -*- coding: utf-8 -*-\nimport re\n")
	if editRezBinPath != "" {
		b.WriteString("import os\n")
	}
	b.WriteString("import sys\n")
	fmt.Fprintf(&b, "from %s import %s\n", ep.Module, importName)
	if editRezBinPath != "" {
		b.WriteString("if os.getenv(\"REZUP_EDIT_IN_PRODUCTION\"):\n")
		b.WriteString("    from rez.system import system\n")
		fmt.Fprintf(&b, "    setattr(system, 'rez_bin_path', %s)\n", pyString(editRezBinPath))
	}
	b.WriteString("if __name__ == '__main__':\n")
	b.WriteString("    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n")
	fmt.Fprintf(&b, "    sys.exit(%s())\n", ep.Attr)
	return b.String()
}

// WriteEntryPoints writes one executable script (0777 less the umask) per entry
// point into dir, creating dir if needed. Each runs python with flags.
// editRezBinPath, when not empty, selects the edit-mode template (rez
// installed with pip -e): with REZUP_EDIT_IN_PRODUCTION set, the script
// sets rez's system.rez_bin_path to it. On Windows the script is
// NAME-script.py, without a launcher (untested).
//
// For dir = Venv.ProdBinDir() (bin/rez), remove pip's scripts first with
// RemoveScripts: pip's bin/rez script and the bin/rez directory cannot
// both exist.
func WriteEntryPoints(dir, python string, flags []string, eps []EntryPoint, editRezBinPath string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("write entry points: %w", err)
	}
	header := Shebang(python, flags)
	for _, ep := range eps {
		if _, err := ParseEntryPoint(ep.Name, ep.Module+":"+ep.Attr); err != nil {
			return fmt.Errorf("write entry points: %w", err)
		}
		path := scriptFile(dir, ep.Name)
		if err := fsx.WriteFile(path, []byte(header+scriptBody(ep, editRezBinPath)), 0o777); err != nil {
			return fmt.Errorf("write entry point %s: %w", path, err)
		}
	}
	return nil
}

// RemoveScripts deletes the scripts pip generated for names in binDir
// (the production copies replace them). Missing files are fine.
func RemoveScripts(binDir string, names []string) error {
	for _, name := range names {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") {
			return fmt.Errorf("remove script %q: bad script name", name)
		}
		for _, p := range scriptFiles(binDir, name) {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove script: %w", err)
			}
		}
	}
	return nil
}

// WriteProductionMarker writes the ProductionMarker file holding
// rezVersion (no newline, as the seed writes it) into prodBinDir.
func WriteProductionMarker(prodBinDir, rezVersion string) error {
	if rezVersion == "" {
		return errors.New("write production marker: empty rez version")
	}
	if err := os.MkdirAll(prodBinDir, 0o777); err != nil {
		return fmt.Errorf("write production marker: %w", err)
	}
	path := filepath.Join(prodBinDir, ProductionMarker)
	if err := fsx.WriteFile(path, []byte(rezVersion), 0o666); err != nil {
		return fmt.Errorf("write production marker: %w", err)
	}
	return nil
}

// EntryPointFile is the file WriteEntryPoints writes for the entry point
// name into dir: what a check of a build looks for.
func EntryPointFile(dir, name string) string { return scriptFile(dir, name) }

package pyenv

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// CanInstallWheels says whether InstallWheels works here: not on Windows,
// whose console scripts are launcher executables only pip writes.
var CanInstallWheels = runtime.GOOS != "windows"

// Wheel is a wheel file to install and the sha256 (hex) its bytes must
// have.
type Wheel struct {
	Path   string
	SHA256 string
	// URL, when set, is the direct URL the wheel was asked for by
	// (`name @ file:///…`): pip then records it in direct_url.json, and so
	// does InstallWheels. Empty for a wheel an index or find-links gave.
	URL string
}

// InstalledDist is a distribution InstallWheels installed.
type InstalledDist struct {
	Name     string // as the wheel's file name spells it
	Version  string
	DistInfo string       // its .dist-info directory, relative to site-packages
	Console  []EntryPoint // its console_scripts, sorted by name
	GUI      []EntryPoint // its gui_scripts, sorted by name
}

// InstallWheels installs wheels into the venv v whose site-packages is
// site, for python version pyVersion ("3.11.7"), as `pip install
// --no-deps --no-compile` of exactly those files would, without running
// python or pip: a build's install of a locked venv from local wheels
// costs milliseconds instead of a pip start.
//
// Each wheel's bytes are checked against its sha256 first. Its files go
// where pip puts them in a venv (the root and .data/purelib|platlib into
// site; .data/scripts into bin with a "#!python" line made to run the
// venv's python; .data/headers into include/site/pythonX.Y/NAME;
// .data/data into the venv), its console and GUI scripts are written
// with pip's template, and its .dist-info gets INSTALLER ("pip"),
// REQUESTED, direct_url.json for a direct URL, and a RECORD of every file
// written, sorted. Bytecode is not compiled (Compile does it for the
// whole tree).
//
// Like pip, a later wheel overwrites a file an earlier one wrote. Files
// are written straight into the venv being made (the caller publishes or
// removes the whole tree). A wheel that is not one (no single .dist-info,
// an unsupported Wheel-Version, a name leaving the venv) is an error
// naming it.
func (v Venv) InstallWheels(site, pyVersion string, wheels []Wheel) ([]InstalledDist, error) {
	if !CanInstallWheels {
		return nil, errors.New("install wheels: not supported on " + runtime.GOOS)
	}
	out := make([]InstalledDist, 0, len(wheels))
	for _, w := range wheels {
		d, err := v.installWheel(site, pyVersion, w)
		if err != nil {
			return nil, fmt.Errorf("install %s: %w", filepath.Base(w.Path), err)
		}
		if d.Name == "pip" && v.seed != nil {
			v.seed.installed = true
		}
		out = append(out, d)
	}
	return out, nil
}

// wheelInstall is one wheel being installed.
type wheelInstall struct {
	v        Venv
	site     string
	python   string
	mm       string      // "3.11"
	distName string      // normalized: headers go to include/site/pythonX.Y/<distName>
	record   [][3]string // path relative to site (slash), hash, size
}

func (v Venv) installWheel(site, pyVersion string, w Wheel) (InstalledDist, error) {
	data, err := os.ReadFile(w.Path)
	if err != nil {
		return InstalledDist{}, err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, w.SHA256) {
		return InstalledDist{}, fmt.Errorf("sha256 %s, the lock says %s: the file changed since it was locked; run `rezup add` to lock it again", got, w.SHA256)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return InstalledDist{}, fmt.Errorf("not a wheel: %w", err)
	}
	distInfo, err := findDistInfo(zr)
	if err != nil {
		return InstalledDist{}, err
	}
	name, version, _ := strings.Cut(strings.TrimSuffix(distInfo, ".dist-info"), "-")
	meta := map[string]*zip.File{}
	for _, f := range zr.File {
		if dir, base, ok := strings.Cut(f.Name, "/"); ok && dir == distInfo && !strings.Contains(base, "/") {
			meta[base] = f
		}
	}
	if err := checkWheelFile(meta["WHEEL"]); err != nil {
		return InstalledDist{}, err
	}
	mm := pyVersion
	if parts := strings.SplitN(pyVersion, ".", 3); len(parts) >= 2 {
		mm = parts[0] + "." + parts[1]
	}
	wi := &wheelInstall{v: v, site: site, python: v.Python(), mm: mm, distName: normalizeDist(name)}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue // directories come with their files
		}
		if f.Name == distInfo+"/RECORD" {
			continue // written below, for what was installed
		}
		if err := wi.file(f); err != nil {
			return InstalledDist{}, err
		}
	}
	eps, err := readEntryPoints(meta["entry_points.txt"])
	if err != nil {
		return InstalledDist{}, err
	}
	// A name in both groups is the GUI script, written last, as pip does.
	for _, group := range []string{"console_scripts", "gui_scripts"} {
		if err := wi.scripts(eps[group]); err != nil {
			return InstalledDist{}, err
		}
	}
	// INSTALLER says pip, as in the copied pip (CopyInto): a tree pip
	// installs (where this cannot, or on another node) and this one must
	// be byte-identical, to pack to the same digest for the same key.
	extra := [][2]string{{"INSTALLER", "pip\n"}, {"REQUESTED", ""}}
	if w.URL != "" {
		extra = append(extra, [2]string{"direct_url.json", directURLJSON(w.URL, w.SHA256)})
	}
	for _, f := range extra {
		if err := wi.write(distInfo+"/"+f[0], strings.NewReader(f[1]), false); err != nil {
			return InstalledDist{}, err
		}
	}
	if err := wi.writeRecord(distInfo); err != nil {
		return InstalledDist{}, err
	}
	return InstalledDist{Name: name, Version: version, DistInfo: distInfo, Console: eps["console_scripts"], GUI: eps["gui_scripts"]}, nil
}

// findDistInfo is the wheel's one top-level .dist-info directory.
func findDistInfo(zr *zip.Reader) (string, error) {
	var found []string
	for _, f := range zr.File {
		if top, _, ok := strings.Cut(f.Name, "/"); ok && strings.HasSuffix(top, ".dist-info") && !slices.Contains(found, top) {
			found = append(found, top)
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("not a wheel: %d .dist-info directories at its top, want 1", len(found))
	}
	if !strings.Contains(found[0], "-") {
		return "", fmt.Errorf("not a wheel: .dist-info directory %q is not NAME-VERSION.dist-info", found[0])
	}
	return found[0], nil
}

// checkWheelFile checks the .dist-info/WHEEL file: Wheel-Version 1.x, as
// pip requires (a newer minor version only warns there).
func checkWheelFile(f *zip.File) error {
	if f == nil {
		return errors.New("not a wheel: no .dist-info/WHEEL file")
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close() // read side
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "Wheel-Version") {
			continue
		}
		major, _, _ := strings.Cut(strings.TrimSpace(val), ".")
		if major != "1" {
			return fmt.Errorf("unsupported Wheel-Version %s (this rezup installs 1.x)", strings.TrimSpace(val))
		}
		return nil
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("not a wheel: its WHEEL file has no Wheel-Version")
}

// file installs one member of the wheel. As for pip, any top-level
// directory named *.data is the wheel's data directory.
func (wi *wheelInstall) file(f *zip.File) error {
	name := f.Name
	if !filepath.IsLocal(filepath.FromSlash(name)) || strings.Contains(name, "\\") {
		return fmt.Errorf("unsafe name %q in the wheel", name)
	}
	rel := name // relative to site, slash-separated
	script := false
	if top, rest, ok := strings.Cut(name, "/"); ok && strings.HasSuffix(top, ".data") {
		scheme, sub, ok := strings.Cut(rest, "/")
		if !ok || sub == "" {
			return fmt.Errorf("unsafe name %q in the wheel", name)
		}
		var base string
		switch scheme {
		case "purelib", "platlib":
			base = ""
		case "scripts":
			base, script = wi.relToSite(wi.v.BinDir()), true
		case "headers":
			base = wi.relToSite(filepath.Join(wi.v.Dir, "include", "site", "python"+wi.mm, wi.distName))
		case "data":
			base = wi.relToSite(wi.v.Dir)
		default:
			return fmt.Errorf("unknown .data directory %q in the wheel", scheme)
		}
		rel = path.Join(base, sub)
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close() // read side
	// Executable when the wheel says so, as pip does (scripts included).
	exec := f.Mode()&0o111 != 0
	if script {
		return wi.script(rel, rc, exec)
	}
	return wi.write(rel, rc, exec)
}

// relToSite is dir relative to site-packages, slash-separated (bin is
// "../../../bin"): how RECORD names files outside site-packages.
func (wi *wheelInstall) relToSite(dir string) string {
	rel, err := filepath.Rel(wi.site, dir)
	if err != nil {
		return filepath.ToSlash(dir) // absolute: RECORD allows it
	}
	return filepath.ToSlash(rel)
}

// script installs a .data/scripts file: a first line "#!python…" becomes
// a shebang running the venv's python, as pip's fix_script does.
func (wi *wheelInstall) script(rel string, r io.Reader, exec bool) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if bytes.HasPrefix(data, []byte("#!python")) {
		_, rest, _ := bytes.Cut(data, []byte("\n"))
		data = append([]byte(Shebang(wi.python, nil)), rest...)
	}
	return wi.write(rel, bytes.NewReader(data), exec)
}

// scripts writes the console and GUI scripts of eps into bin.
func (wi *wheelInstall) scripts(eps []EntryPoint) error {
	if len(eps) == 0 {
		return nil
	}
	header := Shebang(wi.python, nil)
	for _, ep := range eps {
		rel := path.Join(wi.relToSite(wi.v.BinDir()), ep.Name)
		if err := wi.write(rel, strings.NewReader(header+scriptBody(ep, "")), true); err != nil {
			return err
		}
	}
	return nil
}

// write writes r at rel (relative to site) and records it.
func (wi *wheelInstall) write(rel string, r io.Reader, exec bool) error {
	p := filepath.Join(wi.site, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return err
	}
	perm := os.FileMode(0o666)
	if exec {
		perm = 0o777
	}
	// A file an earlier wheel (or the copied pip) wrote is replaced, as
	// pip replaces it: removed first, so that a read-only one goes too.
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", rel, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	wi.record = append(wi.record, [3]string{rel, "sha256=" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)), strconv.FormatInt(n, 10)})
	return nil
}

// writeRecord writes distInfo/RECORD: every file written, sorted as pip
// sorts it, and RECORD itself without a hash.
func (wi *wheelInstall) writeRecord(distInfo string) error {
	rows := append(wi.record, [3]string{distInfo + "/RECORD", "", ""})
	sort.SliceStable(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.UseCRLF = true // as pip's csv module writes it
	for i, row := range rows {
		if i+1 < len(rows) && row[0] == rows[i+1][0] {
			continue // written twice (a wheel holding a name twice): the last write is what is there
		}
		if err := cw.Write(row[:]); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	p := filepath.Join(wi.site, filepath.FromSlash(distInfo), "RECORD")
	return os.WriteFile(p, buf.Bytes(), 0o666)
}

// readEntryPoints parses entry_points.txt (nil f: none): its
// console_scripts and gui_scripts groups, each sorted by name; a name
// given twice in a group is the last one, as for pip's script maker.
func readEntryPoints(f *zip.File) (map[string][]EntryPoint, error) {
	if f == nil {
		return nil, nil
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close() // read side
	groups := map[string]map[string]EntryPoint{}
	section := ""
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		if section != "console_scripts" && section != "gui_scripts" {
			continue
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("entry_points.txt: line %q is not name = value", line)
		}
		ep, err := ParseEntryPoint(k, val)
		if err != nil {
			return nil, fmt.Errorf("entry_points.txt: %w", err)
		}
		if groups[section] == nil {
			groups[section] = map[string]EntryPoint{}
		}
		groups[section][ep.Name] = ep
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := map[string][]EntryPoint{}
	for g, byName := range groups {
		eps := make([]EntryPoint, 0, len(byName))
		for _, ep := range byName {
			eps = append(eps, ep)
		}
		sort.Slice(eps, func(i, j int) bool { return eps[i].Name < eps[j].Name })
		out[g] = eps
	}
	return out, nil
}

// directURLJSON is the direct_url.json pip (23+) writes for an archive
// asked for by URL with its sha256: keys sorted, Python's json.dumps
// separators, no newline.
func directURLJSON(url, sha string) string {
	sha = strings.ToLower(sha)
	return fmt.Sprintf(`{"archive_info": {"hash": "sha256=%s", "hashes": {"sha256": "%s"}}, "url": %s}`, sha, sha, pyJSONString(url))
}

// pyJSONString is s as Python's json.dumps writes a string (ensure_ascii).
func pyJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r > 0x7e:
			if r > 0xffff {
				r -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// WheelSite is the site-packages InstallWheels installs into for a venv
// Create made for py, found without running python: lib/pythonX.Y/
// site-packages (CPython's venv layout on unix), when it is a directory
// and platlib is the same directory (no lib64, or lib64 a link to lib).
// false: ask python (SitePackages) and install with pip.
func (v Venv) WheelSite(py Interpreter) (string, bool) {
	mm := py.MajorMinor()
	if !CanInstallWheels || mm == "" || py.Implementation != "" && py.Implementation != "cpython" {
		return "", false
	}
	site := filepath.Join(v.Dir, "lib", "python"+mm, "site-packages")
	if fi, err := os.Lstat(site); err != nil || !fi.IsDir() {
		return "", false
	}
	lib64 := filepath.Join(v.Dir, "lib64")
	if fi, err := os.Lstat(lib64); err == nil {
		if fi.Mode()&os.ModeSymlink == 0 {
			return "", false
		}
		if t, err := os.Readlink(lib64); err != nil || (t != "lib" && t != filepath.Join(v.Dir, "lib")) {
			return "", false
		}
	}
	return site, true
}

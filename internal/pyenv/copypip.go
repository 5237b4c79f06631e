package pyenv

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// sideDistInfo is where FindBasePip keeps the wheel's .dist-info inside
// its unpacked copy: not at the top, where a pip run from there would
// see itself installed in every venv (see unpackPip).
const sideDistInfo = "_rezup_dist-info"

// canCopyPip says whether pip can be copied into a venv (CopyInto): not on
// Windows, whose console scripts are launcher executables only pip writes.
var canCopyPip = runtime.GOOS != "windows"

// CopyInto installs this pip into the venv whose site-packages is site
// and whose interpreter (in binDir) is python, as pip itself would from
// the bundled wheel, without running python: the unpacked, already
// compiled package (see unpackPip), the wheel's .dist-info with INSTALLER,
// REQUESTED and a RECORD of every file written (sha256 and size, so that
// `pip uninstall` and `pip list` work), and the pip, pipX and pipX.Y
// console scripts for pyVersion ("3.11.7").
//
// Files are copied, not linked: a built tree is relocated and packed, and
// must own every byte. They are written straight into site, a venv being
// made (no temp names: the caller syncs and publishes the venv's tree as
// a whole, or removes it).
func (b BasePip) CopyInto(site, binDir, python, pyVersion string) error {
	if err := b.copyInto(site, binDir, python, pyVersion); err != nil {
		return fmt.Errorf("copy pip %s into %s: %w", b.Version, site, err)
	}
	return nil
}

func (b BasePip) copyInto(site, binDir, python, pyVersion string) error {
	infos, err := filepath.Glob(filepath.Join(b.Dir, sideDistInfo, "*.dist-info"))
	if err != nil {
		return err
	}
	if len(infos) != 1 {
		return fmt.Errorf("%s holds %d .dist-info directories, want 1", filepath.Join(b.Dir, sideDistInfo), len(infos))
	}
	distInfo := filepath.Base(infos[0])
	var written []string // slash paths relative to site, for RECORD
	copyTree := func(from, to string) error {
		return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(from, p)
			if err != nil {
				return err
			}
			dst := filepath.Join(to, rel)
			if d.IsDir() {
				return os.MkdirAll(dst, 0o777)
			}
			if !d.Type().IsRegular() || d.Name() == "RECORD" && filepath.Dir(p) == infos[0] {
				return nil // pip's RECORD is written below
			}
			if err := copyFile(p, dst); err != nil {
				return err
			}
			relSite, err := filepath.Rel(site, dst)
			if err != nil {
				return err
			}
			written = append(written, filepath.ToSlash(relSite))
			return nil
		})
	}
	if err := copyTree(filepath.Join(b.Dir, "pip"), filepath.Join(site, "pip")); err != nil {
		return err
	}
	if err := copyTree(infos[0], filepath.Join(site, distInfo)); err != nil {
		return err
	}
	// In a fixed order: RECORD's rows must be the same in every build.
	for _, f := range [][2]string{{"INSTALLER", "pip\n"}, {"REQUESTED", ""}} {
		if err := os.WriteFile(filepath.Join(site, distInfo, f[0]), []byte(f[1]), 0o666); err != nil {
			return err
		}
		written = append(written, distInfo+"/"+f[0])
	}
	// pip writes its own scripts for the python it is installed with,
	// whatever the wheel's entry_points.txt says (it names the python
	// the wheel was built with).
	major, minor, _ := strings.Cut(pyVersion, ".")
	minor, _, _ = strings.Cut(minor, ".")
	if err := os.MkdirAll(binDir, 0o777); err != nil {
		return err
	}
	header := Shebang(python, nil)
	for _, name := range []string{"pip", "pip" + major, "pip" + major + "." + minor} {
		ep := EntryPoint{Name: name, Module: "pip._internal.cli.main", Attr: "main"}
		path := scriptFile(binDir, name)
		if err := os.WriteFile(path, []byte(header+scriptBody(ep, "")), 0o777); err != nil {
			return err
		}
		rel, err := filepath.Rel(site, path)
		if err != nil {
			return err
		}
		written = append(written, filepath.ToSlash(rel))
	}
	var rec bytes.Buffer
	w := csv.NewWriter(&rec)
	for _, name := range written {
		hash, size, err := hashFile(filepath.Join(site, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		if err := w.Write([]string{name, hash, size}); err != nil {
			return err
		}
	}
	if err := w.Write([]string{distInfo + "/RECORD", "", ""}); err != nil {
		return err
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(site, distInfo, "RECORD"), rec.Bytes(), 0o666)
}

// copyFile copies the regular file src to the new file dst, with src's
// execute bits.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close() // read side
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666|fi.Mode().Perm()&0o111)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

package testkit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SourceProject writes a source project for name at dir/name and returns
// that directory. It installs offline, editable or not:
//
//	pip install --no-index -e DIR        (build isolation on or off)
//
// Layout: pyproject.toml, src/MODULE/__init__.py (the ExtensionWheel
// module, so its script prints an ExtensionReport; edit it to see an
// editable install pick the change up), and _backend/testkit_backend.py.
// scripts maps a console script name to "module:func"; nil means
// {name: MODULE + ":main"}.
//
// The build backend is an in-tree, standard-library-only PEP 517/660
// backend, not setuptools: setuptools below 70.1 (65.5 is what Python 3.11
// venvs ship) cannot build any wheel, editable ones included, without the
// separate "wheel" package ("invalid command 'bdist_wheel'"), which is not
// in a fresh venv and cannot be fetched offline; and Python 3.12+ venvs
// ship no setuptools at all. The backend declares no build requirements,
// so pip's isolated build environment needs no index either. Its editable
// wheel is what setuptools' "compat" mode makes: a .pth file naming src/.
func SourceProject(dir, name, version string, scripts map[string]string) (string, error) {
	mod := ModuleName(name)
	if scripts == nil {
		scripts = map[string]string{name: mod + ":main"}
	}
	root := filepath.Join(dir, name)

	var pyproject strings.Builder
	pyproject.WriteString("[build-system]\nrequires = []\nbuild-backend = \"testkit_backend\"\nbackend-path = [\"_backend\"]\n\n")
	pyproject.WriteString("# Informational: the backend carries the same values in its own source.\n")
	fmt.Fprintf(&pyproject, "[project]\nname = %s\nversion = %s\n", tomlString(name), tomlString(version))
	if len(scripts) > 0 {
		pyproject.WriteString("\n[project.scripts]\n")
		for _, s := range sortedKeys(scripts) {
			fmt.Fprintf(&pyproject, "%s = %s\n", tomlString(s), tomlString(scripts[s]))
		}
	}

	// JSON is a valid Python literal for strings and string dicts, which
	// is all the backend needs.
	lit := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err) // strings and map[string]string always marshal
		}
		return string(b)
	}
	backend := strings.NewReplacer(
		"@NAME@", lit(name),
		"@VERSION@", lit(version),
		"@DIST@", lit(distName(name)+"-"+versionName(version)),
		"@SCRIPTS@", lit(scripts),
	).Replace(backendPy)

	files := map[string]string{
		"pyproject.toml":              pyproject.String(),
		"_backend/testkit_backend.py": backend,
		"src/" + mod + "/__init__.py": extensionPy(name, version),
	}
	for _, rel := range sortedKeys(files) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fmt.Errorf("source project %s: %w", name, err)
		}
		// A fresh fixture directory that nothing reads yet: no need for the
		// atomic write protocol.
		if err := os.WriteFile(p, []byte(files[rel]), 0o644); err != nil {
			return "", fmt.Errorf("source project %s: %w", name, err)
		}
	}
	return root, nil
}

const backendPy = `"""In-tree PEP 517 / PEP 660 build backend written by rezup's testkit.

Standard library only, no build requirements: it works offline, with or
without pip's build isolation, whatever setuptools the venv has (or lacks).
"""
import base64
import hashlib
import io
import os
import tarfile
import zipfile

NAME = @NAME@
VERSION = @VERSION@
DIST = @DIST@
SCRIPTS = @SCRIPTS@

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
DIST_INFO = DIST + ".dist-info"
TIME = (1980, 1, 1, 0, 0, 0)


def _metadata():
    files = {
        "METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (NAME, VERSION),
        "WHEEL": "Wheel-Version: 1.0\nGenerator: rezup-testkit\n"
                 "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    if SCRIPTS:
        files["entry_points.txt"] = "[console_scripts]\n" + "".join(
            "%s = %s\n" % (k, SCRIPTS[k]) for k in sorted(SCRIPTS))
    return files


def _sources():
    out = {}
    for dirpath, dirnames, filenames in os.walk(SRC):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for f in sorted(filenames):
            if f.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, SRC).replace(os.sep, "/")] = fh.read()
    return out


def _write_wheel(wheel_directory, files):
    for name, data in _metadata().items():
        files[DIST_INFO + "/" + name] = data.encode("utf-8")
    filename = DIST + "-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w",
                         zipfile.ZIP_DEFLATED) as zf:
        def add(name, data):
            info = zipfile.ZipInfo(name, TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)

        for name in sorted(files, key=lambda n: (n.startswith(DIST_INFO + "/"), n)):
            data = files[name]
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append("%s,sha256=%s,%d\n" % (name, digest.decode("ascii"), len(data)))
            add(name, data)
        record.append(DIST_INFO + "/RECORD,,\n")
        add(DIST_INFO + "/RECORD", "".join(record).encode("utf-8"))
    return filename


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    target = os.path.join(metadata_directory, DIST_INFO)
    if not os.path.isdir(target):
        os.makedirs(target)
    for name, data in _metadata().items():
        with open(os.path.join(target, name), "w") as fh:
            fh.write(data)
    return DIST_INFO


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, _sources())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    pth = "__editable__.%s.pth" % DIST
    return _write_wheel(wheel_directory, {pth: (SRC + "\n").encode("utf-8")})


def build_sdist(sdist_directory, config_settings=None):
    base = DIST
    filename = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as tf:
        for dirpath, dirnames, filenames in os.walk(ROOT):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for f in sorted(filenames):
                path = os.path.join(dirpath, f)
                tf.add(path, base + "/" + os.path.relpath(path, ROOT).replace(os.sep, "/"))
        pkg_info = _metadata()["METADATA"].encode("utf-8")
        info = tarfile.TarInfo(base + "/PKG-INFO")
        info.size = len(pkg_info)
        tf.addfile(info, io.BytesIO(pkg_info))
    return filename
`

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

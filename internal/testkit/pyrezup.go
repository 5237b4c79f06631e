package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PythonRezupVersion is the rezup_version PythonRezupRevision records: the
// last 2.x release of the Python rezup, whose layout it writes.
const PythonRezupVersion = "2.5.0"

// PythonRezupRevision writes a ready revision of container into the local
// root root, made at made, the way the Python rezup 2.x writes one
// (src/rezup/container.py: Revision._write, Installer), in its order:
//
//   - <root>/<container>/revisions/<str(time.time())>/rezup.toml: recipe;
//   - venv/rez: a real venv (python3 -m venv, where the Python rezup uses
//     virtualenv), and pip install rez==RezVersion from wheelhouse with
//     --no-index --find-links;
//   - the production entry points: every console script of rez written by
//     distlib's ScriptMaker (pip's vendored copy of the distlib the Python
//     rezup uses) into venv/rez/bin/rez/, with the venv's python and -E,
//     after the venv's own bin/<script> copies are deleted; then
//     venv/rez/bin/rez/.rez_production_install holding rez's version;
//   - revision.json last, by json.dumps(indent=4), without a newline:
//     rezup_version, creator, hostname, revision_path and venvs (["rez"]),
//     and no key.
//
// The recipe is written as given (the Python rezup dumps its merged
// recipe; what is in it does not change the layout). It returns the
// revision's directory. Nothing of rezup's runs; it takes a few seconds.
func PythonRezupRevision(t testing.TB, root, container string, made time.Time, recipe, wheelhouse string) string {
	t.Helper()
	python := Python(t)
	// Python names a revision str(time.time()): the shortest decimal that
	// reads back as the same float, never in exponent form at this size.
	name := strconv.FormatFloat(float64(made.UnixMicro())/1e6, 'f', -1, 64)
	dir := filepath.Join(root, container, "revisions", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rezup.toml"), []byte(recipe), 0o644); err != nil {
		t.Fatal(err)
	}
	venv := filepath.Join(dir, "venv", "rez")
	env := pythonRezupEnv()
	run := func(exe string, args ...string) {
		t.Helper()
		cmd := exec.Command(exe, args...)
		cmd.Env = env
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("python rezup layout: %s %s: %v\n%s", filepath.Base(exe), strings.Join(args, " "), err, out)
		}
	}
	run(python, "-m", "venv", venv)
	venvPython := filepath.Join(venv, "bin", "python")
	run(venvPython, "-m", "pip", "install", "rez=="+RezVersion, "--disable-pip-version-check", "--no-index", "--find-links", wheelhouse)
	run(venvPython, "-c", pythonRezupInstallPy, venv, filepath.Join(dir, "revision.json"), PythonRezupVersion)
	return dir
}

// pythonRezupEnv is the environment without what would point python or
// pip elsewhere (this machine may set PIP_FIND_LINKS).
func pythonRezupEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PIP_") || strings.HasPrefix(k, "PYTHON") || strings.HasPrefix(k, "REZUP_") || k == "VIRTUAL_ENV" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1", "PIP_NO_INPUT=1")
}

// pythonRezupInstallPy is Installer.create_production_scripts and
// mark_as_rez_production_install of the Python rezup for rez (no edit
// mode, flags ["-E"]), then Revision._write's revision.json. It runs under
// the venv's python: argv is the venv, revision.json's path, and the
// rezup version to record.
const pythonRezupInstallPy = `
import getpass
import json
import os
import socket
import sys
import sysconfig
from importlib.metadata import Distribution
from pip._vendor.distlib.scripts import ScriptMaker

venv, metadata_path, rezup_version = sys.argv[1:4]
site_packages = sysconfig.get_paths()["purelib"]
bin_path = os.path.join(venv, "bin")

dists = Distribution.discover(name="rez", path=[site_packages])
specifications = {
    ep.name: "{ep.name} = {ep.value}".format(ep=ep)
    for dist in dists
    for ep in dist.entry_points
    if ep.group == "console_scripts"
}
if not specifications:
    sys.exit("no console scripts of rez in %s" % site_packages)

# delete bin files written into virtualenv
for script_name in specifications.keys():
    script_path = os.path.join(bin_path, script_name)
    if os.path.isfile(script_path):
        os.remove(script_path)

prod_bin_path = os.path.join(bin_path, "rez")
os.makedirs(prod_bin_path)
maker = ScriptMaker(source_dir=None, target_dir=prod_bin_path)
maker.executable = os.path.join(bin_path, "python")
maker.variants = {""}
maker.clobber = True
maker.set_mode = True
maker.make_multiple(
    specifications=specifications.values(),
    options=dict(interpreter_args=["-E"]),
)

_locals = {"_rez_version": ""}
import rez
version_py = os.path.join(os.path.dirname(rez.__file__), "utils", "_version.py")
with open(version_py) as f:
    exec(f.read(), globals(), _locals)
with open(os.path.join(prod_bin_path, ".rez_production_install"), "w") as f:
    f.write(_locals["_rez_version"])

with open(metadata_path, "w") as f:
    f.write(json.dumps({
        "rezup_version": rezup_version,
        "creator": getpass.getuser(),
        "hostname": socket.gethostname(),
        "revision_path": os.path.dirname(metadata_path),
        "venvs": ["rez"],
    }, indent=4))
`

package testkit

import (
	"fmt"
	"strings"
)

// RezMain is the entry point of every console script of RezWheel.
const RezMain = "rez.cli._main:run"

// RezWheel is a fake rez distribution at version. Its console scripts rez,
// rez-env and rez-python all run rez.cli._main:run, which prints one line
// of JSON describing how it was started (see RezReport) and exits with
// $TEST_EXIT_CODE (0 when unset). rez-python -c CODE runs CODE instead,
// like a Python interpreter, and rez-python FILE ARG... (FILE an existing
// file) runs FILE with python -E as the real rez-python does, exiting 0 whatever FILE's status
// (rez's python command does not pass it on either).
//
// rez.resolved_context.ResolvedContext(request) resolves any request:
// get_environ() returns REZ_USED_REQUEST (the request joined by spaces),
// REZ_RESOLVE (each request with "-1.0"), REZ_USED_VERSION and
// REZUP_CONTAINER. A request for a package whose name starts with
// "missing" fails, as a missing package family does in rez: success is
// False and failure_description names it. A request for a package whose
// name starts with "broken" raises PackageFamilyNotFoundError from a
// nested call, as rez does for some errors, so that a caller shows a
// traceback several frames deep.
//
// Like the real rez, the version lives in rez/utils/_version.py as
// `_rez_version = "VERSION"`, which is where rezup reads it from.
func RezWheel(version string) Wheel {
	return Wheel{
		Name:    "rez",
		Version: version,
		Files: map[string]string{
			"rez/__init__.py":       "from rez.utils._version import _rez_version as __version__\n",
			"rez/utils/__init__.py": "",
			"rez/utils/_version.py": fmt.Sprintf("_rez_version = %q\n", version),
			"rez/system.py": "class System(object):\n" +
				"    rez_bin_path = None\n\n\n" +
				"system = System()\n",
			"rez/cli/__init__.py":     "",
			"rez/cli/_main.py":        rezMainPy,
			"rez/resolved_context.py": resolvedContextPy,
		},
		ConsoleScripts: map[string]string{
			"rez":        RezMain,
			"rez-env":    RezMain,
			"rez-python": RezMain,
		},
	}
}

// RezReport is what a RezWheel console script prints, decoded.
type RezReport struct {
	Argv              []string          `json:"argv"`
	Script            string            `json:"script"`     // abspath of argv[0]
	Executable        string            `json:"executable"` // sys.executable
	Prefix            string            `json:"prefix"`     // sys.prefix
	IgnoreEnvironment bool              `json:"ignore_environment"`
	ProductionMarker  bool              `json:"production_marker"` // .rez_production_install beside the script
	RezBinPath        *string           `json:"rez_bin_path"`      // rez.system.system.rez_bin_path
	RezVersion        string            `json:"rez_version"`
	RezFile           string            `json:"rez_file"` // rez.__file__
	RezupContainer    *string           `json:"rezup_container"`
	Path0             string            `json:"path0"` // first PATH entry
	Env               map[string]string `json:"env"`   // REZUP_* and TEST_* variables
}

const rezMainPy = `import json
import os
import sys

import rez
from rez.system import system
from rez.utils._version import _rez_version


def _report():
    script = os.path.abspath(sys.argv[0])
    marker = os.path.join(os.path.dirname(script), ".rez_production_install")
    return {
        "argv": sys.argv,
        "script": script,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "ignore_environment": bool(sys.flags.ignore_environment),
        "production_marker": os.path.isfile(marker),
        "rez_bin_path": system.rez_bin_path,
        "rez_version": _rez_version,
        "rez_file": rez.__file__,
        "rezup_container": os.environ.get("REZUP_CONTAINER"),
        "path0": os.environ.get("PATH", "").split(os.pathsep)[0],
        "env": dict((k, v) for k, v in os.environ.items()
                    if k.startswith(("REZUP_", "TEST_"))),
    }


def run():
    name = os.path.basename(sys.argv[0])
    if name.startswith("rez-python") and sys.argv[1:2] == ["-c"] and len(sys.argv) > 2:
        code = sys.argv[2]
        sys.argv = ["-c"] + sys.argv[3:]
        exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
        return 0
    if name.startswith("rez-python") and sys.argv[1:2] and os.path.isfile(sys.argv[1]):
        import subprocess
        subprocess.call([sys.executable, "-E"] + sys.argv[1:])
        return 0
    sys.stdout.write(json.dumps(_report(), sort_keys=True) + "\n")
    sys.stdout.flush()
    return int(os.environ.get("TEST_EXIT_CODE", "0"))
`

const resolvedContextPy = `import os

from rez.utils._version import _rez_version


class PackageFamilyNotFoundError(Exception):
    pass


def _load_family(name):
    raise PackageFamilyNotFoundError("package family not found: %s" % name)


class ResolvedContext(object):
    def __init__(self, package_requests, **kwargs):
        self.package_requests = [str(r) for r in package_requests]
        for r in self.package_requests:
            if r.startswith("broken"):
                _load_family(r)
        missing = [r for r in self.package_requests
                   if r.lstrip("~!").startswith("missing")]
        self.success = not missing
        self.failure_description = None
        if missing:
            self.failure_description = "package family not found: %s" % missing[0]

    def get_environ(self, parent_environ=None):
        if not self.success:
            raise RuntimeError("Cannot perform operation in a failed context")
        return {
            "REZ_USED_REQUEST": " ".join(self.package_requests),
            "REZ_RESOLVE": " ".join(r + "-1.0" for r in self.package_requests),
            "REZ_USED_VERSION": _rez_version,
            "REZUP_CONTAINER": os.environ.get("REZUP_CONTAINER", ""),
        }
`

// ExtensionWheel is a fake rez extension: package ModuleName(name) with a
// console script name that prints one line of JSON (see ExtensionReport)
// and exits with $TEST_EXIT_CODE (0 when unset). It does not require rez,
// so "rez_importable" tells whether rezup put rez beside it.
func ExtensionWheel(name, version string) Wheel {
	mod := ModuleName(name)
	return Wheel{
		Name:           name,
		Version:        version,
		Files:          map[string]string{mod + "/__init__.py": extensionPy(name, version)},
		ConsoleScripts: map[string]string{name: mod + ":main"},
	}
}

// ExtensionReport is what an ExtensionWheel or SourceProject console script
// prints, decoded.
type ExtensionReport struct {
	Name              string            `json:"name"`
	Version           string            `json:"version"`
	Argv              []string          `json:"argv"`
	Script            string            `json:"script"`
	Executable        string            `json:"executable"`
	Prefix            string            `json:"prefix"`
	IgnoreEnvironment bool              `json:"ignore_environment"`
	RezImportable     bool              `json:"rez_importable"`
	RezFile           *string           `json:"rez_file"`
	ModuleFile        string            `json:"module_file"` // the extension's own __init__.py
	Path0             string            `json:"path0"`
	Env               map[string]string `json:"env"`
}

func extensionPy(name, version string) string {
	return strings.NewReplacer("@NAME@", fmt.Sprintf("%q", name), "@VERSION@", fmt.Sprintf("%q", version)).
		Replace(extensionTemplate)
}

const extensionTemplate = `import json
import os
import sys

NAME = @NAME@
__version__ = @VERSION@


def main():
    try:
        import rez
        rez_file = rez.__file__
    except ImportError:
        rez_file = None
    report = {
        "name": NAME,
        "version": __version__,
        "argv": sys.argv,
        "script": os.path.abspath(sys.argv[0]),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "ignore_environment": bool(sys.flags.ignore_environment),
        "rez_importable": rez_file is not None,
        "rez_file": rez_file,
        "module_file": os.path.abspath(__file__),
        "path0": os.environ.get("PATH", "").split(os.pathsep)[0],
        "env": dict((k, v) for k, v in os.environ.items()
                    if k.startswith(("REZUP_", "TEST_"))),
    }
    sys.stdout.write(json.dumps(report, sort_keys=True) + "\n")
    sys.stdout.flush()
    return int(os.environ.get("TEST_EXIT_CODE", "0"))
`

// LibWheel is a tiny importable library with no scripts: package
// ModuleName(name) defining NAME and __version__.
func LibWheel(name, version string) Wheel {
	return Wheel{
		Name:    name,
		Version: version,
		Files: map[string]string{
			ModuleName(name) + "/__init__.py": fmt.Sprintf("NAME = %q\n__version__ = %q\n", name, version),
		},
	}
}

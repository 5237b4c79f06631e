package pyenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Inspection is what a build reads from a venv once pip has installed
// into it (see Inspect).
type Inspection struct {
	Scripts      []EntryPoint // the console scripts of the distribution asked for
	RezVersion   string       // as RezVersion says
	SitePackages string       // as SitePackages says
}

// inspectScript is consoleScriptsScript, rezDirScript and SitePackages'
// one-liner in one run: {"scripts": pairs or null, "rez": dir or "",
// "site": purelib}. rez is found, not imported.
const inspectScript = `import json, sys, sysconfig
try:
    from importlib import metadata
except ImportError:
    import importlib_metadata as metadata
try:
    dist = metadata.distribution(sys.argv[1])
    scripts = [[ep.name, ep.value] for ep in dist.entry_points if ep.group == "console_scripts"]
except metadata.PackageNotFoundError:
    scripts = None
rez = ""
try:
    from importlib.util import find_spec
    spec = find_spec("rez")
    locs = spec and spec.submodule_search_locations
    if locs:
        rez = list(locs)[0]
except ImportError:
    pass
json.dump({"scripts": scripts, "rez": rez, "site": sysconfig.get_paths()["purelib"]}, sys.stdout)
`

// Inspect is ConsoleScripts(dist), RezVersion and SitePackages in one
// python run: a build asks the three of the rez venv, and each run of
// python costs a startup. Their errors are theirs (ErrNotInstalled for a
// missing dist or rez).
func (v Venv) Inspect(ctx context.Context, dist string, env []string) (Inspection, error) {
	out, err := output(ctx, v.Python(), []string{"-E", "-c", inspectScript, dist}, env)
	if err != nil {
		return Inspection{}, fmt.Errorf("inspect %s: %w", v.Dir, err)
	}
	var got struct {
		Scripts [][2]string `json:"scripts"`
		Rez     string      `json:"rez"`
		Site    string      `json:"site"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &got); err != nil {
		return Inspection{}, fmt.Errorf("inspect %s: unexpected output %q: %w", v.Dir, tail(out, 3), err)
	}
	if got.Site == "" {
		return Inspection{}, fmt.Errorf("site-packages of %s: python printed nothing", v.Dir)
	}
	var in Inspection
	if in.Scripts, err = v.entryPoints(dist, got.Scripts); err != nil {
		return Inspection{}, err
	}
	if in.RezVersion, err = v.rezVersionIn(got.Rez); err != nil {
		return Inspection{}, err
	}
	in.SitePackages = got.Site
	return in, nil
}

// InspectInstalled is Inspect for a venv whose packages InstallWheels
// installed into site: read from what it wrote, with no python run. dist
// is matched by its normalized name.
func (v Venv) InspectInstalled(site, dist string, installed []InstalledDist) (Inspection, error) {
	in := Inspection{SitePackages: site}
	var found bool
	if in.Scripts, found = InstalledScripts(dist, installed); !found {
		return Inspection{}, fmt.Errorf("console scripts of %s in %s: distribution %w", dist, v.Dir, ErrNotInstalled)
	}
	rez := ""
	if fi, err := os.Stat(filepath.Join(site, "rez", "utils", "_version.py")); err == nil && fi.Mode().IsRegular() {
		rez = filepath.Join(site, "rez")
	}
	var err error
	if in.RezVersion, err = v.rezVersionIn(rez); err != nil {
		return Inspection{}, err
	}
	return in, nil
}

// InstalledScripts is ConsoleScripts for a venv InstallWheels installed:
// the console scripts of dist in installed, by its normalized name.
func InstalledScripts(dist string, installed []InstalledDist) ([]EntryPoint, bool) {
	for _, d := range installed {
		if normalizeDist(d.Name) == normalizeDist(dist) {
			return d.Console, true
		}
	}
	return nil, false
}

// normalizeDist is a distribution name normalized per PEP 503.
func normalizeDist(name string) string {
	return strings.ToLower(distRun().ReplaceAllString(name, "-"))
}

var distRun = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[-_.]+`) })

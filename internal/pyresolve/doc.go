// Package pyresolve owns the resolution: the exact Python distributions a
// build installs, resolved once by pip and frozen next to the recipe
// (lock.json, which users call the lock), so that a build key names the
// packages rather than the requirement strings.
//
// Which API to use:
//
//   - Resolve runs pip (`install --dry-run --ignore-installed --report`)
//     on one venv's requirements and returns its VenvResolution;
//   - Resolution gathers the VenvResolutions of a revision ("rez", each
//     extension, "shared"); Marshal and Parse read and write it (lock.json);
//     KeyBytes is what goes into a build key;
//   - VenvResolution.InstallArgs writes the requirements file and gives the
//     pip arguments that install exactly the resolution;
//   - Diff and FormatDiff say what changed between two resolutions;
//     CompareVersions orders PEP 440 versions.
//
// The file format (version 1), JSON with fields in this order:
//
//	{
//	  "version": 1,
//	  "venvs": [
//	    {"name": "rez", "dists": [
//	      {"name": "rez", "version": "2.113.0", "requested": true,
//	       "source": {"kind": "index", "url": "https://…/rez-2.113.0-py3-none-any.whl",
//	                  "sha256": "…"}}
//	    ]}
//	  ]
//	}
//
// venvs keep the caller's order (the recipe's); dists are sorted by name.
// Names are canonical (PEP 503: lowercase, runs of "-_." as one "-").
// A source's kind is one of:
//
//   - index: found by pip's finder (an index or --find-links), installed
//     as `name==version --hash=sha256:…` with the recipe's pip options;
//   - file: a direct local archive (file:// URL), installed as
//     `name @ file:///…#sha256=…`;
//   - url: a direct remote archive, installed as `name @ URL#sha256=…`;
//   - vcs: a version-control URL (vcs "git", url, requested_revision,
//     commit), installed at the commit;
//   - dir: a local source directory (path, editable, tree_sha256, the
//     content hash TreeHash computes), installed from the path (`-e` if
//     editable).
//
// The key: KeyBytes is canonical JSON of what decides a build's content,
// and leaves out where an artifact was found. An archive (index, file, url)
// counts by its file name and sha256, not its directory or host, so moving
// a wheel house or switching mirrors does not rebuild, while a wheel
// rebuilt in place (new bytes) does; an archive without a hash counts by
// its whole URL. A vcs source counts by its URL and commit; a dir source
// by its tree hash, plus its path when editable (the venv then points at
// that path). Whether a dist was requested does not count.
//
// Guarantees: Marshal(Parse(b)) is stable; Parse refuses an unknown
// version or a malformed lock with a one-line error. The installation
// report needs pip ≥ 22.2 (format "0") and is stable from pip 23.0
// (format "1"); both are read.
//
// pyresolve never prints (pip's output goes to the io.Writer the caller
// passes), never reads the environment (the caller passes pip's), and
// decides no layout: the caller gives every path.
package pyresolve

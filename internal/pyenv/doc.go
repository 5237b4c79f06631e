// Package pyenv owns everything rezup does with Python itself:
//
//   - finding an interpreter (Find) and asking it who it is (Probe), which
//     gives the interpreter identity that goes into a build key;
//   - creating a virtual environment with the real `python -m venv`
//     (Create) and installing into it with the real pip (Venv.Install);
//   - reading what pip installed: console scripts (Venv.ConsoleScripts),
//     the Rez version (Venv.RezVersion), site-packages;
//   - Rez "production" entry points: scripts run with interpreter flags
//     such as -E, with pip's (distlib's) shebang rules (Shebang,
//     WriteEntryPoints, WriteProductionMarker);
//   - relocating a built venv tree from one prefix to another (Relocate,
//     or a Relocator fed file by file while an archive is unpacked) and
//     checking that its base interpreter still exists (CheckBase).
//
// Guarantees: every file it writes goes through fsx (temp file, rename),
// so a crash leaves the old file or the new one; relocation works on
// staged trees, which the caller syncs once as a whole before publishing
// them. Relocation keeps modes and mtimes (.pyc files stay valid only
// while their sources keep their mtimes) and never patches a binary file:
// it reports it.
//
// It never prints (logs go to the io.Writer a caller passes), never reads
// environment variables (callers pass PATH, HOME and the child process
// environment; a nil env means the child inherits this process's, as
// os/exec does), and never decides the layout: callers pass every
// directory.
package pyenv

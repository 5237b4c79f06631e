// Package runroots finds which running processes use paths under a few
// directories, the way Nix's garbage collector finds its runtime roots
// (src/libstore/gc.cc, findRuntimeRoots): one pass over every process,
// reading what it shows of the file system, before anything is deleted.
//
// Use Scan with the directories to watch (a local root, as named and with
// symlinks resolved), then ask the Snapshot who uses a directory under
// them (Snapshot.Users). A scan reads each process once, whatever the
// number of directories asked about later: matching costs a binary search
// per question.
//
// What a process shows, on Linux (/proc/<pid>):
//   - cmdline, readable for every account's processes (unless /proc is
//     mounted with hidepid): the paths its arguments name, anywhere in
//     them (`sh -c '/r/venv/bin/rez …'`, `--opt=/r/…`);
//   - exe, cwd, every open fd, the files maps maps (shared libraries,
//     Python extension modules), and the PATH and PWD of its environment
//     (a venv's bin/python is a symlink, so exe shows the base interpreter
//     while cmdline and PATH show the venv). These need the right to trace
//     the process: root reads them all, another account reads its own
//     processes only. A process some of whose paths could not be read
//     counts in Snapshot.Unread.
//
// The kernel shows exe, cwd, fd and maps with symlinks resolved; cmdline,
// PATH and PWD show what was typed. Callers ask about both forms of a
// directory (as named, and through filepath.EvalSymlinks).
//
// Elsewhere (macOS, Windows: no /proc) Scan reads nothing and says so
// (Snapshot.Unsupported). The calling process is never counted as a user.
//
// It never prints, never reads the environment (its own), never changes
// anything, and imports nothing of rezup's.
package runroots

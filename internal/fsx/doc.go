// Package fsx owns the two write protocols every rezup package uses, and
// the file locks.
//
//   - WriteFile and WriteFileFunc: write to a temp name beside the target,
//     fsync, rename, fsync the directory. A reader sees the old file or the
//     new one, never half of one.
//   - PublishDir: rename a fully written staging directory into place and
//     fsync the parent. The staging directory must be on the same
//     filesystem, which callers guarantee by staging beside the target.
//     Inside a staging directory, files are written without a sync each:
//     ReplaceStaged (temp and rename), WriteNew (a new file, in four
//     system calls, as an unpack writes thousands); SyncTree syncs the
//     tree as a whole before PublishDir.
//   - Lock: flock(2) shared or exclusive, returning the unlock func with
//     the error, so a caller cannot forget to release it. A shared lock
//     works on a lock file the caller can only read, and so does the
//     probe Held. An exclusive holder may remove the lock file
//     (Lock.Unlink); every locker checks after flock that the file it
//     locked is still the one at the path (fstat against stat, as Nix
//     does) and locks the new file otherwise.
//   - MakeReadOnly (MakeReadOnlyEach, of the paths a caller that made
//     the tree knows may be writable), RemoveAll and DeleteTree: what
//     rezup publishes as a build is read-only (no write bit on any file or
//     directory under it), and removing a tree gives the caller's own directories back the
//     owner bits deleting needs first, however an archive left them.
//     Removal never touches what another account owns (ErrNotOwner, root
//     excepted): the tree is left whole, and the error says whose it is.
//   - Perm: what rezup creates follows the caller's umask, as mkdir and
//     cp would: the writers here apply it to the mode they are given, and
//     every other explicit chmod of something rezup publishes goes
//     through Perm. Callers pass 0o666 for data, 0o777 for executables
//     and directories.
//   - ReadMeta and RealDir: how metadata is read from trees and caches
//     rezup does not fully trust (entry.json, manifest.json,
//     revision.json, pyvenv.cfg): only a regular file, never through a
//     symlink at the last component, never blocking on a FIFO, and never
//     more than a size limit (MaxJSONMeta, MaxPyvenvCfg); RealDir checks
//     that a directory inside such a tree is a real one, not a symlink
//     out of it.
//
// fsx imports nothing of rezup's, so every package (cas and recipe too) may
// use it. It never prints and never reads the environment.
package fsx

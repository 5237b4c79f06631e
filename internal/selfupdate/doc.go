// Package selfupdate owns rezup's self-upgrade from a directory of release
// binaries: comparing versions, finding the newest release for this OS and
// architecture, the stamp that spaces checks out, and replacing the
// running executable and its helper; and the build's own version and the
// --version line that carries it (Build), which the upgrade reads back.
//
// A release source is a directory (local disk, NFS or SMB) holding one
// file per release and platform, named
//
//	rezup-<version>-<goos>-<goarch>        e.g. rezup-1.4.0-linux-amd64
//	rezup-<version>-windows-<goarch>.exe
//
// and beside it the helper of the same release, rezup-net-<version>-…
// (see HelperName), which rezup runs for http(s):// and s3:// caches.
// Other files are ignored, so one directory can serve every platform.
//
// Guarantees: a binary is replaced by a rename within its own directory,
// and only after the new binary ran with --version and printed the
// expected version, so a broken or truncated release never replaces a
// working rezup; the helper is checked the same way and put in place
// first. Checks are bounded: Due is a single stat, and each --version run
// ends within VerifyTimeout plus a short wait for its output, children
// included (it runs in its own process group, killed as a whole; on
// Windows only the process itself is killed).
//
// Never: it prints nothing, reads no environment variable (callers pass
// the source, the pause and the environment), and never exits the process.
package selfupdate

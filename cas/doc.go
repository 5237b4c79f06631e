// Package cas owns content addressing for rezup: the build Key, the
// archive Digest, the archive format (Pack and Unpack: tar in PAX format,
// compressed with zstd), and the shared Cache of archives.
//
// The cache is two layers. A Backend stores opaque named objects and
// knows nothing of archives (DirBackend: a directory on local disk, NFS
// or SMB; HTTP and S3 backends are to come, and must pass the suite in
// cas/backendtest). Cache writes the layout and the commit protocol once,
// over any Backend. Cross-cutting concerns wrap a Backend (Limited caps
// concurrent transfers, Idle bounds how long a read may go without a
// byte, so that a hung cache never holds a caller forever, Retrying
// retries transient errors with backoff and resumes a dropped download
// where it stopped); Open (OpenWith, to set them) picks the backend for a
// location from a Registry of schemes and stacks the wrappers.
//
// Use KeyOf to name a build, PackFile to turn a built tree into a local
// archive file, Cache.Publish to store it, and Cache.Lookup, Cache.Open
// and Unpack to bring it back on another machine. GenerateKey,
// ParseSecretKey and ParsePublicKey make and read signing keys; Sign and
// Verify work on one Entry.
//
// Guarantees:
//
//   - An archive is named by the BLAKE3 digest of its own bytes and is
//     never overwritten: <cache>/<key>/<digest>.tar.zst. (On a filesystem
//     without hard links, two publishers racing for one name may rename
//     over each other, with identical bytes.)
//
//   - entry.json is the commit point. It is put last, never over another
//     publisher's valid entry, and names an archive that is complete and
//     durable; Remove deletes it first. A missing, unreadable or corrupt
//     entry.json is a cache miss (a *MissError saying why), never a crash.
//
//   - The shared cache needs no locks. Concurrent publishers of one key only
//     ever rename complete files into place, so every reader sees a valid
//     archive or nothing. The build lease (AcquireBuild: <key>/lease.<gen>,
//     refreshed by its holder, taken over after its expiry) only saves
//     work, so that one node of a farm builds a missing key while the
//     others wait; correctness never depends on it.
//
//   - Unpack verifies the digest while streaming and refuses hostile input
//     (absolute paths, "..", writes through symlinks, hard links, devices,
//     setuid/setgid/sticky bits, size and count limits). It only writes
//     into the empty staging directory it is given, which the caller
//     publishes after Unpack succeeds, so nothing unverified is visible.
//     Small files are created by a few writer goroutines while the stream
//     is decompressed; a caller may rewrite them on the way through
//     (UnpackOptions.Rewrite: materialize relocates there, reading nothing
//     twice).
//
//   - Entries can be signed, as Nix signs its binary caches: a publisher
//     with a SecretKey (WithSigner) signs each entry's Statement (key,
//     digest, size, prefix, interpreter) with ed25519, and a Cache with
//     trusted keys (WithTrustedKeys) returns only entries one of them
//     signed. An unsigned entry, or one signed by another key, is then a
//     miss (MissUntrusted), never an entry. Without trusted keys the cache
//     is unauthenticated: whoever can write to it chooses what Lookup
//     returns.
//
//   - A pin (an Entry recorded where only the publisher writes, such as a
//     remote revision) bypasses entry.json: Cache.Pinned checks that its
//     archive is there, and Open and Unpack fetch and verify exactly its
//     digest, whatever entry.json names.
//
// cas never prints, never reads environment variables, never touches the
// local store (that is package materialize), and imports nothing of rezup's
// except internal/fsx and internal/pyid (the interpreter identity an Entry
// records).
package cas

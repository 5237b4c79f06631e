// Package cache is the protocol of rezup's shared cache of builds, over
// any backend.Backend: the layout, the commit point, pins, signatures and
// the farm build lease, written once.
//
//	<cache>/<key>/<digest>.tar.zst        an archive (cas/archive), named by its digest
//	<cache>/<key>/<digest>.index          an index of the file-level format (cas/files)
//	<cache>/packs/<2 hex>/<digest>.pack   packs of file contents, shared by every key
//	<cache>/<key>/entry.json              the commit point: which archive or index is the key's
//	<cache>/<key>/lease.<gen>             the farm build lease while a node builds the key
//
// Use OpenWith (or Open) to reach a cache at a location, Cache.Publish to
// store an archive file and commit its entry, Cache.Lookup (by key) or
// Cache.Pinned (by a pin) to find one, and Cache.Open to read it. The
// file-level format (Entry.Format FormatFiles) is published with
// Cache.PublishFiles or Cache.PublishBuild (an index, or an index and an
// archive), read with Cache.OpenIndex and Cache.FetchContents (only the
// contents a node lacks, one ranged read per files.Plan range), and
// collected with Cache.Packs, Cache.Indexes, Cache.ReadIndex and
// Cache.RemovePack.
// GenerateKey, ParseSecretKey and ParsePublicKey make and read signing
// keys; Sign and Verify work on one Entry. AcquireBuild takes the farm
// build lease.
//
// Guarantees:
//
//   - An archive is never overwritten. (On a filesystem without hard
//     links, two publishers racing for one name may rename over each
//     other, with identical bytes.)
//
//   - entry.json is the commit point. It is put last, never over another
//     publisher's valid entry, and names an archive that is complete and
//     durable; Remove deletes it first. A missing, unreadable or corrupt
//     entry.json is a cache miss (a *MissError saying why), never a crash.
//
//   - The shared cache needs no locks. Concurrent publishers of one key only
//     ever put complete objects under their final names, so every reader
//     sees a valid archive or nothing. The build lease (AcquireBuild) only
//     saves work, so that one node of a farm builds a missing key while the
//     others wait; correctness never depends on it. Its protocol is stated
//     in ARCHITECTURE.md ("Build lease").
//
//   - Entries can be signed, as Nix signs its binary caches: a publisher
//     with a SecretKey (WithSigner) signs each entry's Statement (key,
//     digest, size, prefix, interpreter; and format, index digest and
//     size, for the file-level format) with ed25519, and a Cache with
//     trusted keys (WithTrustedKeys) returns only entries one of them
//     signed. An unsigned entry, or one signed by another key, is then a
//     miss (MissUntrusted), never an entry. Without trusted keys the cache
//     is unauthenticated: whoever can write to it chooses what Lookup
//     returns.
//
//   - A pin (an Entry recorded where only the publisher writes, such as a
//     remote revision) bypasses entry.json: Cache.Pinned checks that its
//     archive (or index) is there, and Open (OpenIndex) fetches exactly
//     its digest, whatever entry.json names.
//
//   - Indexes and packs are named by their digest and never replaced, as
//     archives. Every content FetchContents hands out is verified by its
//     BLAKE3 as it streams; whatever is not what the entry names wraps
//     files.ErrCorrupt.
//
// cache never prints, never reads environment variables and never touches
// the local store (that is package materialize).
package cache

// Package files is the file-level format of rezup's shared cache: a
// build's tree described by an Index (every directory, file and symlink,
// each file's content named by its BLAKE3-256 digest), and the contents
// stored once each in packs, which a node reads with a few ranged reads,
// asking only for what it lacks.
//
// A pack is a concatenation of zstd frames, named by the BLAKE3 of its
// own bytes (cas.Digest). Small contents are grouped, in index order,
// into frames of about a MiB, so that compression stays close to a solid
// archive's; a larger content is a frame of its own. The index says where
// each content is: its pack, its frame's offset and length, and its
// offset in what the frame decompresses to. A pack holds contents of one
// build or of several: a new build reuses what its base already stored
// and packs only what changed.
//
// The way through it: Scan a built tree, Pack it (PackOptions.Have, from
// Known, reuses a base's contents), Marshal the index; a node Parses the
// index, decides what it lacks, Plans the ranged reads and hands each
// read's body to ReadRange.
//
// Guarantees:
//
//   - Reproducible: an index holds no times, owners or umask, only
//     canonical modes (archive.CanonicalMode), and Marshal's encoding is
//     canonical (JSON compressed with zstd); the same tree at the same
//     prefix, packed over the same base, gives the same index and packs,
//     byte for byte, so the same digests.
//
//   - Parse trusts nothing it has not checked: the digest first, then the
//     rules an archive's entries obey at Unpack (no escape from the tree,
//     nothing through a symlink, no devices, no setuid), applied to the
//     index, and every location inside its pack, within Limits. Marshal
//     refuses to encode what Parse would refuse.
//
//   - ReadRange trusts the pack no further than the index: it decompresses
//     with a bounded window, never past the contents it needs, and hands
//     out each content through a reader that ends with io.EOF only when
//     its bytes hash to its digest. Every refusal wraps ErrCorrupt, which
//     wraps archive.ErrCorrupt.
//
//   - Pack never leaves a partial pack: it writes each under a temp name
//     and renames it to its digest once complete, and removes what it
//     wrote when it fails.
//
// files is a format: it knows no backend, no local object store, no cache
// layout and no keys. It never prints and never reads the environment.
package files

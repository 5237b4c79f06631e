// Package cas names what rezup addresses by content: a build's Key (the
// BLAKE3 of its canonical build inputs, 128 bits) and an archive's Digest
// (the BLAKE3-256 of its bytes). Both are real types with String, Parse…
// and JSON text forms, used everywhere a key or a digest is passed,
// stored or printed.
//
// The rest of content addressing lives in packages below it, one seam
// each:
//
//   - cas/archive: the archive format (PackFile, Unpack: tar in PAX format,
//     compressed with zstd), verified while it streams;
//   - cas/backend: storage of opaque named objects (Backend; the directory
//     backend, the HTTP and S3 ones in subpackages) and the wrappers every
//     transfer goes through (Stack: idle bound, transfer limit, retries);
//   - cas/cache: the shared cache's protocol over any backend: entries and
//     their commit point, pins, signatures and the farm build lease.
//
// cas never prints, never reads the environment and imports nothing of
// rezup's.
package cas

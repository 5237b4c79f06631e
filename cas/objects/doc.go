// Package objects is the object store of one machine: file contents
// stored once, named by their BLAKE3 digest (cas.Digest), and build trees
// made of links to them. It lives under the local root (.store/objects);
// a build's index says which objects make its tree.
//
// Layout: <dir>/<first 2 hex>/<digest hex> is a content, read-only (0444
// less the umask); <digest hex>.x is the same content executable (0555):
// a hard link shares its inode's mode, so the two modes are two objects.
// Temps being written are <dir>/.<name>.<random>.rezup-tmp, beside the
// shards on the same filesystem, named as fsx names temps.
//
// Which API to use:
//
//   - Has before fetching, to ask only for what is missing (Which, for
//     the many objects of a build at once);
//   - Batch (NewBatch, Put, Commit) to store what was fetched, many
//     objects with one sync (PutMissing for what Which said is missing;
//     Batch.Link and Batch.Open to make a build of the batch's objects
//     before its Commit, whose sync then covers the build too); Store.Put
//     for one; Adopt to make a build's own file its object, without a
//     copy, and AdoptWritten when the caller hashed the file as it wrote
//     it (an unpack): not read again;
//   - Link to make a build's file (LinkMode: Hardlink, else Clone, else
//     Copy, per file; the mode comes from REZUP_LINK_MODE through
//     ParseLinkMode, read by the caller); Open to read an object, to write
//     a relocated copy of a file that names the build's prefix;
//   - Walk and Remove, Temps and RemoveTemp, for gc.
//
// Guarantees:
//
//   - Verified: Put hashes what it writes and stores nothing whose digest
//     is not the one asked for (ErrCorrupt); so does Adopt, reading the
//     file through its new link. AdoptWritten takes the word of a caller
//     that hashed the very bytes it wrote. An object's name is only ever
//     given to bytes verified and synced before (Commit syncs, then links),
//     so a crash, of the process or of the machine, never leaves a file
//     under an object's name that does not hold that object. What a crash
//     can leave is temps (Temps: gc removes them once older than its
//     grace) and objects no build links (gc's too); an object linked just
//     before the machine went down may be missing after: it is put again.
//   - Never modified in place: an object is written once, under a temp
//     name, and is read-only before it has its name (on Unix from its
//     creation); a name is made by a rename that never replaces a file
//     (renameat2 RENAME_NOREPLACE on Linux, else link(2) and unlink;
//     MoveFileEx on Windows), so an object, once there, is never replaced
//     either. A build's hard link
//     is the object's inode: the build must stay read-only (it does, see
//     fsx.MakeReadOnly), or a write there would be a write to every build
//     that has the content.
//   - Safe across processes and goroutines on one local filesystem, with
//     no lock: many may Put the same object at once (one link wins, the
//     others find it there and drop their temps); Link and Open never see
//     half an object; Remove of an object never changes a build linked to
//     it (the build's link keeps the file), and a Link racing it gets the
//     file or ErrMissing.
//   - Durability is the caller's to finish: Link syncs nothing, and a
//     build's tree of links, clones and copies must be synced
//     (fsx.SyncTree) before it is published, as any staged tree is. The
//     objects it links were durable from Commit on.
//
// The store trusts the accounts that can write to its directory, as the
// local root does: in a group-shared root, its members.
//
// objects never touches the network, never prints, never reads the
// environment, and never decides what is garbage: Walk and Temps say what
// is there (links, ctime, size, owner), gc decides what goes.
package objects

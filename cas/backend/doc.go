// Package backend stores the shared cache's objects: opaque named bytes,
// behind the small Backend interface (Stat, Open of a range, create-only
// Put, List, Delete), which knows nothing of keys, archives or
// entries. The directory backend (NewDirBackend: local disk, NFS, SMB) is
// here; the HTTP(S) and S3 backends are in httpbackend and s3backend, and
// every backend passes the suite in backendtest. helper serves any
// backend from another process, so that rezup links none of the network
// code (cmd/rezup-net serves httpbackend and s3backend to it).
//
// Cross-cutting concerns wrap a Backend, and Stack puts them in their one
// order, from the outside in: Retrying (transient errors tried again with
// backoff and jitter; a dropped download resumed where it stopped, to
// the end of its range),
// Limited (at most N transfers at once per process, a slot held only
// while a try transfers), Idle (a read that gets no byte for a while is
// ErrStalled, so that a hung cache never holds a caller for ever).
// A Registry maps location schemes to the openers of their backends.
//
// backend never prints and never reads the environment: the network
// backends' openers take a getenv.
package backend

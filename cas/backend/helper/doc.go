// Package helper serves a backend.Backend from another process over a
// pipe, so that the code of the network backends (net/http, TLS,
// minio-go) lives in a helper binary (cmd/rezup-net) that rezup runs only
// when an http(s):// or s3:// cache is used, as git's remote helpers keep
// libcurl out of git: a launch that finds its build ready never pays for
// them.
//
// Both halves are here. New returns a Client, a backend.Backend that
// starts its helper on its first operation (never before) and talks to
// it; Close ends the helper. Serve is the helper's side, over its stdin
// and stdout. The wrappers of backend.Stack (Retry, Limited, Idle) stay
// around the Client, in the caller's process: they see the errors, the
// stalls and the transfers as they would with a backend in the process.
//
// # Protocol
//
// Frames both ways: a 13-byte header (payload length, type, request ID)
// and a payload, JSON for messages and raw bytes for data. First a
// handshake: the client sends its Protocol and version, the helper
// answers with its own and, if it could not open the location, the
// error; the client refuses a helper of another protocol or version with
// one line saying to install rezup-net from the same release. Protocol 2
// added the open's length; see Protocol for why it was bumped. Then
// requests, each with an ID of its own, run at once (the cache runs
// several transfers, and the farm build lease refreshes while an archive
// uploads):
//
//   - Stat, Delete: a request, an end (the answer, or the error).
//   - Open, of an offset and a length (absent: to the end): "opened",
//     then the body in data frames of at most 128 KiB, then an end. The
//     helper sends at most 2 MiB beyond what the client has read and
//     granted back, so that one slow reader never fills the pipe under
//     the others. The client yields no more than the length, whatever
//     the helper sends.
//   - List: the items in data frames of JSON arrays, under the same
//     window, then an end.
//   - Put: the path of a *backend.FileSource, which the helper opens
//     itself (same user, same machine: an archive is not piped), or the
//     bytes of any other source (at most MaxInline), read and checked
//     against its Length before anything is sent.
//
// A Close of an Open's body, a List's fn returning an error, or a done
// context sends a cancel: the request's context ends in the helper. A
// cancelled Put or Delete waits a few seconds for the helper's end, so
// that the object is then as the answer says, as with a backend in the
// process.
//
// Errors keep their kind across the pipe: the message as the backend
// wrote it, and whether it matched fs.ErrNotExist, fs.ErrExist (returned
// as backend.ErrExist), fs.ErrPermission, backend.ErrInvalidName,
// backend.ErrNotRegular, backend.ErrStalled, the context's errors and
// errors.ErrUnsupported, and whether backend.IsPermanent was true of it.
//
// # Guarantees
//
// Starting a helper and its handshake are bounded (Options.StartTimeout);
// a helper that cannot be started, is of another release or cannot open
// the location fails every operation of the client with one permanent
// error. A helper that dies fails the requests in flight with a transient
// error naming its exit status and last line on stderr; the next
// operation starts a new one. Frames to a helper that stops reading give
// up after a minute, and the helper is killed. No helper outlives its
// client: Close ends its input, and it exits within seconds or is killed;
// a client process that dies closes the pipe, and the helper exits on
// the end of its input.
//
// helper never prints and never reads the environment: the caller gives
// the helper's command, environment included.
package helper

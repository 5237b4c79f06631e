// Package httpbackend is the backend.Backend of an HTTP(S) cache: a web
// server whose folders hold the cache's objects, as nginx serves them
// with `dav_methods PUT DELETE MKCOL; create_full_put_path on;` for
// publishing and `autoindex on; autoindex_format json;` for listing.
// Any static file server (a CDN, a caching proxy) is a read-only cache:
// Stat and Open work, and publishing fails with one line naming the
// method the server refused.
//
// Requests: Stat is HEAD, Open is GET (with `Range: bytes=N-M` for a
// slice, `bytes=N-` to resume a dropped download; HEAD for a length of
// 0), Delete is HEAD then DELETE, List walks the JSON
// folder listings, and Put is the protocol below. Objects are plain
// files under the base URL; folders are never listed as markers, so an
// emptied folder stays on the server (harmless, and invisible to List).
// nginx does not list names that start with a dot, so neither does List.
//
// # Put never replaces
//
// nginx ignores `If-None-Match: *` on PUT and replaces what is there, so
// Put claims the name first with WebDAV MKCOL, which nginx does
// atomically (201 for one caller, 405 for the others):
//
//  1. HEAD name: if it exists, Put returns cas.ErrExist.
//  2. MKCOL the claim collection `name\rezup-claim/` (the backslash is
//     %5C on the wire). cas.CheckName refuses backslashes, so a claim
//     can never be an object's name, and List never shows one. A 409
//     (parent missing) makes Put MKCOL the parent folders and try again.
//  3. Whoever gets 201 holds the claim: it does HEAD name again (another
//     writer may have finished between steps 1 and 2), then PUT with
//     `If-None-Match: *` (412 is cas.ErrExist), then DELETEs the claim.
//  4. Whoever gets 405 waits, polling: when the object appears it
//     returns cas.ErrExist; when the claim goes (its holder failed) it
//     tries to claim again. A claim older than StaleClaim (its mtime in
//     the folder listing against the server's Date, or the time this
//     writer has waited where there is no listing) belongs to a writer
//     that died: it is deleted and claimed again.
//
// The uploaded file appears whole or not at all: nginx writes the body
// to a temp file and renames it into place, and discards it if the
// connection drops or the body is shorter than Content-Length.
//
// A server without MKCOL (405 while the claim does not exist, three
// times running, or 501) gets HEAD then PUT with `If-None-Match: *`:
// exact where the server honours the condition, and where it does not
// (nginx without MKCOL) two writers racing on one name within a request's
// time may both write, the later bytes winning. Two writers that both
// judge one claim stale may likewise remove each other's claims; at
// StaleClaim (10 minutes) that needs a writer to have hung that long.
//
// # Credentials and TLS
//
// Options.Token is sent as `Authorization: Bearer`; otherwise the netrc
// file's entry for the base URL's host (or its default entry) as basic
// auth. Credentials go only to the base URL's scheme and host: a
// redirect elsewhere is followed without them. TLS is verified by Go
// with the system roots (SSL_CERT_FILE and SSL_CERT_DIR are honoured by
// Go itself); a certificate that does not verify is a permanent error.
//
// # Errors
//
// Each error is one line naming the method and URL. 404 wraps
// fs.ErrNotExist; 401 and 403 wrap fs.ErrPermission; PUT or DELETE
// refused (403, 405, 501) says the cache is read-only for this account;
// other 4xx are cas.Permanent; 5xx, 429 and network errors are plain,
// for a retry layer to retry. Response bodies never go into errors.
//
// The package never reads the environment: Opener takes a getenv.
package httpbackend

// Package pyid is the identity of a Python interpreter: what it is
// (implementation, version, platform), as opposed to where it is.
//
// It is one small type with no behaviour, shared by the packages that
// record an interpreter: recipe hashes it into the key, cas writes it into
// a cache entry, internal/pyenv probes it and materialize keeps it in a
// manifest. It lives in a leaf package, importing nothing of rezup's, so
// that every package may use it, cas and recipe included, without
// importing upward; one type means no hand-written conversions between
// four copies of the same three fields.
//
// Its JSON field names and their order are part of the key inputs
// (recipe's golden file) and of entry.json and manifest.json: renaming or
// reordering them changes every key and every on-disk record.
package pyid

// ID identifies a Python interpreter as far as a build is concerned: two
// interpreters with the same ID build interchangeable venvs, and a build
// made with one can be relocated onto a machine that has the other.
type ID struct {
	Implementation string `json:"implementation"` // platform.python_implementation(), lowercased, e.g. "cpython"
	Version        string `json:"version"`        // major.minor.micro, e.g. "3.11.9"
	Platform       string `json:"platform"`       // sysconfig.get_platform(), e.g. "linux-x86_64"
}

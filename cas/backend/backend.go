package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/rezup/rezup/internal/fsx"
)

// Backend stores opaque named objects for a Cache. It knows nothing of
// keys, archives or entries: the Cache writes its commit protocol once,
// over any Backend (a directory now; HTTP or S3 later).
//
// Names are relative, slash-separated paths ("<key>/entry.json"): no
// empty, "." or ".." segment, no backslash, no leading or trailing slash.
// A name the backend refuses is an error wrapping ErrInvalidName.
//
// Every method may be called from many goroutines, and from processes on
// other machines, at once. Errors say which object and operation failed;
// IsNotExist and IsPermanent sort them, so that wrappers (a retry layer, a
// progress counter) can act without knowing the backend.
type Backend interface {
	// Stat returns what List would say of the object name. A missing
	// object is an error for which IsNotExist is true.
	Stat(ctx context.Context, name string) (ObjectInfo, error)

	// Open returns length bytes of the object from offset on (0 is the
	// start), or all of them from offset on when length < 0: a dropped
	// download resumes where it stopped, and a node reads a slice of a
	// pack without the rest of it.
	//
	// A range is cut at the object's end: it yields the bytes it holds
	// that exist, so a range that runs past the end yields fewer than
	// length bytes, and one that starts at or past the end (or a length
	// of 0) yields none. A caller that knows the size it expects checks
	// it (a short slice of a pack is a bad pack). A reader never yields
	// more than length bytes; when the backend was told the size of the
	// body (an HTTP 206's Content-Range), a body that ends before it is
	// an error, not a short object. A negative offset is a permanent
	// error, and a missing object is an IsNotExist error, whatever the
	// range.
	Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)

	// Put creates the object name with the Length bytes of src. It never
	// replaces: if name exists already, it returns an error wrapping
	// ErrExist and leaves the existing object as it is. Readers see the
	// whole object or none of it, and a successful Put is durable. Put
	// rewinds src before reading, so a failed Put may be retried with the
	// same src; src yielding a different number of bytes than its Length
	// is an error, and nothing is created.
	Put(ctx context.Context, name string, src Source) error

	// List calls fn, on the calling goroutine, once for each object whose
	// name starts with prefix, in no particular order. Objects created or
	// deleted during the listing may or may not be seen. A backend with
	// folders (a directory) also lists each empty folder as a marker: a
	// name ending in "/", of size 0, that Delete removes; other backends
	// never list markers. An error from fn stops the listing and is
	// returned, wrapped.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error

	// Delete removes the object name, or the empty folder a marker names.
	// When it returns, readers no longer see the object. Deleting a name
	// that does not exist is an IsNotExist error.
	Delete(ctx context.Context, name string) error

	// String names the backend's location for messages.
	String() string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Name    string
	Size    int64
	ModTime time.Time // when the object was stored
}

// Source is what Put stores: a reader that can start again and knows its
// length, so that a failed upload can be retried with the same bytes.
type Source interface {
	io.Reader
	// Rewind makes the next Read start at the first byte again.
	Rewind() error
	// Length is the number of bytes a Read loop yields after Rewind.
	Length() int64
}

var (
	// ErrExist is what Put returns when the name is taken. It is an
	// outcome, not a failure: the Cache reads it as "already published".
	// It matches fs.ErrExist.
	ErrExist = fsx.Sentinel("object exists", fs.ErrExist)

	// ErrInvalidName means a backend refused an object name. It is
	// permanent.
	ErrInvalidName = errors.New("invalid object name")

	// ErrNotRegular means a backend found something other than a plain
	// file under an object's name (a symlink, a FIFO or a device that
	// someone put in a directory cache) and refused to read it. It is
	// permanent, and a cache reads it as a bad entry.
	ErrNotRegular = fsx.ErrNotRegular
)

// IsNotExist reports whether err says that an object (or the backend's
// location) does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// IsPermanent reports whether retrying the operation that failed with err
// cannot help: a missing object, a refused permission or name, a done
// context, or an error a backend marked with Permanent. ErrExist is not
// a failure and is not permanent: check for it first.
func IsPermanent(err error) bool {
	var p *permanentError
	switch {
	case err == nil, errors.Is(err, ErrExist):
		return false
	case errors.As(err, &p),
		IsNotExist(err),
		errors.Is(err, fs.ErrPermission),
		errors.Is(err, ErrInvalidName),
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return false
}

// Permanent marks err as one that retrying cannot fix (a full disk, a
// read-only filesystem). It returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// CheckName returns an error wrapping ErrInvalidName unless name is a
// valid object name (see Backend). Markers (a trailing "/") are valid only
// when marker is true. Backends and wrappers call it before anything else.
func CheckName(name string, marker bool) error {
	n := name
	if marker {
		n = strings.TrimSuffix(n, "/")
	}
	bad := n == "" || strings.Contains(n, `\`) || strings.ContainsRune(n, 0)
	for _, seg := range strings.Split(n, "/") {
		if seg == "" || seg == "." || seg == ".." {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	return nil
}

// FileSource is a Source reading a local file from its start.
type FileSource struct {
	f    *os.File
	size int64
}

// OpenFileSource opens the file at path as a Source; Close it when done.
// The file must not change while it is in use.
func OpenFileSource(path string) (*FileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close() // read-only: nothing to lose
		return nil, err
	}
	return &FileSource{f: f, size: fi.Size()}, nil
}

func (s *FileSource) Read(p []byte) (int, error) { return s.f.Read(p) }

// Rewind seeks back to the start of the file.
func (s *FileSource) Rewind() error {
	_, err := s.f.Seek(0, io.SeekStart)
	return err
}

// Length is the file's size when it was opened.
func (s *FileSource) Length() int64 { return s.size }

// Name is the path the file was opened with, so that a backend in another
// process on the same machine (cas/backend/helper) can read the file
// itself instead of having its bytes piped to it.
func (s *FileSource) Name() string { return s.f.Name() }

// Close closes the file.
func (s *FileSource) Close() error { return s.f.Close() }

// BytesSource returns a Source reading b, for small objects.
func BytesSource(b []byte) Source { return &bytesSource{Reader: bytes.NewReader(b), n: int64(len(b))} }

type bytesSource struct {
	*bytes.Reader
	n int64
}

func (s *bytesSource) Rewind() error {
	_, err := s.Seek(0, io.SeekStart)
	return err
}

func (s *bytesSource) Length() int64 { return s.n }

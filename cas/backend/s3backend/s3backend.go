package s3backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/rezup/rezup/cas/backend"
)

// maxSinglePut is the largest object S3 takes in one PUT (5 GiB). Up to
// it Put sends one conditional PUT; above it, a multipart upload, which
// If-None-Match does not guard (see Put).
const maxSinglePut = 5 << 30

// Options says where and how to reach the store.
type Options struct {
	// Endpoint is the store's URL (https://minio.example:9000); "" is
	// AWS S3. It may not have a path.
	Endpoint string
	// Region the requests are signed for; "" lets the client ask the
	// store for the bucket's region.
	Region string
	// Creds signs the requests; nil sends them anonymously (a public
	// bucket).
	Creds *credentials.Credentials
	// Transport carries the requests; nil is minio's default (system
	// roots, which honour SSL_CERT_FILE on Unix).
	Transport http.RoundTripper
	// PathStyle addresses buckets as endpoint/bucket rather than
	// bucket.endpoint, as most stores other than AWS want.
	PathStyle bool
}

// Backend is a backend.Backend over the objects of one bucket under one key
// prefix. Object name N is stored under key "prefix/N".
type Backend struct {
	client *minio.Client
	bucket string
	prefix string // "" or ending in "/"

	// bucketSeen is set once the bucket answered, so that a 404 on HEAD
	// (which has no body to tell a missing key from a missing bucket)
	// costs a bucket check only until then.
	bucketSeen atomic.Bool
}

var _ backend.Backend = (*Backend)(nil)

// New returns the backend for the objects of bucket under prefix (""
// for the whole bucket). It sends no request.
func New(bucket, prefix string, o Options) (*Backend, error) {
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return nil, fmt.Errorf("bucket %q: %v", bucket, err)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := backend.CheckName(prefix, false); err != nil {
			return nil, fmt.Errorf("key prefix: %w", err)
		}
		prefix += "/"
	}
	host, secure := "s3.amazonaws.com", true
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("endpoint %q: want http(s)://host[:port]", o.Endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	lookup := minio.BucketLookupAuto
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	creds := o.Creds
	if creds == nil {
		creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Transport:    o.Transport,
		Region:       o.Region,
		BucketLookup: lookup,
		// One attempt per call: backend.Retrying owns retries and backoff, so
		// that they are counted and bounded in one place and a Put is
		// never sent twice behind its back.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", host, err)
	}
	return &Backend{client: client, bucket: bucket, prefix: prefix}, nil
}

// String is the location: s3://bucket/prefix.
func (b *Backend) String() string {
	return "s3://" + b.bucket + "/" + strings.TrimSuffix(b.prefix, "/")
}

func (b *Backend) key(name string) string { return b.prefix + name }

// where names an object in messages.
func (b *Backend) where(name string) string { return "s3://" + b.bucket + "/" + b.key(name) }

// Stat asks for the object's size and time with a HEAD request.
func (b *Backend) Stat(ctx context.Context, name string) (backend.ObjectInfo, error) {
	if err := backend.CheckName(name, false); err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("stat %s: %w", b.where(name), err)
	}
	oi, err := b.client.StatObject(ctx, b.bucket, b.key(name), minio.StatObjectOptions{})
	if err != nil {
		return backend.ObjectInfo{}, b.fail(ctx, "stat", name, err)
	}
	b.bucketSeen.Store(true)
	return backend.ObjectInfo{Name: name, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// Open sends a GET with a Range: `bytes=offset-(offset+length-1)` for a
// length, `bytes=offset-` for the rest from past the start (S3 has one
// range per GET). The Content-Range must be the range asked for, cut at
// the object's end, and a body shorter than it says is an error; a store
// that ignores the Range has the first offset bytes skipped and what
// follows the range left unread. A length of 0 is a HEAD (Stat): no
// bytes, but a missing object is still an IsNotExist error. Open sends
// its GET at once so that a missing object is Open's error, as the
// contract says.
func (b *Backend) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := backend.CheckName(name, false); err != nil {
		return nil, fmt.Errorf("open %s: %w", b.where(name), err)
	}
	length, err := backend.CheckRange(offset, length)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", b.where(name), err)
	}
	if length == 0 {
		if _, err := b.Stat(ctx, name); err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		return backend.NoBytes(), nil
	}
	var o minio.GetObjectOptions
	switch {
	case length > 0:
		err = o.SetRange(offset, offset+length-1)
	case offset > 0:
		err = o.SetRange(offset, 0)
	}
	if err != nil {
		return nil, backend.Permanent(fmt.Errorf("open %s: %v", b.where(name), err))
	}
	ranged := length > 0 || offset > 0
	// Core's GetObject sends the GET at once and returns its answer: one
	// request per open (the Client's lazy Object would stat first).
	body, _, hdr, err := minio.Core{Client: b.client}.GetObject(ctx, b.bucket, b.key(name), o)
	if err != nil {
		if minio.ToErrorResponse(err).StatusCode == http.StatusRequestedRangeNotSatisfiable {
			// The object is there (a missing one is a 404) and offset
			// is at or past its end: no bytes, as the contract says.
			b.bucketSeen.Store(true)
			return backend.NoBytes(), nil
		}
		return nil, b.fail(ctx, "open", name, err)
	}
	b.bucketSeen.Store(true)
	r := &reader{obj: body, b: b, ctx: ctx, name: name}
	switch cr := hdr.Get("Content-Range"); {
	case ranged && cr != "":
		n, ok := backend.RangeSize(cr, offset, length)
		if !ok {
			body.Close() // read-only: nothing to lose
			return nil, fmt.Errorf("open %s: asked for %s, got Content-Range %q", b.where(name), o.Header().Get("Range"), cr)
		}
		return backend.ExactBody(r, "read "+b.where(name), n), nil
	case offset > 0:
		// A store that ignored the Range sent the whole object.
		if _, err := io.CopyN(io.Discard, r, offset); errors.Is(err, io.EOF) {
			r.Close() // read to its end
			return backend.NoBytes(), nil
		} else if err != nil {
			r.Close() // failed: nothing to keep
			return nil, err
		}
	}
	return backend.LimitBody(r, length), nil
}

// reader sorts the errors of a download like those of the other calls,
// so that a retry layer can tell a dropped connection from a refusal.
type reader struct {
	obj  io.ReadCloser
	b    *Backend
	ctx  context.Context
	name string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.obj.Read(p)
	if err != nil && err != io.EOF {
		err = r.b.fail(r.ctx, "read", r.name, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.obj.Close() }

// Put checks that name is free with a HEAD (a taken name then costs no
// upload), then sends one PUT with If-None-Match: *, which the store
// refuses with 412 when the name was taken meanwhile. A store that
// ignores the header (some released before AWS S3 took conditional
// writes, in 2024) is guarded only by the HEAD: two publishers racing between their HEAD and the end
// of their PUT may both succeed, the later replacing the earlier. Objects
// over 5 GiB go up in parts, which the header does not guard either.
// The Cache publishes immutable, digest-named archives, so such a race
// replaces bytes by the same bytes, and entry.json by an equivalent one.
func (b *Backend) Put(ctx context.Context, name string, src backend.Source) error {
	if err := backend.CheckName(name, false); err != nil {
		return fmt.Errorf("put %s: %w", b.where(name), err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", b.where(name), err)
	}
	switch _, err := b.Stat(ctx, name); {
	case err == nil:
		return fmt.Errorf("put %s: %w", b.where(name), backend.ErrExist)
	case !backend.IsNotExist(err) || errors.Is(err, errNoBucket):
		return fmt.Errorf("put: %w", err)
	}
	return b.put(ctx, name, src)
}

// put is Put without the HEAD: the conditional PUT alone.
func (b *Backend) put(ctx context.Context, name string, src backend.Source) error {
	if err := src.Rewind(); err != nil {
		return fmt.Errorf("put %s: rewind the source: %w", b.where(name), err)
	}
	n := src.Length()
	if n == 0 {
		// minio sends no body and reads nothing for a length of 0.
		if (&exactReader{r: src}).more() {
			return backend.Permanent(fmt.Errorf("put %s: %w", b.where(name), &lengthError{want: 0}))
		}
	}
	opts := minio.PutObjectOptions{
		ContentType:      "application/octet-stream",
		DisableMultipart: n <= maxSinglePut,
	}
	opts.SetMatchETagExcept("*")
	_, err := b.client.PutObject(ctx, b.bucket, b.key(name), &exactReader{r: src, left: n}, n, opts)
	if err != nil {
		var lie *lengthError
		if errors.As(err, &lie) {
			return backend.Permanent(fmt.Errorf("put %s: %w", b.where(name), lie))
		}
		return b.fail(ctx, "put", name, err)
	}
	b.bucketSeen.Store(true)
	return nil
}

// lengthError is a Source yielding other than its Length bytes.
type lengthError struct{ want int64 }

func (e *lengthError) Error() string {
	return fmt.Sprintf("the source does not hold the %d bytes its length says", e.want)
}

// exactReader yields exactly left bytes of r, and fails instead of
// handing over the last of them if r has more, or instead of ending if
// it has fewer. The request body then breaks off before it is complete,
// so the store keeps nothing: net/http would only notice extra bytes
// after sending the whole Content-Length.
type exactReader struct {
	r     io.Reader
	left  int64
	total int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.total == 0 {
		e.total = e.left + 1 // remembered for the message; +1 keeps it non-zero
	}
	if e.left == 0 {
		if e.more() {
			return 0, &lengthError{want: e.total - 1}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		return 0, &lengthError{want: e.total - 1}
	case err != nil && err != io.EOF:
		return n, err
	case e.left == 0 && e.more():
		return 0, &lengthError{want: e.total - 1}
	}
	return n, nil
}

// more reports whether r has a byte left.
func (e *exactReader) more() bool {
	var one [1]byte
	for range 100 { // a Reader may return 0, nil a few times
		n, err := e.r.Read(one[:])
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// Delete removes the object. S3 deletes a missing key without a word;
// the contract wants an IsNotExist error for it, so Delete asks first.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if _, err := b.Stat(ctx, name); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := b.client.RemoveObject(ctx, b.bucket, b.key(name), minio.RemoveObjectOptions{}); err != nil {
		return b.fail(ctx, "delete", name, err)
	}
	return nil
}

// List lists the keys under the location prefix and prefix, all levels
// down. S3 has no folders, so there are no markers; a key ending in "/"
// (a folder some consoles create) is not an object and is left out.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.ObjectInfo) error) error {
	if strings.HasPrefix(prefix, "/") || strings.Contains(prefix, `\`) {
		return fmt.Errorf("list %s: %w", b.where(prefix), fmt.Errorf("%w: prefix %q", backend.ErrInvalidName, prefix))
	}
	// Cancelling stops minio's listing goroutine when fn stops early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.key(prefix), Recursive: true}) {
		if o.Err != nil {
			return b.fail(ctx, "list", prefix, o.Err)
		}
		name, ok := strings.CutPrefix(o.Key, b.prefix)
		if !ok || name == "" || strings.HasSuffix(name, "/") {
			continue
		}
		if err := fn(backend.ObjectInfo{Name: name, Size: o.Size, ModTime: o.LastModified}); err != nil {
			return fmt.Errorf("list %s: %w", b.where(prefix), err)
		}
	}
	// The channel also closes when ctx is done, without an error.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", b.where(prefix), err)
	}
	b.bucketSeen.Store(true)
	return nil
}

package httpbackend

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rezup/rezup/cas/backend"
)

// StaleClaim is how old a Put's claim on a name must be before other
// writers take it as left by a writer that died (see the package doc).
const StaleClaim = 10 * time.Minute

// Options configures a Backend.
type Options struct {
	// Client makes the requests; nil is a client with 30 s bounds on
	// dialling, the TLS handshake and waiting for response headers, and
	// none on bodies (backend.Idle bounds stalled reads). Its CheckRedirect
	// is replaced by the Backend's, which keeps credentials home.
	Client *http.Client
	// Token, when set, is sent as `Authorization: Bearer Token`.
	Token string
	// Netrc is the path of a netrc file whose entry for the base URL's
	// host gives basic-auth credentials when there is no Token; "" is
	// none, and so is a file that does not exist.
	Netrc string
	// UserAgent is sent with every request ("" is Go's).
	UserAgent string
}

// Backend is an HTTP(S) cache: see the package doc for what it asks of
// the server. It is safe for concurrent use.
type Backend struct {
	base   *url.URL // its Path ends in "/"
	client *http.Client
	auth   string // the Authorization header for base's scheme and host
	ua     string

	staleAfter time.Duration
}

// New returns the backend of the cache at base, an http:// or https://
// URL whose path (a trailing slash optional) is the cache's folder.
func New(base string, o Options) (*Backend, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("cache URL %q: %w", base, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("cache URL %s: scheme must be http or https", base)
	case u.Host == "":
		return nil, fmt.Errorf("cache URL %s: no host", base)
	case u.User != nil:
		return nil, fmt.Errorf("cache URL %s: credentials in the URL would be printed in messages: put them in ~/.netrc or REZUP_CACHE_TOKEN", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("cache URL %s: a query or fragment has no meaning here", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/"
	u.RawPath = ""
	b := &Backend{base: u, ua: o.UserAgent, staleAfter: StaleClaim}
	switch {
	case o.Token != "":
		b.auth = "Bearer " + o.Token
	case o.Netrc != "":
		es, err := readNetrc(o.Netrc)
		if err != nil {
			return nil, err
		}
		if e, ok := lookupNetrc(es, u.Hostname()); ok && (e.login != "" || e.password != "") {
			b.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(e.login+":"+e.password))
		}
	}
	c := o.Client
	if c == nil {
		c = defaultClient()
	}
	cc := *c
	cc.CheckRedirect = b.checkRedirect
	b.client = &cc
	return b, nil
}

// Opener returns the opener of http:// and https:// cache locations,
// with credentials from the environment getenv reads: REZUP_CACHE_TOKEN,
// else the netrc file NETRC names, or $HOME/.netrc.
func Opener(getenv func(string) string) backend.Opener {
	return func(location string) (backend.Backend, error) {
		o := Options{Token: getenv("REZUP_CACHE_TOKEN"), Netrc: getenv("NETRC"), UserAgent: "rezup"}
		if o.Netrc == "" {
			if home := getenv("HOME"); home != "" {
				o.Netrc = filepath.Join(home, ".netrc")
			}
		}
		return New(location, o)
	}
}

func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 30 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	t.ExpectContinueTimeout = time.Second
	t.MaxIdleConnsPerHost = 8
	return &http.Client{Transport: t}
}

// checkRedirect follows redirects, but sends credentials only to the
// base URL's scheme and host, and does not follow a folder's redirect
// to its slash form: the name is a folder, not an object.
func (b *Backend) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Scheme != b.base.Scheme || req.URL.Host != b.base.Host {
		req.Header.Del("Authorization")
	}
	if prev := via[len(via)-1].URL; req.URL.Host == prev.Host && req.URL.Path == prev.Path+"/" {
		return http.ErrUseLastResponse
	}
	return nil
}

func (b *Backend) String() string { return b.base.String() }

// url is the URL of an object name, or of a folder when name ends in
// "/" ("" is the base folder itself).
func (b *Backend) url(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return b.base.String() + strings.Join(segs, "/")
}

// send makes one request. Errors name the method and URL.
func (b *Backend) send(ctx context.Context, method, u string, body io.Reader, size int64, hdr ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, backend.Permanent(fmt.Errorf("%s %s: %w", method, u, err))
	}
	if body != nil {
		req.ContentLength = size
		req.GetBody = nil // a body is never sent twice behind the caller's back
	}
	if b.auth != "" {
		req.Header.Set("Authorization", b.auth)
	}
	if b.ua != "" {
		req.Header.Set("User-Agent", b.ua)
	}
	// Sizes and offsets are of the stored bytes, never of a compressed
	// rendering of them.
	req.Header.Set("Accept-Encoding", "identity")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, netErr(err, method, u)
	}
	return resp, nil
}

// drain ends a response whose body is not wanted, reading a little of it
// so that the connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4096) // only for reuse
	resp.Body.Close()                            // nothing to lose
}

// isFolder reports whether resp is a folder's redirect to its slash form
// (which checkRedirect did not follow).
func isFolder(resp *http.Response) bool {
	return resp.StatusCode >= 300 && resp.StatusCode < 400 && strings.HasSuffix(resp.Header.Get("Location"), "/")
}

func folderErr(method, u string) error {
	return fmt.Errorf("%s %s: a folder, not an object: %w", method, u, fs.ErrNotExist)
}

// Stat is HEAD: the size from Content-Length, the time from
// Last-Modified (or the server's Date where there is none).
func (b *Backend) Stat(ctx context.Context, name string) (backend.ObjectInfo, error) {
	if err := backend.CheckName(name, false); err != nil {
		return backend.ObjectInfo{}, fmt.Errorf("stat: %w", err)
	}
	u := b.url(name)
	resp, err := b.send(ctx, http.MethodHead, u, nil, 0)
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	drain(resp)
	switch {
	case isFolder(resp):
		return backend.ObjectInfo{}, folderErr(http.MethodHead, u)
	case resp.StatusCode != http.StatusOK:
		return backend.ObjectInfo{}, statusErr(resp, http.MethodHead, u, "")
	}
	size, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if err != nil || size < 0 {
		return backend.ObjectInfo{}, backend.Permanent(fmt.Errorf("HEAD %s: no Content-Length in the response", u))
	}
	mt, err := http.ParseTime(resp.Header.Get("Last-Modified"))
	if err != nil {
		mt, _ = http.ParseTime(resp.Header.Get("Date")) // zero if none: nothing better to say
	}
	return backend.ObjectInfo{Name: name, Size: size, ModTime: mt}, nil
}

// Open is GET, with `Range: bytes=offset-(offset+length-1)` for a
// length, or `Range: bytes=offset-` for the rest from past the start. A
// 206 must say in its Content-Range that it holds the range asked for, cut
// at the object's end, and a body shorter than it says is an error (a
// cut connection: Retrying resumes it). A server that ignores the range
// (200) has the first offset bytes skipped and what follows the range
// left unread; 416 (the offset is at or past the end) is no bytes. A
// length of 0 is HEAD: no bytes, but a missing object is still an
// IsNotExist error.
func (b *Backend) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := backend.CheckName(name, false); err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	u := b.url(name)
	length, err := backend.CheckRange(offset, length)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if length == 0 {
		if _, err := b.Stat(ctx, name); err != nil {
			return nil, err
		}
		return backend.NoBytes(), nil
	}
	var hdr []string
	switch {
	case length > 0:
		hdr = []string{"Range", fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)}
	case offset > 0:
		hdr = []string{"Range", fmt.Sprintf("bytes=%d-", offset)}
	}
	ranged := hdr != nil
	resp, err := b.send(ctx, http.MethodGet, u, nil, 0, hdr...)
	if err != nil {
		return nil, err
	}
	body := &bodyReader{rc: resp.Body, u: u}
	switch {
	case isFolder(resp):
		drain(resp)
		return nil, folderErr(http.MethodGet, u)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && ranged:
		drain(resp)
		return backend.NoBytes(), nil
	case resp.StatusCode == http.StatusPartialContent && ranged:
		cr := resp.Header.Get("Content-Range")
		n, ok := backend.RangeSize(cr, offset, length)
		if !ok {
			drain(resp)
			return nil, fmt.Errorf("GET %s: asked for %s, got Content-Range %q", u, hdr[1], cr)
		}
		return backend.ExactBody(body, "GET "+u, n), nil
	case resp.StatusCode == http.StatusOK:
		if offset > 0 {
			if _, err := io.CopyN(io.Discard, body, offset); errors.Is(err, io.EOF) {
				body.Close() // read to its end: nothing left to reuse
				return backend.NoBytes(), nil
			} else if err != nil {
				body.Close() // failed: the connection goes
				return nil, err
			}
		}
		// Closing before the end of a body costs the connection, not
		// the transfer of the rest.
		return backend.LimitBody(body, length), nil
	}
	drain(resp)
	return nil, statusErr(resp, http.MethodGet, u, "")
}

// bodyReader names the URL in the errors of a download.
type bodyReader struct {
	rc io.ReadCloser
	u  string
}

func (r *bodyReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("GET %s: %w", r.u, err)
	}
	return n, err
}

func (r *bodyReader) Close() error { return r.rc.Close() }

// Delete is HEAD, then DELETE: the HEAD makes a missing name an
// IsNotExist error on every server (some say 204 for anything).
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := backend.CheckName(name, false); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if _, err := b.Stat(ctx, name); err != nil {
		return err
	}
	u := b.url(name)
	resp, err := b.send(ctx, http.MethodDelete, u, nil, 0)
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode/100 != 2 {
		return statusErr(resp, http.MethodDelete, u, "")
	}
	return nil
}

// listEntry is one item of nginx's `autoindex_format json` listing.
type listEntry struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Mtime string `json:"mtime"`
	Size  int64  `json:"size"`
}

// List walks the JSON folder listings from the folder of prefix down.
func (b *Backend) List(ctx context.Context, prefix string, fn func(backend.ObjectInfo) error) error {
	start := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = prefix[:i]
		if err := backend.CheckName(start, false); err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
	}
	if err := b.walk(ctx, start, prefix, fn); err != nil {
		return fmt.Errorf("list %s in %s: %w", prefix, b, err)
	}
	return nil
}

func (b *Backend) walk(ctx context.Context, rel, prefix string, fn func(backend.ObjectInfo) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, _, err := b.listing(ctx, rel)
	if backend.IsNotExist(err) {
		return nil // not there (yet), or removed since its parent was read
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		child := path.Join(rel, e.Name)
		if strings.Contains(e.Name, "/") || backend.CheckName(child, false) != nil {
			continue // a claim (see Put), or a name no object has
		}
		switch e.Type {
		case "directory":
			if strings.HasPrefix(child+"/", prefix) || strings.HasPrefix(prefix, child+"/") {
				if err := b.walk(ctx, child, prefix, fn); err != nil {
					return err
				}
			}
		case "file":
			if !strings.HasPrefix(child, prefix) {
				continue
			}
			mt, err := http.ParseTime(e.Mtime)
			if err != nil {
				return backend.Permanent(fmt.Errorf("GET %s: mtime %q of %s: %w", b.url(rel+"/"), e.Mtime, e.Name, err))
			}
			if err := fn(backend.ObjectInfo{Name: child, Size: e.Size, ModTime: mt}); err != nil {
				return err
			}
		}
	}
	return nil
}

// listing reads the JSON listing of folder rel ("" is the base), and the
// server's Date for judging the entries' times.
func (b *Backend) listing(ctx context.Context, rel string) ([]listEntry, time.Time, error) {
	u := b.base.String()
	if rel != "" {
		u = b.url(rel + "/")
	}
	resp, err := b.send(ctx, http.MethodGet, u, nil, 0, "Accept", "application/json")
	if err != nil {
		return nil, time.Time{}, err
	}
	defer resp.Body.Close() // read to its end below, or failed
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusForbidden:
		// nginx says 403 for a folder it may not list.
		return nil, time.Time{}, statusErr(resp, http.MethodGet, u, listingHint+"; or "+credsHint)
	default:
		return nil, time.Time{}, statusErr(resp, http.MethodGet, u, "")
	}
	var ents []listEntry
	if err := json.NewDecoder(resp.Body).Decode(&ents); err != nil {
		return nil, time.Time{}, backend.Permanent(fmt.Errorf("GET %s: %s", u, listingHint))
	}
	date, _ := http.ParseTime(resp.Header.Get("Date")) // zero if none: the caller judges by its own clock
	return ents, date, nil
}

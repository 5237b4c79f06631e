package httpbackend

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"

	"github.com/rezup/rezup/cas/backend"
)

const (
	credsHint    = "check REZUP_CACHE_TOKEN or ~/.netrc"
	readOnlyHint = "the cache is read-only for this account (publishing needs PUT and DELETE, e.g. nginx `dav_methods PUT DELETE MKCOL;`)"
	listingHint  = "the server gives no JSON folder listing: turn on `autoindex on; autoindex_format json;` (nginx), or run `rezup gc --cache` where the cache is a directory"
)

// statusError is a response that failed: "PUT https://h/x: 405 Not
// Allowed: hint". It wraps fs.ErrNotExist or fs.ErrPermission where the
// status says so.
type statusError struct {
	method, url, status, hint string
	code                      int
	kind                      error
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.method, e.url, e.status)
	if e.hint != "" {
		s += ": " + e.hint
	}
	return s
}

func (e *statusError) Unwrap() error { return e.kind }

// statusErr sorts a failed response into the errors callers branch on.
// hint, when not "", replaces the usual advice.
func statusErr(resp *http.Response, method, u, hint string) error {
	status := resp.Status
	if len(status) > 60 || status == "" {
		status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	e := &statusError{method: method, url: u, status: status, code: resp.StatusCode, hint: hint}
	write := method == http.MethodPut || method == http.MethodDelete
	switch c := resp.StatusCode; {
	case c == http.StatusNotFound || c == http.StatusGone:
		e.kind = fs.ErrNotExist
		return e
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		e.kind = fs.ErrPermission
		if e.hint == "" {
			e.hint = credsHint
			if write && c == http.StatusForbidden {
				e.hint = readOnlyHint + ", or " + credsHint
			}
		}
		return e
	case write && (c == http.StatusMethodNotAllowed || c == http.StatusNotImplemented):
		if e.hint == "" {
			e.hint = readOnlyHint
		}
		return backend.Permanent(e)
	case c == http.StatusTooManyRequests || c >= 500:
		return e // the server may get better: a retry layer retries it
	case c >= 300 && c < 400:
		if e.hint == "" {
			e.hint = "redirect not followed"
		}
		return backend.Permanent(e)
	}
	return backend.Permanent(e)
}

// netErr names the request that could not be made. A certificate that
// does not verify stays that way, so it is permanent; other network
// errors are not (a retry layer retries them).
func netErr(err error, method, u string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	err = fmt.Errorf("%s %s: %w", method, u, err)
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return backend.Permanent(err)
	}
	return err
}

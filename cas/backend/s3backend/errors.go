package s3backend

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/rezup/rezup/cas/backend"
)

// errNoBucket marks the error of a missing bucket (which also matches
// fs.ErrNotExist), so that Put does not upload into nothing.
var errNoBucket = errors.New("no such bucket")

// credentialsHint is where the credentials come from (see Opener).
const credentialsHint = "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or AWS_PROFILE and its ~/.aws/credentials"

// sortedError is a one-line message that matches the sentinels in kinds.
type sortedError struct {
	msg   string
	kinds []error
}

func (e *sortedError) Error() string   { return e.msg }
func (e *sortedError) Unwrap() []error { return e.kinds }

// fail turns an error of minio's for operation op on object name into a
// one-line error that cas.IsNotExist and cas.IsPermanent sort: a missing
// key or bucket wraps fs.ErrNotExist, a refusal of the credentials
// fs.ErrPermission, a 412 cas.ErrExist, another 4xx is cas.Permanent,
// and a 5xx, SlowDown, 429, 408 or network error is left plain
// (transient), for the retry layer.
func (b *Backend) fail(ctx context.Context, op, name string, err error) error {
	where := b.where(name)
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s %s: %w", op, where, cerr)
	}
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return fmt.Errorf("%s %s: %w", op, where, err)
	}
	status, code := resp.StatusCode, resp.Code
	msg := strings.TrimSuffix(resp.Error(), ".")
	if code != "" && !strings.Contains(msg, code) {
		msg = code + ": " + msg
	}
	switch {
	case code == "NoSuchBucket":
		return b.noBucket(op, where)
	case code == "NoSuchKey" || status == http.StatusNotFound:
		// A HEAD's 404 has no body to say whether the key or the bucket
		// is missing: ask, until the bucket has been seen once.
		if !b.bucketSeen.Load() {
			ok, berr := b.client.BucketExists(ctx, b.bucket)
			switch {
			case berr == nil && !ok:
				return b.noBucket(op, where)
			case berr == nil:
				b.bucketSeen.Store(true)
			}
		}
		return &sortedError{fmt.Sprintf("%s %s: object does not exist", op, where), []error{fs.ErrNotExist}}
	case code == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		return fmt.Errorf("%s %s: %w", op, where, backend.ErrExist)
	case status == http.StatusForbidden || code == "AccessDenied" || code == "InvalidAccessKeyId" ||
		code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "InvalidToken":
		return &sortedError{fmt.Sprintf("%s %s: access denied (%s): %s", op, where, msg, credentialsHint), []error{fs.ErrPermission, err}}
	case code == "SlowDown" || code == "ConditionalRequestConflict" || status == 0 ||
		status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return &sortedError{fmt.Sprintf("%s %s: %s", op, where, msg), []error{err}}
	case status >= 400:
		return backend.Permanent(&sortedError{fmt.Sprintf("%s %s: %s (HTTP %d)", op, where, msg, status), []error{err}})
	}
	return &sortedError{fmt.Sprintf("%s %s: %s", op, where, msg), []error{err}}
}

func (b *Backend) noBucket(op, where string) error {
	return &sortedError{
		fmt.Sprintf("%s %s: bucket %s does not exist: create it or fix the cache URL", op, where, b.bucket),
		[]error{fs.ErrNotExist, errNoBucket},
	}
}

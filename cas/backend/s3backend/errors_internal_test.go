package s3backend

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/rezup/rezup/cas/backend"
)

// Responses the test server cannot be made to send (a 503, SlowDown, a
// 400) are sorted by the same switch as those it sends.
func TestFailSorts(t *testing.T) {
	b, err := New("bucket", "p", Options{Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	b.bucketSeen.Store(true) // no bucket check on a 404
	resp := func(status int, code, msg string) error {
		return minio.ErrorResponse{StatusCode: status, Code: code, Message: msg}
	}
	const (
		transient = iota
		permanent
		notExist
		denied
		exists
	)
	for _, tt := range []struct {
		err  error
		want int
		msg  string
	}{
		{resp(503, "ServiceUnavailable", "Please reduce your request rate."), transient, "get s3://bucket/p/k/a: ServiceUnavailable: Please reduce your request rate"},
		{resp(503, "SlowDown", "Reduce your rate"), transient, "SlowDown: Reduce your rate"},
		{resp(500, "InternalError", "We encountered an internal error"), transient, "InternalError"},
		{resp(429, "TooManyRequests", "slow down"), transient, "TooManyRequests"},
		{resp(408, "RequestTimeout", "timeout"), transient, "RequestTimeout"},
		{resp(409, "ConditionalRequestConflict", "retry"), transient, "ConditionalRequestConflict"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, transient, "connection refused"},
		{resp(400, "InvalidArgument", "bad"), permanent, "InvalidArgument: bad (HTTP 400)"},
		{resp(405, "MethodNotAllowed", "no"), permanent, "HTTP 405"},
		{resp(404, "NoSuchKey", ""), notExist, "get s3://bucket/p/k/a: object does not exist"},
		{resp(404, "", ""), notExist, "object does not exist"},
		{resp(404, "NoSuchBucket", ""), notExist, "bucket bucket does not exist: create it or fix the cache URL"},
		{resp(403, "AccessDenied", "Access Denied."), denied, "access denied (AccessDenied: Access Denied): check AWS_ACCESS_KEY_ID"},
		{resp(403, "InvalidAccessKeyId", "no such key id"), denied, "InvalidAccessKeyId"},
		{resp(403, "SignatureDoesNotMatch", "sig"), denied, "SignatureDoesNotMatch"},
		{resp(400, "ExpiredToken", "expired"), denied, "ExpiredToken"},
		{resp(412, "PreconditionFailed", "no"), exists, "object exists"},
	} {
		got := b.fail(context.Background(), "get", "k/a", tt.err)
		var kind int
		switch {
		case errors.Is(got, backend.ErrExist):
			kind = exists
		case errors.Is(got, fs.ErrPermission):
			kind = denied
		case backend.IsNotExist(got):
			kind = notExist
		case backend.IsPermanent(got):
			kind = permanent
		}
		if kind != tt.want || !strings.Contains(got.Error(), tt.msg) || strings.Contains(got.Error(), "\n") {
			t.Errorf("%v: %q sorted as %d, want %d and a line with %q", tt.err, got, kind, tt.want, tt.msg)
		}
		if kind != transient && kind != exists && !backend.IsPermanent(got) {
			t.Errorf("%v: %q is not permanent", tt.err, got)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := b.fail(ctx, "get", "k/a", errors.New("whatever minio says")); !errors.Is(got, context.Canceled) {
		t.Errorf("after cancel: %v, want context.Canceled", got)
	}
}

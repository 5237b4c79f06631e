package s3backend_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/backend/backendtest"
	"github.com/rezup/rezup/cas/backend/s3backend"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/internal/testsrv"
)

// One versitygw serves the whole package (each test has its own bucket):
// starting it takes longer than most tests.
var (
	srvOnce sync.Once
	srv     *testsrv.S3Server
	srvErr  error
	srvDir  string
	buckets atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if srv != nil {
		_ = srv.Stop() // the tests are over; their outcome is the exit code
	}
	if srvDir != "" {
		os.RemoveAll(srvDir) // a temporary directory of this run only
	}
	os.Exit(code)
}

func server(t *testing.T) *testsrv.S3Server {
	t.Helper()
	srvOnce.Do(func() {
		srvDir, srvErr = os.MkdirTemp("", "rezup-versitygw-")
		if srvErr == nil {
			srv, srvErr = testsrv.VersityGW(srvDir)
		}
	})
	if errors.Is(srvErr, testsrv.ErrNotInstalled) {
		testkit.NeedsServer(t, srvErr)
	}
	if srvErr != nil {
		t.Fatal(srvErr)
	}
	return srv
}

// newBucket creates a fresh bucket on the server and returns its name.
func newBucket(t *testing.T) string {
	t.Helper()
	s := server(t)
	name := fmt.Sprintf("bucket-%03d", buckets.Add(1))
	if err := s.MakeBucket(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	return name
}

func options(s *testsrv.S3Server) s3backend.Options {
	return s3backend.Options{
		Endpoint:  s.Endpoint,
		Region:    s.Region,
		Creds:     credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		PathStyle: true,
	}
}

func newBackend(t *testing.T, bucket, prefix string, o s3backend.Options) *s3backend.Backend {
	t.Helper()
	b, err := s3backend.New(bucket, prefix, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return newBackend(t, newBucket(t), "", options(server(t)))
	})
}

// Under a key prefix, names are relative to it, and nothing outside it
// is listed.
func TestSuiteUnderPrefix(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		bucket := newBucket(t)
		other := newBackend(t, bucket, "", options(server(t)))
		// A neighbour of the prefix, which List must not show.
		if err := other.Put(context.Background(), "team/cache-old/x", backend.BytesSource([]byte("x"))); err != nil {
			t.Fatal(err)
		}
		return newBackend(t, bucket, "/team/cache/", options(server(t)))
	})
}

func TestPrefixLayout(t *testing.T) {
	ctx := context.Background()
	bucket := newBucket(t)
	b := newBackend(t, bucket, "farm/cache", options(server(t)))
	if got := b.String(); got != "s3://"+bucket+"/farm/cache" {
		t.Errorf("String() = %q", got)
	}
	if err := b.Put(ctx, "k/entry.json", backend.BytesSource([]byte("{}"))); err != nil {
		t.Fatal(err)
	}
	whole := newBackend(t, bucket, "", options(server(t)))
	if fi, err := whole.Stat(ctx, "farm/cache/k/entry.json"); err != nil || fi.Size != 2 {
		t.Fatalf("the object is not at its key: %+v, %v", fi, err)
	}
}

// A wrong secret is one line, sorted as a refused permission, with a hint
// at the variables to check.
func TestWrongSecret(t *testing.T) {
	ctx := context.Background()
	s := server(t)
	bucket := newBucket(t)
	o := options(s)
	o.Creds = credentials.NewStaticV4(s.AccessKey, "not-the-secret", "")
	b := newBackend(t, bucket, "", o)
	_, serr := b.Stat(ctx, "k/entry.json")
	_, oerr := b.Open(ctx, "k/entry.json", 0, -1)
	perr := b.Put(ctx, "k/entry.json", backend.BytesSource([]byte("{}")))
	lerr := b.List(ctx, "", func(backend.ObjectInfo) error { return nil })
	for op, err := range map[string]error{"stat": serr, "open": oerr, "put": perr, "list": lerr} {
		if !errors.Is(err, fs.ErrPermission) || !backend.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent permission error", op, err)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, bucket) || !strings.Contains(msg, "AWS_SECRET_ACCESS_KEY") {
			t.Errorf("%s: %q, want one line naming the bucket and AWS_SECRET_ACCESS_KEY", op, msg)
		}
	}
	if !strings.Contains(oerr.Error(), "k/entry.json") {
		t.Errorf("open: %q does not name the object", oerr)
	}
}

// A missing bucket says so, in one line, for every operation.
func TestMissingBucket(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, "no-such-bucket", "p", options(server(t)))
	_, serr := b.Stat(ctx, "k/entry.json")
	_, oerr := b.Open(ctx, "k/entry.json", 0, -1)
	perr := b.Put(ctx, "k/entry.json", backend.BytesSource([]byte("{}")))
	derr := b.Delete(ctx, "k/entry.json")
	lerr := b.List(ctx, "", func(backend.ObjectInfo) error { return nil })
	for op, err := range map[string]error{"stat": serr, "open": oerr, "put": perr, "delete": derr, "list": lerr} {
		if !backend.IsNotExist(err) || !backend.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent not-exist error", op, err)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "bucket no-such-bucket does not exist: create it or fix the cache URL") {
			t.Errorf("%s: %q", op, msg)
		}
	}
}

// A store that does not answer is a transient error (the retry layer's
// business), not a permanent one.
func TestUnreachable(t *testing.T) {
	port, err := testsrv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	o := options(server(t))
	o.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	b := newBackend(t, "bucket", "", o)
	_, err = b.Stat(context.Background(), "k/entry.json")
	if err == nil || backend.IsPermanent(err) || backend.IsNotExist(err) || !strings.Contains(err.Error(), "s3://bucket/k/entry.json") {
		t.Fatalf("stat of an unreachable store: %v, want a transient error naming the object", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tt := range []struct{ bucket, prefix, endpoint string }{
		{"ab", "", ""},
		{"Bad_Bucket", "", ""},
		{"bucket", "a/../b", ""},
		{"bucket", "", "ftp://host"},
		{"bucket", "", "http://host/path"},
	} {
		if _, err := s3backend.New(tt.bucket, tt.prefix, s3backend.Options{Endpoint: tt.endpoint}); err == nil {
			t.Errorf("New(%q, %q, endpoint %q) succeeded", tt.bucket, tt.prefix, tt.endpoint)
		}
	}
}

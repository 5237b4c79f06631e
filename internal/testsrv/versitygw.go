package testsrv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// versitygwInstall is how to get the S3 server the tests run against.
const versitygwInstall = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// S3Server is a running versitygw: an S3 API over a directory, with one
// root account.
type S3Server struct {
	*Server
	// Endpoint is the server's URL (http://127.0.0.1:PORT), the same as
	// Server.URL.
	Endpoint string
	// AccessKey and SecretKey are the root account's, random for each
	// server.
	AccessKey, SecretKey string
	// Region is the region the server signs for.
	Region string
}

// VersityGW starts versitygw's posix backend on a free port of 127.0.0.1,
// serving the buckets of dir/data (each a directory; create them with
// MakeBucket). Its log is dir/versitygw.log and its access log, one line
// per request, dir/access.log. The posix backend keeps object metadata in
// extended attributes, so dir must be on a filesystem that has them (ext4,
// xfs, btrfs and tmpfs do; on one without, versitygw exits at once and
// the error quotes its log). No --iam-dir: the root account is the only
// one, which is all the tests need.
func VersityGW(dir string) (*S3Server, error) {
	bin, err := LookTool("versitygw", versitygwInstall)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	access, secret := versityKey(10), versityKey(20)
	const region = "us-east-1"
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--port", addr, "--region", region, "--quiet",
		"--access-log", filepath.Join(dir, "access.log"), "posix", data)
	// Only what the server needs: a VGW_* variable of the caller's (they
	// configure every flag) must not change the server the tests get.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"ROOT_ACCESS_KEY=" + access,
		"ROOT_SECRET_KEY=" + secret,
	}
	url := "http://" + addr
	srv, err := start(cmd, dir, "versitygw.log", addr, url, 20*time.Second)
	if err != nil {
		return nil, err
	}
	return &S3Server{Server: srv, Endpoint: url, AccessKey: access, SecretKey: secret, Region: region}, nil
}

// Client returns a minio client of the root account, with path-style
// addressing.
func (s *S3Server) Client() (*minio.Client, error) {
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		return nil, err
	}
	return minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
	})
}

// MakeBucket creates the bucket name.
func (s *S3Server) MakeBucket(ctx context.Context, name string) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		return fmt.Errorf("make bucket %s: %w", name, err)
	}
	return nil
}

func versityKey(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

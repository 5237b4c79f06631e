package main

import (
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/internal/testsrv"
)

// nginxCache starts a real nginx serving a writable WebDAV cache, stopped
// when the test ends.
func nginxCache(t *testing.T, o testsrv.NginxOptions) *testsrv.Server {
	t.Helper()
	srv, err := testsrv.Nginx(t.TempDir(), o)
	if errors.Is(err, testsrv.ErrNotInstalled) {
		testkit.NeedsServer(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// s3Cache starts a real S3 server (versitygw) with an empty bucket,
// stopped when the test ends.
func s3Cache(t *testing.T, bucket string) *testsrv.S3Server {
	t.Helper()
	srv, err := testsrv.VersityGW(t.TempDir())
	if errors.Is(err, testsrv.ErrNotInstalled) {
		testkit.NeedsServer(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	if err := srv.MakeBucket(t.Context(), bucket); err != nil {
		t.Fatal(err)
	}
	return srv
}

// publishTo makes f's admin publish container prod to the cache at loc
// (with env for the admin), then removes the wheels: nodes must fetch.
func (f *farm) publishTo(t *testing.T, loc string, env map[string]string) {
	t.Helper()
	f.admin.Env["REZUP_CACHE"] = loc
	for k, v := range env {
		f.admin.Env[k] = v
	}
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	res := f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	if !strings.Contains(res.Stderr, "publishing") {
		t.Fatalf("add --remote did not publish to %s:\n%s", loc, res.Stderr)
	}
	if err := os.RemoveAll(f.wheels); err != nil {
		t.Fatal(err)
	}
}

// A node whose only source of builds is an https:// cache behind nginx,
// trusted through SSL_CERT_FILE, fetches the admin's build; a connection
// dropped twice mid-archive is resumed with Range and the archive still
// verifies.
func TestHTTPSCacheServesANode(t *testing.T) {
	t.Parallel()
	srv := nginxCache(t, testsrv.NginxOptions{TLS: true})
	f := newFarm(t)
	tlsEnv := map[string]string{"SSL_CERT_FILE": srv.CAFile}
	f.publishTo(t, srv.URL+"/rezup", tlsEnv)

	node := f.node(t, filepath.Join(t.TempDir(), "node"))
	node.Env["REZUP_CACHE"] = srv.URL + "/rezup"
	node.Env["SSL_CERT_FILE"] = srv.CAFile
	res := node.MustRun("use", "prod", "--", "rez-env", "maya")
	rezReport(t, res.Stdout)
	if !strings.Contains(res.Stderr, "fetched") || strings.Contains(res.Stderr, "installing") {
		t.Errorf("the node did not fetch over https, or ran pip:\n%s", res.Stderr)
	}

	// Without the certificate's CA the node cannot verify the server:
	// one error line, no build (the wheels are gone anyway).
	untrusting := f.node(t, filepath.Join(t.TempDir(), "node2"))
	untrusting.Env["REZUP_CACHE"] = srv.URL + "/rezup"
	res = untrusting.Run("use", "prod", "--", "rez-env")
	if res.Code == 0 || !strings.Contains(res.Stderr, "certificate") {
		t.Errorf("a node that does not trust the server's certificate: exit %d\n%s", res.Code, res.Stderr)
	}

	// Through a proxy that drops the first two connections after 192 KiB.
	cut, err := testsrv.CutProxy(srv.URL, 192<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cut.Close() })
	flaky := f.node(t, filepath.Join(t.TempDir(), "node3"))
	flaky.Env["REZUP_CACHE"] = cut.URL + "/rezup"
	flaky.Env["SSL_CERT_FILE"] = srv.CAFile
	res = flaky.MustRun("-D", "use", "prod", "--", "rez-env", "maya")
	rezReport(t, res.Stdout)
	if !strings.Contains(res.Stderr, "fetched") || strings.Count(res.Stderr, "retrying in") < 2 {
		t.Errorf("the node did not resume a dropped download twice:\n%s", res.Stderr)
	}
}

// faultProxy forwards to a real server, answering the first n requests
// for archives with status instead.
func faultProxy(t *testing.T, target string, status int, n int64) (proxyURL string, faults *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	faults = new(atomic.Int64)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".tar.zst") && faults.Add(1) <= n {
			http.Error(w, http.StatusText(status), status)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	l, err := testsrv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String(), faults
}

// A 503 is retried (then the node fetches); a 403 is one error line and
// exit 1, not a build.
func TestHTTPCacheRetriesAndRefusals(t *testing.T) {
	t.Parallel()
	srv := nginxCache(t, testsrv.NginxOptions{})
	f := newFarm(t)
	f.publishTo(t, srv.URL+"/rezup", nil)

	busy, faults := faultProxy(t, srv.URL, http.StatusServiceUnavailable, 2)
	node := f.node(t, filepath.Join(t.TempDir(), "node"))
	node.Env["REZUP_CACHE"] = busy + "/rezup"
	res := node.MustRun("-D", "use", "prod", "--", "rez-env")
	rezReport(t, res.Stdout)
	if faults.Load() < 3 || !strings.Contains(res.Stderr, "503") || !strings.Contains(res.Stderr, "fetched") {
		t.Errorf("503s were not retried (%d archive requests):\n%s", faults.Load(), res.Stderr)
	}

	forbidden, _ := faultProxy(t, srv.URL, http.StatusForbidden, 1<<30)
	node = f.node(t, filepath.Join(t.TempDir(), "node2"))
	node.Env["REZUP_CACHE"] = forbidden + "/rezup"
	res = node.Run("use", "prod", "--", "rez-env")
	lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	if res.Code != 1 || !strings.Contains(res.Stderr, "403") || len(errorLines(lines)) != 1 ||
		strings.Contains(res.Stderr, "REZUP_ROOT_LOCAL") {
		t.Errorf("a 403: exit %d, want 1 and one error line:\n%s", res.Code, res.Stderr)
	}
}

func errorLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "rezup: error:") {
			out = append(out, l)
		}
	}
	return out
}

// A node whose only source of builds is an s3:// cache (a real S3 server,
// versitygw) reached with the AWS variables fetches the admin's build.
func TestS3CacheServesANode(t *testing.T) {
	t.Parallel()
	srv := s3Cache(t, "studio")
	aws := map[string]string{
		"AWS_ENDPOINT_URL_S3":   srv.Endpoint,
		"AWS_ACCESS_KEY_ID":     srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY": srv.SecretKey,
		"AWS_REGION":            srv.Region,
	}
	f := newFarm(t)
	f.publishTo(t, "s3://studio/rezup", aws)

	node := f.node(t, filepath.Join(t.TempDir(), "node"))
	node.Env["REZUP_CACHE"] = "s3://studio/rezup"
	for k, v := range aws {
		node.Env[k] = v
	}
	res := node.MustRun("use", "prod", "--", "rez-env", "maya")
	r := rezReport(t, res.Stdout)
	if r.Env["REZUP_USING_REMOTE"] != "yes" || !strings.Contains(res.Stderr, "fetched") || strings.Contains(res.Stderr, "installing") {
		t.Errorf("the node did not fetch from S3, or ran pip:\n%s", res.Stderr)
	}

	// A wrong secret is one error line naming the credentials to check.
	wrong := f.node(t, filepath.Join(t.TempDir(), "node2"))
	wrong.Env["REZUP_CACHE"] = "s3://studio/rezup"
	for k, v := range aws {
		wrong.Env[k] = v
	}
	wrong.Env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
	res = wrong.Run("use", "prod", "--", "rez-env")
	if res.Code != 1 || len(errorLines(strings.Split(res.Stderr, "\n"))) != 1 || !strings.Contains(res.Stderr, "AWS_") {
		t.Errorf("a wrong secret: exit %d, want 1 and one error line naming AWS_*:\n%s", res.Code, res.Stderr)
	}
}

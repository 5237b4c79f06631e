package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/backend/backendtest"
	"github.com/rezup/rezup/cas/backend/helper"
	"github.com/rezup/rezup/internal/selfupdate"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/internal/testsrv"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

func TestVersionAndUsage(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"--version"}, nil, &stdout, &stderr, os.Getenv); code != 0 || !strings.HasPrefix(stdout.String(), "rezup-net ") {
		t.Errorf("--version: exit %d, printed %q %q", code, stdout.String(), stderr.String())
	}
	if v, ok := selfupdate.PrintedVersion(stdout.String()); !ok || v != selfupdate.CurrentBuild(version, commit).Version {
		t.Errorf("--version printed %q: the self-upgrade reads %q from it", stdout.String(), v)
	}
	stdout.Reset()
	code := run(nil, nil, &stdout, &stderr, os.Getenv)
	if code != 2 || !strings.HasPrefix(stderr.String(), "rezup-net: error: ") || !strings.Contains(stderr.String(), "\nrezup-net: hint: ") {
		t.Errorf("no arguments: exit %d, printed %q", code, stderr.String())
	}
}

// helperBinary builds rezup-net once per test process and returns it with
// the version it announces.
func helperBinary(t *testing.T) (bin, version string) {
	t.Helper()
	bin = testkit.Binary(t, "github.com/rezup/rezup/cmd/rezup-net")
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	version, ok := selfupdate.PrintedVersion(string(out))
	if !ok {
		t.Fatalf("%s --version printed nothing", bin)
	}
	return bin, version
}

// client returns a client of the cache at location served by a real
// rezup-net process with environ, closed when the test ends.
func client(t *testing.T, location string, environ []string) *helper.Client {
	t.Helper()
	bin, version := helperBinary(t)
	c := helper.New(location, helper.Options{
		Version: version,
		Command: func() (*exec.Cmd, error) {
			cmd := exec.Command(bin, "serve", location)
			cmd.Env = environ
			return cmd, nil
		},
	})
	t.Cleanup(func() {
		// nil: the helper exited on the end of its input, not killed.
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func baseEnv(t *testing.T) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
}

// The suite, through a rezup-net process, against a real nginx.
func TestSuiteOverHTTP(t *testing.T) {
	t.Parallel()
	srv, err := testsrv.Nginx(t.TempDir(), testsrv.NginxOptions{})
	if errors.Is(err, testsrv.ErrNotInstalled) {
		testkit.NeedsServer(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	var n atomic.Int64
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return client(t, fmt.Sprintf("%s/suite%d", srv.URL, n.Add(1)), baseEnv(t))
	})
}

// The suite, through a rezup-net process, against a real versitygw,
// reached with the AWS variables as rezup passes them.
func TestSuiteOverS3(t *testing.T) {
	t.Parallel()
	srv, err := testsrv.VersityGW(t.TempDir())
	if errors.Is(err, testsrv.ErrNotInstalled) {
		testkit.NeedsServer(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	if err := srv.MakeBucket(t.Context(), "suite"); err != nil {
		t.Fatal(err)
	}
	env := func(t *testing.T) []string {
		return append(baseEnv(t),
			"AWS_ENDPOINT_URL_S3="+srv.Endpoint,
			"AWS_ACCESS_KEY_ID="+srv.AccessKey,
			"AWS_SECRET_ACCESS_KEY="+srv.SecretKey,
			"AWS_REGION="+srv.Region)
	}
	var n atomic.Int64
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return client(t, fmt.Sprintf("s3://suite/p%d", n.Add(1)), env(t))
	})

	// A wrong secret is refused as in the process: a permanent
	// permission error naming the variables to check.
	wrong := slicesReplace(env(t), "AWS_SECRET_ACCESS_KEY=", "AWS_SECRET_ACCESS_KEY=not-the-secret")
	_, err = client(t, "s3://suite/p0", wrong).Stat(t.Context(), "k/entry.json")
	if !errors.Is(err, fs.ErrPermission) || !backend.IsPermanent(err) || !strings.Contains(err.Error(), "AWS_") {
		t.Errorf("a wrong secret: %v", err)
	}
}

func slicesReplace(env []string, prefix, with string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.HasPrefix(kv, prefix) {
			kv = with
		}
		out = append(out, kv)
	}
	return out
}

// A location the helper cannot open is its error, once, for every
// operation; a rezup-net of another version is refused with what to do.
func TestRefusals(t *testing.T) {
	t.Parallel()
	_, err := client(t, "https://user:secret@127.0.0.1:1/cache", baseEnv(t)).Stat(t.Context(), "k/entry.json")
	if err == nil || !strings.Contains(err.Error(), "credentials in the URL") || !backend.IsPermanent(err) {
		t.Errorf("credentials in the URL: %v", err)
	}

	bin, _ := helperBinary(t)
	c := helper.New("http://127.0.0.1:1/cache", helper.Options{
		Version: "99.0.0",
		Command: func() (*exec.Cmd, error) { return exec.Command(bin, "serve", "http://127.0.0.1:1/cache"), nil },
	})
	defer c.Close()
	_, err = c.Stat(t.Context(), "k/entry.json")
	if err == nil || !strings.Contains(err.Error(), "not 99.0.0") || !strings.Contains(err.Error(), "install rezup-net from the same release as rezup") {
		t.Errorf("a helper of another version: %v", err)
	}
}

// The helper exits at the end of its stdin, whatever it was doing: a
// rezup that dies (its end of the pipe closed by the kernel) leaves no
// helper behind.
func TestExitsAtTheEndOfStdin(t *testing.T) {
	t.Parallel()
	bin, _ := helperBinary(t)
	for _, input := range []string{"", "\x00\x00\x00"} { // nothing; half a frame
		cmd := exec.Command(bin, "serve", "http://127.0.0.1:1/cache")
		cmd.Stdin = strings.NewReader(input)
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("stdin %q: %v, want exit status 1 (no handshake)", input, err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("stdin %q: still running 10s after its stdin ended", input)
		}
	}

	// In the middle of a download: Close ends stdin, and the helper
	// exits by itself (Close reports a kill as an error).
	srv, err := testsrv.Nginx(t.TempDir(), testsrv.NginxOptions{})
	if errors.Is(err, testsrv.ErrNotInstalled) {
		testkit.NeedsServer(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	c := client(t, srv.URL+"/cache", baseEnv(t))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := c.Put(ctx, "k/big", backend.BytesSource(make([]byte, 16<<20))); err != nil {
		t.Fatal(err)
	}
	rc, err := c.Open(ctx, "k/big", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Read(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("close in the middle of a download: %v", err)
	}
	if _, err := io.ReadAll(rc); err == nil {
		t.Error("the download went on after close")
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/internal/testsrv"
)

// Issue 19: a failing cache never stops a node that can build. These
// tests run nodes against real servers that fail (testsrv.StartFault in
// front of nginx; versitygw with a wrong secret), with the bounds of
// cache reads shortened by their documented variables so that a failure
// shows in seconds (the trickle of a byte every 10 s against a
// 60 s idle timeout is, here, a byte every 0.5 s against 2 s).

// degradeBounds shortens every read of the shared cache: given up after
// 2 s without a byte, or after 2 s plus its size at 4 MiB/s, retries
// included. The archives here are a few MiB at most.
var degradeBounds = map[string]string{"REZUP_CACHE_IDLE": "2s", "REZUP_CACHE_MIN_RATE": "4MiB"}

// warnBound is how long after its start a node may take to give up on a
// failing cache and say so: a few seconds of bounded reads and retries
// (6 tries, at most 0.25 + 0.5 + 1 + 2 + 4 s apart), and room for a
// loaded machine. A cache read that is not bounded never ends.
const warnBound = 45 * time.Second

// timedResult is a finished command, and when (after its start) it first
// wrote a warning; -1 when it wrote none.
type timedResult struct {
	testkit.Result
	warnedAt time.Duration
}

// warnClock is stderr that notes when the first warning line arrives.
type warnClock struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	start time.Time
	at    time.Duration
}

func (w *warnClock) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.at < 0 && strings.Contains(w.buf.String(), "rezup: warning:") {
		w.at = time.Since(w.start)
	}
	return len(p), nil
}

// runTimed runs args in s as Session.Run does, but gives up after limit
// (failing t) and notes when the first warning was written.
func runTimed(t *testing.T, s *testkit.Session, limit time.Duration, args ...string) timedResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := s.Command(ctx, args...)
	var stdout bytes.Buffer
	stderr := &warnClock{start: time.Now(), at: -1}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	stderr.mu.Lock()
	defer stderr.mu.Unlock()
	res := timedResult{testkit.Result{Stdout: stdout.String(), Stderr: stderr.buf.String(), Code: cmd.ProcessState.ExitCode()}, stderr.at}
	if ctx.Err() != nil {
		t.Fatalf("rezup %s: still running after %v (the cache held it)\nstderr:\n%s", strings.Join(args, " "), limit, res.Stderr)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("rezup %s: %v", strings.Join(args, " "), err)
	}
	return res
}

func warningLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "rezup: warning:") {
			out = append(out, l)
		}
	}
	return out
}

// unpinnedCopy writes the newest remote revision of container from,
// without its pin, as the only revision of container to (as an older
// rezup or the Python rezup published it): a node finds its build by key,
// through entry.json.
func unpinnedCopy(t *testing.T, remote, from, to string) {
	t.Helper()
	revs := revisions(t, remote, from)
	if len(revs) != 1 {
		t.Fatalf("remote revisions of %s: %v", from, revs)
	}
	src := filepath.Join(remote, from, "revisions", revs[0])
	dst := filepath.Join(remote, to, "revisions", revs[0])
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"rezup.toml", "lock.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(src, "revision.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["archive"] == nil {
		t.Fatalf("the admin's remote revision pins nothing: %v", raw)
	}
	delete(raw, "archive")
	b, _ = json.Marshal(raw)
	if err := os.WriteFile(filepath.Join(dst, "revision.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A node with the recipe (and lock) of a remote revision launches it when
// the HTTP cache is unreachable, answers 500 for ever, loops redirects,
// trickles a byte every half second, or sends the valid archive followed
// by endless data, and when the S3 cache refuses its credentials: pinned
// (the admin's revision) and unpinned (found by key), on alternate faults
// (each node builds: a dozen builds cost CI a minute of CPU, and the
// fault is met by the same backend code either way). Each builds from the lock, exits 0, and says so in one warning
// naming the cache and the cause, within seconds. With the wheels gone as
// well, the node fails in one error line naming both causes.
func TestNodesBuildWhenTheNetworkCacheFails(t *testing.T) {
	t.Parallel()
	srv := nginxCache(t, testsrv.NginxOptions{})
	f := newFarm(t)
	f.admin.Env["REZUP_CACHE"] = srv.URL + "/rezup"
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	unpinnedCopy(t, f.remote, "prod", "loose")

	node := func(t *testing.T, cacheURL string) *testkit.Session {
		n := f.node(t, filepath.Join(t.TempDir(), "node"))
		n.Env["REZUP_CACHE"] = cacheURL
		for k, v := range degradeBounds {
			n.Env[k] = v
		}
		return n
	}
	// An S3 cache (versitygw) that refuses the node's credentials: an
	// empty bucket is enough, nothing is read before the refusal.
	s3 := s3Cache(t, "studio")
	wrongSecret := map[string]string{
		"AWS_ENDPOINT_URL_S3":   s3.Endpoint,
		"AWS_ACCESS_KEY_ID":     s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY": "not-the-secret",
		"AWS_REGION":            s3.Region,
	}
	faults := []struct {
		fault testsrv.Fault // "": the S3 cache, with a wrong secret
		cause string        // in the warning
	}{
		{testsrv.FaultRefused, "connection refused"},
		{testsrv.Fault500, "500"},
		{testsrv.FaultRedirectLoop, "redirect"},
		{testsrv.FaultTrickle, "too slow"},
		{testsrv.FaultEndless, "more bytes"},
		{"", "AWS_SECRET_ACCESS_KEY"},
	}
	t.Run("faults", func(t *testing.T) {
		for i, tc := range faults {
			for _, name := range []string{"prod", "loose"}[i%2 : i%2+1] {
				label := string(tc.fault)
				if tc.fault == "" {
					label = "s3 wrong secret"
				}
				// One after the other, in this test's slot: parallel, they
				// queued behind every other test of the package, and this
				// test, which goes on after them, ended last, alone, by
				// tens of seconds. Each fault costs a few seconds.
				t.Run(label+"/"+name, func(t *testing.T) {
					loc, env := "s3://studio/rezup", wrongSecret
					if tc.fault != "" {
						fs, err := testsrv.StartFault(srv.URL, tc.fault, 500*time.Millisecond)
						if err != nil {
							t.Fatal(err)
						}
						t.Cleanup(func() { fs.Close() })
						loc, env = fs.URL+"/rezup", nil
					}
					n := node(t, loc)
					for k, v := range env {
						n.Env[k] = v
					}
					res := runTimed(t, n, 3*time.Minute, "use", name, "--", "rez-env", "maya")
					if res.Code != 0 {
						t.Fatalf("exit %d, want 0 (a build):\n%s", res.Code, res.Stderr)
					}
					rezReport(t, res.Stdout)
					warns := warningLines(res.Stderr)
					if len(warns) != 1 || !strings.Contains(warns[0], loc) || !strings.Contains(warns[0], tc.cause) {
						t.Errorf("want one warning naming %s and %q:\n%s", loc, tc.cause, res.Stderr)
					}
					if !strings.Contains(res.Stderr, "built ") || strings.Contains(res.Stderr, "fetched") {
						t.Errorf("the node did not build:\n%s", res.Stderr)
					}
					if res.warnedAt < 0 || res.warnedAt > warnBound {
						t.Errorf("the warning came %v after the start, want at most %v", res.warnedAt, warnBound)
					}
				})
			}
		}
	})

	// No way to build either: the wheels are gone.
	if err := os.RemoveAll(f.wheels); err != nil {
		t.Fatal(err)
	}
	fs, err := testsrv.StartFault(srv.URL, testsrv.FaultRefused, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	loc := fs.URL + "/rezup"
	res := runTimed(t, node(t, loc), 3*time.Minute, "use", "prod", "--", "rez-env")
	errs := errorLines(strings.Split(res.Stderr, "\n"))
	if res.Code != 1 || len(errs) != 1 || !strings.Contains(errs[0], loc) || !strings.Contains(errs[0], "connection refused") ||
		!strings.Contains(errs[0], "building here failed too: build ") || !strings.Contains(errs[0], "pip install") {
		t.Errorf("cache and wheels gone: exit %d, want one error line naming both causes:\n%s", res.Code, res.Stderr)
	}

	// A pin of a format only a newer rezup knows, the cache up: one
	// warning, then one error line naming the version to upgrade to
	// and why the build failed.
	revs := revisions(t, f.remote, "prod")
	meta := filepath.Join(f.remote, "prod", "revisions", revs[0], "revision.json")
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	pin := raw["archive"].(map[string]any)
	pin["format"], pin["rezup_version"] = "files9", "9.0.0"
	if b, err = json.Marshal(raw); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res = runTimed(t, node(t, srv.URL+"/rezup"), 3*time.Minute, "use", "prod", "--", "rez-env")
	errs = errorLines(strings.Split(res.Stderr, "\n"))
	const upgrade = `the format "files9", which this rezup does not know: rezup 9.0.0 published it; upgrade rezup to 9.0.0 or newer`
	if res.Code != 1 || len(errs) != 1 || !strings.Contains(errs[0], upgrade) || !strings.Contains(errs[0], "building here failed too: build ") ||
		strings.Count(res.Stderr, "rezup: warning: ") != 1 || !strings.Contains(res.Stderr, upgrade+"; building remote revision") {
		t.Errorf("a pin of a newer format, no wheels: exit %d, want one warning and one error line naming the version to upgrade to:\n%s", res.Code, res.Stderr)
	}
}

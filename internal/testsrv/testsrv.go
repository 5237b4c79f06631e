// Package testsrv starts the real servers that tests and benchmarks run
// rezup's cache backends against: nginx (WebDAV PUT/DELETE) for HTTP and
// versitygw for S3. Each server listens on a free port of 127.0.0.1 only,
// keeps everything it writes in a directory the caller gives, and is
// stopped by Stop. In front of them, proxies count requests (Counter),
// drop connections (CutProxy) or fail as a studio's bad day would
// (StartFault). Nothing here depends on package testing, so that
// cmd/rezup-bench can start the same servers as the tests.
//
// A missing server binary is an error that names it and says how to
// install it, and wraps ErrNotInstalled: the tests fail with it, but in
// their fast tier (go test -short) skip with it (testkit.NeedsServer).
package testsrv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Server is a running server process.
type Server struct {
	// URL is where it serves: http://127.0.0.1:PORT (or https://).
	URL string
	// Dir holds its configuration, logs and data.
	Dir string
	// DataDir is where the server keeps what it serves (nginx: its root).
	DataDir string
	// CAFile, for a TLS server, is the PEM certificate a client must
	// trust to talk to it (it is self-signed); "" otherwise.
	CAFile string

	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close() // only the port number was wanted
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ErrNotInstalled is wrapped by the error of a server binary found
// nowhere (LookTool, and the starters that use it).
var ErrNotInstalled = errors.New("server not installed")

// notInstalled is LookTool's error: its message says all, its Unwrap
// lets callers tell a missing server from one that failed to start.
type notInstalled struct{ msg string }

func (e *notInstalled) Error() string { return e.msg }
func (e *notInstalled) Unwrap() error { return ErrNotInstalled }

// LookTool finds the executable name on PATH, then in the Go bin
// directory (GOBIN, or GOPATH/bin, where `go install` puts it). install
// says how to get it, for the error (wrapping ErrNotInstalled) when it is
// found nowhere.
func LookTool(name, install string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	for _, d := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(d, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &notInstalled{fmt.Sprintf("required server %q not found on PATH or in %s: %s", name, strings.Join(dirs, ", "), install)}
}

// start runs cmd (its output going to logName in dir) and waits until
// addr accepts connections, or the process exits, or timeout passes.
func start(cmd *exec.Cmd, dir, logName, addr, url string, timeout time.Duration) (*Server, error) {
	logf, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy of the descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	s := &Server{URL: url, Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { s.waitErr = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close() // a probe: nothing was sent
			return s, nil
		}
		select {
		case <-s.done:
			out, _ := os.ReadFile(filepath.Join(dir, logName))
			return nil, fmt.Errorf("%s exited before listening on %s (%v): %s", filepath.Base(cmd.Path), addr, s.waitErr, tail(out))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.Stop()
			out, _ := os.ReadFile(filepath.Join(dir, logName))
			return nil, fmt.Errorf("%s did not listen on %s within %v: %s", filepath.Base(cmd.Path), addr, timeout, tail(out))
		}
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	var ee *exec.ExitError
	if s.waitErr != nil && !errors.As(s.waitErr, &ee) {
		return s.waitErr
	}
	return nil
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 800 {
		s = "…" + s[len(s)-800:]
	}
	return s
}

// Listen listens on a free port of 127.0.0.1, for servers a test runs in
// its own process (proxies in front of a real server).
func Listen() (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	return l, nil
}

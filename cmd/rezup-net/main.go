// Command rezup-net is rezup's helper for http(s):// and s3:// caches.
// rezup runs it, from beside its own executable or from PATH, only when
// it reaches such a cache, and talks to it over its stdin and stdout
// (package cas/backend/helper), so that rezup itself links no HTTP, TLS
// or S3 code and a launch never pays for them. It is released with
// rezup and must be of the same version; it is not meant to be run by
// hand.
//
//	rezup-net serve LOCATION   serve the cache at LOCATION on stdin and stdout
//	rezup-net --version        rezup-net VERSION (commit …, go…, os/arch)
//
// It reads the variables the backends read (REZUP_CACHE_TOKEN, NETRC,
// HOME, the AWS_* variables, SSL_CERT_FILE) from its environment, which
// rezup sets to its own. It exits when its stdin ends, at once on SIGTERM,
// and ignores SIGINT: a Ctrl+C in a terminal reaches rezup too, which
// cancels what it asked for and then closes the helper's stdin.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/backend/helper"
	"github.com/rezup/rezup/cas/backend/httpbackend"
	"github.com/rezup/rezup/cas/backend/s3backend"
	"github.com/rezup/rezup/internal/selfupdate"
)

// version and commit are stamped by scripts/release as rezup's are
// (-ldflags "-X main.version=… -X main.commit=…").
var (
	version = ""
	commit  = ""
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	build := selfupdate.CurrentBuild(version, commit)
	switch {
	case len(args) == 1 && (args[0] == "--version" || args[0] == "-V"):
		fmt.Fprintln(stdout, build.VersionLine("rezup-net", runtime.Version(), runtime.GOOS, runtime.GOARCH))
		return 0
	case len(args) == 2 && args[0] == "serve":
		// Drained, not ignored: an ignored signal would be ignored by
		// what the helper runs too (a credential_process).
		signal.Notify(make(chan os.Signal, 1), os.Interrupt)
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := serve(ctx, args[1], build.Version, stdin, stdout, getenv); err != nil {
			fmt.Fprintf(stderr, "rezup-net: error: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "rezup-net: error: unknown arguments %q\n", args)
	fmt.Fprintln(stderr, "rezup-net: hint: rezup runs rezup-net itself for http(s):// and s3:// caches (rezup-net serve LOCATION); install it beside rezup, from the same release")
	return 2
}

// serve serves the cache at location until stdin ends.
func serve(ctx context.Context, location, version string, stdin io.Reader, stdout io.Writer, getenv func(string) string) error {
	schemes := backend.NewRegistry()
	schemes.Register("http", httpbackend.Opener(getenv))
	schemes.Register("https", httpbackend.Opener(getenv))
	schemes.Register("s3", s3backend.Opener(getenv))
	return helper.Serve(ctx, stdin, stdout, helper.ServeOptions{
		Version: version,
		Open:    func() (backend.Backend, error) { return schemes.Open(location) },
	})
}

package rezup

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/rezup/rezup"

// TestImportsPointDown keeps the package table of ARCHITECTURE.md: each
// package imports only the rezup packages listed for it, and the bottom
// packages only the third-party modules listed for them. internal/pyid, the
// interpreter identity, imports nothing at all, so every package may
// import it: it is a leaf like a standard-library type.
func TestImportsPointDown(t *testing.T) {
	tests := []struct {
		pkg   string
		ours  []string
		third []string // nil: any
	}{
		{"recipe", []string{"internal/fsx", "internal/pyid"}, []string{"github.com/BurntSushi/toml"}},
		{"cas", []string{"internal/fsx", "internal/pyid"}, []string{"github.com/zeebo/blake3", "github.com/klauspost/", "golang.org/x/sys"}},
		{"cas/backend/httpbackend", []string{"cas/backend", "internal/fsx", "internal/pyid"}, []string{"github.com/zeebo/blake3", "github.com/klauspost/", "golang.org/x/sys"}},
		// minio-go and the modules it needs, nothing else.
		{"cas/backend/s3backend", []string{"cas/backend", "internal/fsx", "internal/pyid"}, []string{
			"github.com/minio/", "github.com/zeebo/blake3", "github.com/klauspost/", "golang.org/x/",
			"github.com/cespare/xxhash", "github.com/dustin/go-humanize", "github.com/google/uuid",
			"github.com/philhofer/fwd", "github.com/rs/xid", "github.com/tinylib/msgp", "github.com/zeebo/xxh3",
			"go.yaml.in/yaml/v3", "gopkg.in/ini.v1",
		}},
		// The client and server of a backend in another process: no
		// network code of its own.
		{"cas/backend/helper", []string{"cas/backend", "internal/fsx", "internal/pyid"}, []string{"golang.org/x/sys"}},
		{"cmd/rezup-net", []string{"cas/backend", "internal/fsx", "internal/pyid", "internal/selfupdate"}, nil},
		{"internal/fsx", nil, []string{"golang.org/x/sys"}},
		{"internal/envlist", nil, []string{}},
		{"internal/pyid", nil, []string{}},
		{"internal/pyenv", []string{"internal/fsx", "internal/pyid"}, nil},
		{"internal/pyout", nil, []string{}},
		{"internal/pyresolve", []string{"internal/fsx", "internal/pyid", "internal/pyout"}, []string{"golang.org/x/sys"}},
		{"materialize", []string{"recipe", "cas", "internal/envlist", "internal/fsx", "internal/pyenv", "internal/pyid", "internal/pyresolve", "internal/pyout"}, nil},
		{"launch", []string{"recipe", "materialize", "cas", "internal/envlist", "internal/fsx", "internal/pyenv", "internal/pyid", "internal/pyresolve", "internal/pyout"}, nil},
		{"gc", []string{"materialize", "cas", "recipe", "internal/envlist", "internal/fsx", "internal/pyenv", "internal/pyid", "internal/pyresolve", "internal/pyout"}, nil},
		{"internal/testkit", []string{"internal/fsx", "internal/pyid"}, nil},
		{"internal/selfupdate", []string{"internal/fsx", "internal/pyid"}, nil},
	}
	for _, tt := range tests {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", module+"/"+tt.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", tt.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ours := strings.CutPrefix(dep, module+"/")
			switch {
			case ours && rel == tt.pkg:
			case ours && !hasPrefix(tt.ours, rel):
				t.Errorf("%s imports %s; ARCHITECTURE.md allows only %v", tt.pkg, rel, tt.ours)
			case !ours && tt.third != nil && !hasPrefix(tt.third, dep):
				t.Errorf("%s depends on %s; allowed: %v", tt.pkg, dep, tt.third)
			}
		}
	}
}

func hasPrefix(list []string, s string) bool {
	for _, p := range list {
		if s == p || strings.HasPrefix(s, p) && (strings.HasSuffix(p, "/") || strings.HasPrefix(s[len(p):], "/")) {
			return true
		}
	}
	return false
}

// TestLaunchLinksNoNetworkCode keeps the HTTP, TLS and S3 code out of the
// rezup binary, on every platform it is released for: every start pays
// for what a binary links (package init, page faults), and only a launch
// that misses its build needs a network cache, through rezup-net.
func TestLaunchLinksNoNetworkCode(t *testing.T) {
	forbidden := []string{"net/http", "crypto/tls", "crypto/x509", "github.com/minio/"}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		cmd := exec.Command("go", "list", "-deps", module+"/cmd/rezup")
		cmd.Env = append(os.Environ(), "GOOS="+goos)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list (GOOS=%s): %v\n%s", goos, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if hasPrefix(forbidden, dep) {
				t.Errorf("GOOS=%s: cmd/rezup links %s: network code belongs in cmd/rezup-net (cas/backend/helper)", goos, dep)
			}
		}
	}
}

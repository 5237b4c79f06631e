package rezup

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/rezup/rezup"

// layers is the package table of ARCHITECTURE.md: for each package, the
// packages of rezup it may depend on (directly or not), and, where it is
// bounded, the third-party modules. internal/pyid, the interpreter
// identity, imports nothing at all, so every package may depend on it: it
// is a leaf like a standard-library type.
var layers = map[string]struct {
	ours  []string
	third []string // nil: any
}{
	"recipe":                  {[]string{"internal/pyid"}, []string{"github.com/BurntSushi/toml"}},
	"cas":                     {nil, []string{"github.com/zeebo/blake3", "github.com/klauspost/cpuid", "golang.org/x/sys"}},
	"cas/archive":             {[]string{"cas", "internal/fsx"}, []string{"github.com/zeebo/blake3", "github.com/klauspost/", "golang.org/x/sys"}},
	"cas/objects":             {[]string{"cas", "internal/fsx"}, []string{"github.com/zeebo/blake3", "github.com/klauspost/cpuid", "golang.org/x/sys"}},
	"cas/files":               {[]string{"cas", "cas/archive", "internal/fsx"}, []string{"github.com/zeebo/blake3", "github.com/klauspost/", "golang.org/x/sys"}},
	"cas/backend":             {[]string{"internal/fsx"}, []string{"golang.org/x/sys"}},
	"cas/backend/httpbackend": {[]string{"cas/backend", "internal/fsx"}, []string{"golang.org/x/sys", "golang.org/x/net"}},
	// minio-go and the modules it needs, nothing else.
	"cas/backend/s3backend": {[]string{"cas/backend", "internal/fsx"}, []string{
		"github.com/minio/", "github.com/klauspost/", "golang.org/x/",
		"github.com/cespare/xxhash", "github.com/dustin/go-humanize", "github.com/google/uuid",
		"github.com/philhofer/fwd", "github.com/rs/xid", "github.com/tinylib/msgp", "github.com/zeebo/xxh3",
		"go.yaml.in/yaml/v3", "gopkg.in/ini.v1",
	}},
	// The client and server of a backend in another process: no network
	// code of its own.
	"cas/backend/helper":      {[]string{"cas/backend", "internal/fsx"}, []string{"golang.org/x/sys"}},
	"cmd/rezup-net":           {[]string{"cas/backend", "cas/backend/httpbackend", "cas/backend/s3backend", "cas/backend/helper", "internal/fsx", "internal/pyid", "internal/proc", "internal/selfupdate"}, nil},
	"cas/backend/backendtest": {[]string{"cas/backend", "internal/fsx"}, nil},
	"cas/cache":               {[]string{"cas", "cas/archive", "cas/backend", "cas/files", "internal/fsx", "internal/pyid"}, nil},
	"cas/internal/treetest":   {[]string{"internal/fsx"}, nil},
	"internal/fsx":            {nil, []string{"golang.org/x/sys"}},
	"internal/envlist":        {nil, []string{}},
	"internal/oneproc":        {nil, []string{}},
	"internal/pyid":           {nil, []string{}},
	"internal/pyout":          {nil, []string{}},
	"internal/proc":           {nil, []string{"golang.org/x/sys"}},
	"internal/runroots":       {nil, []string{"golang.org/x/sys"}},
	"internal/pyenv":          {[]string{"internal/envlist", "internal/fsx", "internal/pyid", "internal/proc", "internal/pyout"}, nil},
	"internal/pyresolve":      {[]string{"internal/fsx", "internal/pyid", "internal/pyout", "internal/proc"}, []string{"golang.org/x/sys"}},
	"internal/selfupdate":     {[]string{"internal/fsx", "internal/pyid", "internal/proc"}, nil},
	"materialize": {[]string{"recipe", "cas", "cas/archive", "cas/backend", "cas/cache", "cas/files", "cas/objects", "internal/envlist",
		"internal/fsx", "internal/pyenv", "internal/pyid", "internal/pyresolve", "internal/pyout", "internal/proc", "internal/runroots"}, nil},
	"launch": {[]string{"recipe", "internal/envlist", "internal/fsx", "internal/pyid", "internal/proc"}, nil},
	"gc": {[]string{"materialize", "recipe", "cas", "cas/archive", "cas/backend", "cas/cache", "cas/files", "cas/objects", "internal/envlist",
		"internal/fsx", "internal/pyenv", "internal/pyid", "internal/pyresolve", "internal/pyout", "internal/proc", "internal/runroots"}, nil},
	"internal/testkit": {[]string{"internal/fsx", "internal/pyid"}, nil},
	"internal/testsrv": {[]string{"internal/fsx", "internal/pyid"}, nil},
	// Everything but the test packages: rezup never imports them.
	"cmd/rezup": {[]string{"recipe", "cas", "cas/archive", "cas/backend", "cas/backend/helper",
		"cas/cache", "cas/files", "cas/objects", "internal/envlist", "internal/fsx", "internal/pyenv", "internal/pyid", "internal/pyout",
		"internal/pyresolve", "internal/selfupdate", "internal/proc", "internal/runroots", "internal/oneproc", "materialize", "launch", "gc"}, nil},
	"cmd/rezup-bench": {nil, nil}, // any
	"":                {nil, nil}, // this package: the architecture tests
}

// TestImportsPointDown keeps the package table of ARCHITECTURE.md: each
// package depends only on the rezup packages listed for it, and the bottom
// packages only on the third-party modules listed for them; and every
// package of the module is in the table.
func TestImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p, module), "/")
		if _, ok := layers[rel]; !ok {
			t.Errorf("package %s is not in the table of arch_test.go (nor, likely, of ARCHITECTURE.md)", p)
		}
	}
	for pkg, tt := range layers {
		if pkg == "" || pkg == "cmd/rezup-bench" {
			continue
		}
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", module+"/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ours := strings.CutPrefix(dep, module+"/")
			switch {
			case ours && rel == pkg:
			case ours && !slices.Contains(tt.ours, rel):
				t.Errorf("%s depends on %s; ARCHITECTURE.md allows only %v", pkg, rel, tt.ours)
			case !ours && tt.third != nil && !hasPrefix(tt.third, dep):
				t.Errorf("%s depends on %s; allowed: %v", pkg, dep, tt.third)
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

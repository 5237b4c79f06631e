//go:build unix

package pyenv

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

var realPython struct {
	once sync.Once
	py   Interpreter
	err  error
}

// probedPython is the real interpreter behind testkit.Python (which may be
// a pyenv shim), probed once per process.
func probedPython(t *testing.T) Interpreter {
	t.Helper()
	exe := testkit.Python(t)
	realPython.once.Do(func() {
		realPython.py, realPython.err = Probe(context.Background(), exe, nil)
	})
	if realPython.err != nil {
		t.Fatal(realPython.err)
	}
	return realPython.py
}

// TestShebangRuns executes a script under each header form: a short path,
// a path longer than 127 bytes, a path with a blank and one that needs sh
// escaping, each a symlink to the real python.
func TestShebangRuns(t *testing.T) {
	py := probedPython(t)
	root := t.TempDir()
	for _, tt := range []struct {
		name, dir string
		sh        bool
	}{
		{"short", "s", false},
		{"long", strings.Repeat("a-long-directory-name/", 6), true},
		{"space", "with space/bin", true},
		{"quotes", `it's "$HOME" and \back`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(root, tt.dir)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(dir, "python3")
			if err := os.Symlink(py.Executable, link); err != nil {
				t.Fatal(err)
			}
			header := Shebang(link, []string{"-E"})
			if got := strings.HasPrefix(header, "#!/bin/sh\n"); got != tt.sh {
				t.Fatalf("header %q: /bin/sh form %v, want %v", header, got, tt.sh)
			}
			script := filepath.Join(dir, "script")
			body := "import json, sys\nprint(json.dumps([sys.flags.ignore_environment, sys.executable, sys.argv[1:]]))\n"
			if err := os.WriteFile(script, []byte(header+body), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(script, "a b", `"$c"`, "")
			cmd.Env = append(os.Environ(), "PYTHONPATH=/nonexistent")
			// Stdout only: Python 3.12+ warns on stderr about the \$ that
			// sh needs in the "quotes" case.
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out)
			}
			var got []any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			if got[0] != float64(1) {
				t.Errorf("ignore_environment = %v, want 1 (-E lost)", got[0])
			}
			if got[1] != link {
				t.Errorf("sys.executable = %v, want %s", got[1], link)
			}
			if args, _ := json.Marshal(got[2]); string(args) != `["a b","\"$c\"",""]` {
				t.Errorf("argv = %s", args)
			}
		})
	}
}

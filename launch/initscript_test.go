//go:build unix

package launch

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/envlist"
)

func writeScript(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunInit(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 is needed by this test: %v", err)
	}
	base := []string{pathEnv(), "HOME=/home/u", "KEEP=kept", "DROP=dropped", "SHLVL=1"}
	tests := []struct {
		name, file, text string
	}{
		{"python", "init.py", `import os, sys
os.environ["FROM_INIT"] = "yes " + os.path.basename(__file__) + " " + __name__
os.environ["MULTI"] = "a\nb=c 'q'"
del os.environ["DROP"]
print("to stdout")
sys.exit(0)
`},
		{"sh", "init.sh", `FROM_INIT="yes init.sh __main__"; export FROM_INIT
MULTI="a
b=c 'q'"; export MULTI
unset DROP
echo to stdout
`},
		{"sh that exits", "init.sh", `export FROM_INIT="yes init.sh __main__"
export MULTI="a
b=c 'q'"
unset DROP
echo to stdout
exit 0
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			env, err := RunInit(context.Background(), writeScript(t, tt.file, tt.text), base, &out, &errb)
			if err != nil {
				t.Fatalf("%v\nstderr: %s", err, errb.String())
			}
			want := map[string]string{"FROM_INIT": "yes " + tt.file + " __main__", "MULTI": "a\nb=c 'q'", "KEEP": "kept", "HOME": "/home/u", "SHLVL": "1"}
			for k, v := range want {
				if got, _ := envlist.Lookup(env, k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, k := range []string{"DROP", "_", "PWD", "OLDPWD"} {
				if v, ok := envlist.Lookup(env, k); ok {
					t.Errorf("%s = %q is set, want it unset", k, v)
				}
			}
			if !strings.Contains(out.String(), "to stdout") {
				t.Errorf("the script's stdout went elsewhere: %q", out.String())
			}
		})
	}
}

func TestRunInitFails(t *testing.T) {
	base := []string{pathEnv()}
	tests := []struct {
		name, file, text, want string
	}{
		{"python raises", "init.py", "raise RuntimeError('bad site')\n", "bad site"},
		{"python exits", "init.py", "import sys\nsys.stderr.write('no license\\n')\nsys.exit(4)\n", "no license"},
		{"sh fails", "init.sh", "echo 'no mount' >&2\nfalse\n", "no mount"},
		{"sh exits", "init.sh", "echo 'no mount' >&2\nexit 3\n", "no mount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errb strings.Builder
			_, err := RunInit(context.Background(), writeScript(t, tt.file, tt.text), base, &errb, &errb)
			if !errors.Is(err, ErrInitScript) {
				t.Fatalf("err = %v, want ErrInitScript", err)
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr %q does not show %q", errb.String(), tt.want)
			}
		})
	}
	if _, err := RunInit(context.Background(), writeScript(t, "init.bat", "x"), base, nil, nil); err == nil || !strings.Contains(err.Error(), ".py or .sh") {
		t.Errorf("a .bat script: err = %v", err)
	}
	if _, err := RunInit(context.Background(), filepath.Join(t.TempDir(), "none.py"), base, nil, nil); err == nil || !strings.Contains(err.Error(), "none.py") {
		t.Errorf("a missing script: err = %v", err)
	}
}

package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// cobra/doc (and the Markdown renderer it brings) is only in the build
// scripts/release makes to write the man pages, never in rezup itself.
func TestManPagesStayOutOfRezup(t *testing.T) {
	testkit.RequireTool(t, "go")
	deps := func(tags ...string) string {
		args := append([]string{"list", "-deps"}, tags...)
		out, err := exec.Command("go", append(args, "github.com/rezup/rezup/cmd/rezup")...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		return string(out)
	}
	const doc = "github.com/spf13/cobra/doc"
	if strings.Contains(deps(), doc) {
		t.Errorf("rezup links %s; keep it behind the rezup_mangen build tag", doc)
	}
	if !strings.Contains(deps("-tags", "rezup_mangen"), doc) {
		t.Errorf("the rezup_mangen build does not link %s: scripts/release cannot write the man pages", doc)
	}
}

// A bad command line is refused in one line, before anything is built.
func TestReleaseScriptRefusesBadArguments(t *testing.T) {
	testkit.RequireTool(t, "bash")
	script, err := filepath.Abs("../../scripts/release")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{nil, "release: error: no version given"},
		{[]string{"1.x"}, `release: error: version "1.x" is not like 1.2.3`},
		{[]string{"1.2"}, `release: error: version "1.2" is not like 1.2.3`},
		{[]string{"1.2.3+meta"}, `release: error: version "1.2.3+meta" is not like 1.2.3`},
		{[]string{"1.2.3", "linux"}, `release: error: target "linux" is not GOOS/GOARCH`},
	}
	for _, tt := range tests {
		cmd := exec.Command("bash", append([]string{script}, tt.args...)...)
		out, err := cmd.CombinedOutput()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if code != 2 || !strings.HasPrefix(lines[0], tt.want) || len(lines) != 2 || !strings.HasPrefix(lines[1], "release: hint: ") {
			t.Errorf("release %v: exit %d, printed\n%s\nwant exit 2, %q… and a hint", tt.args, code, out, tt.want)
		}
	}
}

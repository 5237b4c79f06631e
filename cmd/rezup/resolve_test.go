package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	s := builtUser(t, "")

	t.Run("sh", func(t *testing.T) {
		res := s.MustRun("resolve", "--", "foo-1", "bar")
		file := filepath.Join(t.TempDir(), "ctx.sh")
		if err := os.WriteFile(file, []byte(res.Stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("sh", "-c", `. "$1" && printf '%s|%s|%s' "$REZ_USED_REQUEST" "$REZ_RESOLVE" "$REZUP_CONTAINER"`, "sh", file).CombinedOutput()
		if err != nil || string(out) != "foo-1 bar|foo-1-1.0 bar-1.0|.main" {
			t.Errorf("sourced: %v %q\nfrom:\n%s", err, out, res.Stdout)
		}
	})

	t.Run("json", func(t *testing.T) {
		res := s.MustRun("resolve", ".main", "--json", "--", "foo")
		var vars map[string]string
		if err := json.Unmarshal([]byte(res.Stdout), &vars); err != nil {
			t.Fatalf("%v\n%s", err, res.Stdout)
		}
		if vars["REZ_USED_REQUEST"] != "foo" || vars["REZ_USED_VERSION"] != testkit.RezVersion || vars["REZUP_CONTAINER"] != ".main" {
			t.Errorf("resolved environ = %v", vars)
		}
	})

	t.Run("failed resolve", func(t *testing.T) {
		res := s.Run("resolve", "--", "foo", "missing_pkg")
		if res.Code != 1 || res.Stdout != "" {
			t.Fatalf("exit %d, stdout %q\n%s", res.Code, res.Stdout, res.Stderr)
		}
		if !strings.Contains(res.Stderr, "package family not found: missing_pkg") || !strings.Contains(res.Stderr, "rezup: hint:") {
			t.Errorf("stderr:\n%s", res.Stderr)
		}
	})

	t.Run("exception: no traceback without -D", func(t *testing.T) {
		const exception = "rez.resolved_context.PackageFamilyNotFoundError: package family not found: broken_pkg"
		res := s.Run("resolve", "--", "foo", "broken_pkg")
		if res.Code != 1 || res.Stdout != "" {
			t.Fatalf("exit %d, stdout %q\n%s", res.Code, res.Stdout, res.Stderr)
		}
		lines := strings.Split(strings.TrimSuffix(res.Stderr, "\n"), "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "rezup: error: rez could not resolve") || !strings.HasSuffix(lines[0], exception) ||
			!strings.HasPrefix(lines[1], "rezup: hint: ") {
			t.Fatalf("want the error line with the exception, then the hint; stderr:\n%s", res.Stderr)
		}
		if strings.Contains(res.Stderr, "Traceback") || strings.Contains(res.Stderr, "File \"") || strings.Count(res.Stderr, "PackageFamilyNotFoundError") != 1 {
			t.Errorf("a traceback, or the exception twice, without -D:\n%s", res.Stderr)
		}
		if !strings.Contains(res.Stderr, "more lines; run with -D to see all)") {
			t.Errorf("no pointer to -D:\n%s", res.Stderr)
		}

		res = s.Run("-D", "resolve", "--", "foo", "broken_pkg")
		if res.Code != 1 {
			t.Fatalf("-D: exit %d\n%s", res.Code, res.Stderr)
		}
		after, ok := strings.CutPrefix(res.Stderr[strings.Index(res.Stderr, "rezup: error:"):], "rezup: error: ")
		if !ok || !strings.Contains(after, "\n    Traceback (most recent call last):\n") || !strings.Contains(after, "in _load_family") ||
			!strings.Contains(after, "\n    "+exception+"\n") {
			t.Errorf("-D: want the whole traceback, indented, after the error:\n%s", res.Stderr)
		}
	})

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{{"resolve"}, {"resolve", ".main"}, {"resolve", "--"}, {"resolve", "a", "b", "--", "x"}} {
			if res := s.Run(args...); res.Code != 2 {
				t.Errorf("%v: exit %d, want 2\n%s", args, res.Code, res.Stderr)
			}
		}
		if res := s.Run("resolve", "nosuch", "--", "x"); res.Code != 1 || !strings.Contains(res.Stderr, "rezup add nosuch") {
			t.Errorf("unknown container: exit %d\n%s", res.Code, res.Stderr)
		}
	})
}

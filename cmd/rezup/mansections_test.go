package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// The README's tables are what the man page says: every variable rezup
// reads is in the environment table, every exit code in the other, and
// they render as the ENVIRONMENT and EXIT STATUS sections that man shows.
func TestManSectionsFromREADME(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)

	env, err := readmeTable(readme, "Environment variables")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	for _, r := range env {
		for _, m := range name.FindAllStringSubmatch(r[0], -1) {
			documented[m[1]] = true
		}
	}
	for _, v := range variablesRead(t) {
		if !documented[v] {
			t.Errorf("rezup reads $%s, which README's \"Environment variables\" table does not name (nor will the man page)", v)
		}
	}

	codes, err := readmeTable(readme, "Exit codes")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range codes {
		got = append(got, r[0])
	}
	for _, want := range []string{"0", "1", "2", "126", "127", "130, 143"} {
		if !slices.Contains(got, want) {
			t.Errorf("README's exit codes table has no row %q: %q", want, got)
		}
	}

	sections, err := manSections(readme)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".SH ENVIRONMENT\n", ".SH EXIT STATUS\n", `\fBREZUP_CACHE_IDLE\fR`, "\n.TP\n126\n"} {
		if !strings.Contains(sections, want) {
			t.Errorf("the sections lack %q:\n%s", want, sections)
		}
	}
	for _, bad := range []string{"](#", "`", "\n." + "SH SEE"} {
		if strings.Contains(sections, bad) {
			t.Errorf("the sections hold Markdown or stray requests (%q):\n%s", bad, sections)
		}
	}

	// man renders them in a page, before SEE ALSO, as a user reads it.
	man := testkit.RequireTool(t, "man")
	page := ".TH REZUP 1\n.SH NAME\nrezup \\- launch Rez\n.SH SEE ALSO\n\\fBrezup-use(1)\\fP\n"
	file := filepath.Join(t.TempDir(), "rezup.1")
	if err := os.WriteFile(file, []byte(insertManSections(page, sections)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(man, "-l", file)
	cmd.Env = append(os.Environ(), "MANPAGER=cat", "PAGER=cat", "MANWIDTH=200", "LC_ALL=C.UTF-8")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("man -l: %v", err)
	}
	text := string(out)
	env1, exit1, see := strings.Index(text, "ENVIRONMENT"), strings.Index(text, "EXIT STATUS"), strings.Index(text, "SEE ALSO")
	if env1 < 0 || exit1 < env1 || see < exit1 {
		t.Fatalf("man shows no ENVIRONMENT then EXIT STATUS before SEE ALSO:\n%s", text)
	}
	for _, want := range []string{"REZUP_CACHE_LEASE_WAIT", "AWS_ENDPOINT_URL_S3", "interrupted by SIGINT", "[root] local"} {
		if !strings.Contains(text, want) {
			t.Errorf("man's page lacks %q:\n%s", want, text)
		}
	}
}

// variablesRead returns the environment variables rezup's own code names
// (REZUP_*, and those of the caches' credentials and the user's
// directories), from the module's non-test sources outside the test kits
// and benchmarks.
func variablesRead(t *testing.T) []string {
	t.Helper()
	lit := regexp.MustCompile(`"((?:REZUP|AWS|XDG)_[A-Z0-9_]+|NETRC)"`)
	seen := map[string]bool{}
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "testkit", "testsrv", "rezup-bench", "testdata", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllStringSubmatch(string(b), -1) {
			seen[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !seen["REZUP_CACHE"] || !seen["AWS_REGION"] {
		t.Fatalf("the scan found none of the variables it must: %v", seen)
	}
	var vars []string
	for v := range seen {
		vars = append(vars, v)
	}
	slices.Sort(vars)
	return vars
}

package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// runWithStdin runs the session's binary with stdin read from a pipe
// holding input: not a terminal, as in a script or a farm job.
func runWithStdin(t *testing.T, s *testkit.Session, input string, args ...string) testkit.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.RunTimeout)
	defer cancel()
	cmd := s.Command(ctx, args...)
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run() // the exit code is the result; a binary that cannot run has code -1
	return testkit.Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
}

// With no terminal on stdin, `add` (without --skip-use) and a bare `use`
// run the container's shell on it, as the Python rezup does: a pipe or a
// heredoc is a script, run in the container, and its exit status is
// rezup's; an empty stdin ends it at once, with 0.
func TestPipedStdinIsAScript(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	s.WriteFile("rezup.dev.toml", testkit.RecipeTOML(wh, ""))
	s.Env["REZUP_DEFAULT_SHELL"] = "/bin/sh"
	marker := filepath.Join(s.Home, "shell-ran")

	for _, args := range [][]string{{"add", "dev"}, {"use", "dev"}, {"use", "dev", "--local"}} {
		os.Remove(marker)
		res := runWithStdin(t, s, "echo piped\necho \"$REZUP_CONTAINER\" > "+marker+"\nexit 3\n", args...)
		if res.Code != 3 || res.Stdout != "piped\n" {
			t.Errorf("%v with a script on stdin: exit %d, stdout %q\n%s", args, res.Code, res.Stdout, res.Stderr)
		}
		if b, err := os.ReadFile(marker); err != nil || string(b) != "dev\n" {
			t.Errorf("%v: the script did not run in the container: %q, %v", args, b, err)
		}
		res = runWithStdin(t, s, "", args...)
		if res.Code != 0 || res.Stdout != "" {
			t.Errorf("%v with an empty stdin: exit %d, stdout %q\n%s", args, res.Code, res.Stdout, res.Stderr)
		}
	}
	if revs := revisions(t, filepath.Join(s.Home, ".rezup"), "dev"); len(revs) != 2 {
		t.Errorf("revisions of dev: %v, want the two adds made", revs)
	}
	// A command still runs, with stdin passed on.
	res := runWithStdin(t, s, "hello\n", "use", "dev", "--do", "cat > "+marker)
	if b, err := os.ReadFile(marker); res.Code != 0 || string(b) != "hello\n" {
		t.Errorf("use --do with stdin: exit %d, %q, %v\n%s", res.Code, b, err, res.Stderr)
	}
}

// env and resolve only read a revision: before there is one they say so
// and how to make it (exit 1), and never build, not even .main, which a
// bare `rezup` creates.
func TestEnvAndResolveBeforeAnyRevision(t *testing.T) {
	t.Parallel()
	s, wh := newUser(t)
	// Recipes that would build: a build would succeed, so only the
	// command's choice keeps it from happening.
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.WriteFile("rezup.dev.toml", testkit.RecipeTOML(wh, ""))
	root := filepath.Join(s.Home, ".rezup")

	for _, tc := range []struct {
		args      []string
		name, add string
	}{
		{[]string{"env"}, ".main", "rezup add"},
		{[]string{"env", "dev", "--format", "json"}, "dev", "rezup add dev"},
		{[]string{"env", "dev", "--local"}, "dev", "rezup add dev"},
		{[]string{"resolve", "--", "foo"}, ".main", "rezup add"},
		{[]string{"resolve", "dev", "--json", "--", "foo"}, "dev", "rezup add dev"},
	} {
		res := s.Run(tc.args...)
		wantErr := "rezup: error: no revision of " + tc.name + " in " + root + "\n"
		wantHint := "rezup: hint: run `" + tc.add + "` to make one\n"
		if res.Code != 1 || res.Stderr != wantErr+wantHint || res.Stdout != "" {
			t.Errorf("%v: exit %d\nstdout: %q\nstderr: %q\nwant stderr: %q", tc.args, res.Code, res.Stdout, res.Stderr, wantErr+wantHint)
		}
		if _, err := os.Stat(root); !os.IsNotExist(err) {
			t.Fatalf("%v made the root %s (%v): it started a build", tc.args, root, err)
		}
	}

	// With a remote root, both roots were looked in; --local looks in
	// the local one only.
	remote := filepath.Join(t.TempDir(), "remote")
	s.Env["REZUP_ROOT_REMOTE"] = remote
	if res := s.Run("env", "dev"); res.Code != 1 || !strings.Contains(res.Stderr, "rezup: error: no revision of dev in "+root+" or in the remote root "+remote+"\n") {
		t.Errorf("env dev with a remote root: exit %d\n%s", res.Code, res.Stderr)
	}
	if res := s.Run("env", "dev", "--local"); res.Code != 1 || !strings.Contains(res.Stderr, "rezup: error: no revision of dev in "+root+"\n") {
		t.Errorf("env dev --local with a remote root: exit %d\n%s", res.Code, res.Stderr)
	}
	delete(s.Env, "REZUP_ROOT_REMOTE")

	// A container without a recipe: the hint says add writes one.
	res := s.Run("env", "nope")
	if res.Code != 1 || !strings.Contains(res.Stderr, "no revision of nope in "+root+", and no recipe "+filepath.Join(s.Home, "rezup.nope.toml")) ||
		!strings.Contains(res.Stderr, "rezup: hint: run `rezup add nope` to make one (it writes the default recipe first)") {
		t.Errorf("env nope: exit %d\n%s", res.Code, res.Stderr)
	}
}

// tree lists every path under dir, relative to it; the unpacked pip that
// a resolve keeps in .tmp is listed as its directory alone.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if os.IsNotExist(err) && p == dir {
			return filepath.SkipAll
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		paths = append(paths, filepath.ToSlash(rel))
		if rel == filepath.Join(".tmp", "pip") {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// A first build that fails (nothing satisfies a requirement, no index)
// leaves nothing in the root: a root it created is gone, and a root that
// was there keeps what it had, no more.
func TestFailedFirstBuildLeavesNothing(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	bad := "[pip]\noptions = [\"--no-index\", \"--find-links\", \"" + filepath.ToSlash(wh) + "\"]\n\n[rez]\nurl = \"nosuchpkg==1\"\n"
	s.WriteFile("rezup.toml", bad)
	s.WriteFile("rezup.bad.toml", bad)

	for _, args := range [][]string{
		{"add", "bad", "--skip-use"},
		{"add", "bad"},
		{"add", "bad", "--remote"}, // no remote root: refused before anything
		{},                         // bare rezup: creates .main on first use
		{"use", "--", "true"},
	} {
		res := s.Run(args...)
		if res.Code == 0 {
			t.Fatalf("%v succeeded with a requirement nothing satisfies:\n%s", args, res.Stderr)
		}
		if got := tree(t, root); len(got) != 0 {
			t.Errorf("%v (exit %d) left in a root that was not there: %v\n%s", args, res.Code, got, res.Stderr)
		}
	}

	// A root in use: a failed first build of another container changes
	// nothing in it.
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.MustRun("add", "--skip-use")
	before := tree(t, root)
	for _, want := range []string{".store", ".tmp", ".main"} {
		if !slices.Contains(before, want) {
			t.Fatalf("the built root has no %s: %v", want, before)
		}
	}
	res := s.Run("add", "bad", "--skip-use")
	if res.Code != 1 {
		t.Fatalf("add bad: exit %d\n%s", res.Code, res.Stderr)
	}
	if after := tree(t, root); !slices.Equal(before, after) {
		t.Errorf("a failed add changed the root:\nbefore %v\nafter  %v", before, after)
	}
}

// In a fresh HOME with only ~/rezup.toml pointing at a wheel directory,
// `rezup add dev -s` builds offline: the default recipe it writes for dev
// carries over .main's [pip] settings, and says so.
func TestNewContainerBuildsWhereMainDoes(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	res := s.MustRun("add", "dev", "-s")
	dev := filepath.Join(s.Home, "rezup.dev.toml")
	if !strings.Contains(res.Stderr, "wrote the default recipe to "+dev+" with pip.options of "+filepath.Join(s.Home, "rezup.toml")) {
		t.Errorf("add dev does not say what it carried over:\n%s", res.Stderr)
	}
	b, err := os.ReadFile(dev)
	if err != nil || !strings.Contains(string(b), wh) {
		t.Errorf("rezup.dev.toml does not name the wheels: %v\n%s", err, b)
	}
	if revs := revisions(t, filepath.Join(s.Home, ".rezup"), "dev"); len(revs) != 1 {
		t.Errorf("revisions of dev: %v", revs)
	}
}

// A mistyped --find-links shows pip's own warning about it, without -D.
func TestMistypedFindLinksShowsPipsWarning(t *testing.T) {
	t.Parallel()
	s, _ := newBuilder(t)
	wrong := filepath.Join(s.Home, "wheelz")
	s.WriteFile("rezup.toml", "[pip]\noptions = [\"--no-index\", \"--find-links\", \""+wrong+"\"]\n")
	res := s.Run("add", "-s")
	if res.Code != 1 || !strings.Contains(res.Stderr, "    WARNING: Location '"+wrong+"' is ignored") {
		t.Errorf("exit %d, want pip's warning about %s in the excerpt:\n%s", res.Code, wrong, res.Stderr)
	}
}

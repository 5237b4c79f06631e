package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/oneproc"
	"github.com/rezup/rezup/internal/testkit"
)

// TestMain gives the test binary its Ps back (see internal/oneproc), and
// the parallel tests as many slots as it has Ps, which is go test's
// default: the testing package takes -test.parallel's default from
// GOMAXPROCS when the test binary starts, after oneproc's init has put it
// on one P, so that without this the package's parallel tests ran one at
// a time. A -parallel given on the command line is kept.
func TestMain(m *testing.M) {
	oneproc.All()
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", strconv.Itoa(runtime.GOMAXPROCS(0))); err != nil {
			panic(err) // the testing package defines the flag
		}
	}
	os.Exit(testkit.Main(m))
}

// newUser is a new user with a fresh HOME, the rezup binary and a wheel
// house that pip installs from offline. A test that builds revisions with
// it takes newBuilder instead.
func newUser(t *testing.T) (*testkit.Session, string) {
	t.Helper()
	testkit.Python(t)
	bin := testkit.Binary(t, "github.com/rezup/rezup/cmd/rezup")
	return testkit.NewSession(t, bin), testkit.WheelHouse(t)
}

// newBuilder is newUser for a test that builds revisions with python and
// pip, through the binary or as the Python rezup did: seconds a build, so
// the fast tier (go test -short) leaves it to the library tests
// (testkit.SlowBuild).
func newBuilder(t *testing.T) (*testkit.Session, string) {
	t.Helper()
	testkit.SlowBuild(t)
	return newUser(t)
}

// storeEntries lists the built entries of a local root's store.
func storeEntries(t *testing.T, root string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, ".store"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range ents {
		if _, err := cas.ParseKey(e.Name()); err == nil && e.IsDir() { // not .store/objects
			keys = append(keys, e.Name())
		}
	}
	return keys
}

func revisions(t *testing.T, root, container string) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(root, container, "revisions"))
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names
}

func rezReport(t *testing.T, out string) testkit.RezReport {
	t.Helper()
	var r testkit.RezReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		t.Fatalf("rez output is not the fake rez's report: %v\n%s", err, out)
	}
	return r
}

// The first scenario, as a new user types it.
func TestNewUserSession(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, "[env]\nTEST_FROM_RECIPE = \"yes\"\n"))

	res := s.MustRun("add", "--skip-use")
	if !strings.Contains(res.Stderr, "built") {
		t.Errorf("add did not say it built:\n%s", res.Stderr)
	}
	keys := storeEntries(t, root)
	if len(keys) != 1 {
		t.Fatalf("store entries after add: %v", keys)
	}
	key := keys[0]
	if len(key) != 32 {
		t.Errorf("key %q is not 32 hex characters", key)
	}

	t.Run("production entry point", func(t *testing.T) {
		res := s.MustRun("use", "--", "rez-env", "a", "b")
		r := rezReport(t, res.Stdout)
		wantBin := filepath.Join(root, ".store", key, "venv", "rez", "bin", "rez")
		if r.Script != filepath.Join(wantBin, "rez-env") {
			t.Errorf("ran %s, want the production entry point in %s", r.Script, wantBin)
		}
		if strings.Join(r.Argv[1:], " ") != "a b" {
			t.Errorf("argv = %v", r.Argv)
		}
		if !r.IgnoreEnvironment {
			t.Error("entry point did not run python with -E")
		}
		if !r.ProductionMarker {
			t.Error(".rez_production_install is not beside the entry point")
		}
		if r.RezupContainer == nil || *r.RezupContainer != ".main" {
			t.Errorf("REZUP_CONTAINER = %v, want .main", r.RezupContainer)
		}
		if r.Path0 != wantBin {
			t.Errorf("PATH starts with %s, want %s", r.Path0, wantBin)
		}
		if r.Env["TEST_FROM_RECIPE"] != "yes" {
			t.Errorf("[env] not applied: %v", r.Env)
		}
		if r.Env["REZUP_USING_REMOTE"] != "" {
			t.Errorf("REZUP_USING_REMOTE = %q for a local revision", r.Env["REZUP_USING_REMOTE"])
		}
		marker, err := os.ReadFile(filepath.Join(wantBin, ".rez_production_install"))
		if err != nil || strings.TrimSpace(string(marker)) != testkit.RezVersion {
			t.Errorf(".rez_production_install = %q, %v; want %s", marker, err, testkit.RezVersion)
		}
		if _, err := os.Stat(filepath.Join(root, ".store", key, "venv", "rez", "bin", "rez-env")); !os.IsNotExist(err) {
			t.Errorf("the plain pip script bin/rez-env is still there (%v)", err)
		}
	})

	t.Run("exit code", func(t *testing.T) {
		if res := s.Run("use", "--", "sh", "-c", "exit 7"); res.Code != 7 {
			t.Fatalf("exit code %d, want 7\n%s", res.Code, res.Stderr)
		}
		if res := s.Run("use", "--do", "exit 5"); res.Code != 5 {
			t.Fatalf("--do exit code %d, want 5\n%s", res.Code, res.Stderr)
		}
	})

	t.Run("env-only change reuses the build", func(t *testing.T) {
		s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, "[env]\nTEST_FROM_RECIPE = \"changed\"\n"))
		res := s.MustRun("add", "--skip-use")
		if !strings.Contains(res.Stderr, "reused") {
			t.Errorf("add did not reuse:\n%s", res.Stderr)
		}
		if got := storeEntries(t, root); len(got) != 1 {
			t.Fatalf("an [env] change made a new store entry: %v", got)
		}
		if got := revisions(t, root, ".main"); len(got) != 2 {
			t.Fatalf("revisions = %v, want 2", got)
		}
		r := rezReport(t, s.MustRun("use", "--", "rez-env").Stdout)
		if r.Env["TEST_FROM_RECIPE"] != "changed" {
			t.Errorf("the latest revision's [env] is not used: %v", r.Env)
		}
	})

	t.Run("bad recipe changes nothing", func(t *testing.T) {
		before := testkit.RecipeTOML(wh, "")
		bad := "[rez]\nname = \"rez\"\nurl = \n"
		s.WriteFile("rezup.toml", bad)
		revsBefore := revisions(t, root, ".main")
		res := s.Run("add", "--skip-use")
		if res.Code != 2 {
			t.Fatalf("exit code %d, want 2\n%s", res.Code, res.Stderr)
		}
		if !strings.Contains(res.Stderr, "rezup.toml:3") {
			t.Errorf("error does not name line 3:\n%s", res.Stderr)
		}
		if strings.Count(strings.TrimSpace(res.Stderr), "\n") > 1 || strings.Contains(res.Stderr, "goroutine") {
			t.Errorf("error is not a short message:\n%s", res.Stderr)
		}
		if got := revisions(t, root, ".main"); len(got) != len(revsBefore) {
			t.Errorf("revisions changed: %v -> %v", revsBefore, got)
		}
		if got, _ := os.ReadFile(filepath.Join(s.Home, "rezup.toml")); string(got) != bad {
			t.Errorf("the recipe file was rewritten")
		}
		s.WriteFile("rezup.toml", before)
	})

	t.Run("bad names", func(t *testing.T) {
		for _, name := range []string{"../../etc", ".store", ".tmp-x", "a/b", "..", "-x"} {
			if res := s.Run("use", name); res.Code != 2 {
				t.Errorf("use %q: exit code %d, want 2\n%s", name, res.Code, res.Stderr)
			}
		}
	})

	t.Run("status", func(t *testing.T) {
		var c struct {
			Name      string `json:"name"`
			Count     int    `json:"revision_count"`
			Revisions []struct {
				Key        string `json:"key"`
				RezVersion string `json:"rez_version"`
				Bytes      int64  `json:"bytes"`
				Built      bool   `json:"built"`
			} `json:"revisions"`
		}
		if err := json.Unmarshal([]byte(s.MustRun("status", ".main", "--json").Stdout), &c); err != nil {
			t.Fatal(err)
		}
		if c.Count != 2 || len(c.Revisions) != 2 || c.Revisions[0].Key != key || c.Revisions[0].RezVersion != testkit.RezVersion || !c.Revisions[0].Built || c.Revisions[0].Bytes == 0 {
			t.Errorf("status .main --json = %+v", c)
		}
		table := s.MustRun("status").Stdout
		if !strings.Contains(table, ".main") || !strings.Contains(table, "REVISIONS") {
			t.Errorf("status table:\n%s", table)
		}
	})
}

func TestUnknownContainerSuggestsAdd(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t)
	res := s.Run("use", "foo", "--", "true")
	if res.Code == 0 || !strings.Contains(res.Stderr, "rezup add foo") {
		t.Fatalf("exit %d, stderr:\n%s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(filepath.Join(s.Home, ".rezup", "foo")); !os.IsNotExist(err) {
		t.Errorf("use of an unknown container created it")
	}
}

func TestNestedLaunchRefused(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t)
	s.Env["REZUP_CONTAINER"] = ".main"
	res := s.Run("use", "--", "true")
	want := "rezup: error: already inside rezup container .main\n" +
		"rezup: hint: exit that shell first: rezup does not launch a container inside another\n"
	if res.Code != 1 || res.Stderr != want {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and:\n%s", res.Code, res.Stderr, want)
	}
	// What changes a root is refused there too, in one line and a hint;
	// what only reads works.
	for _, cmd := range [][]string{{"add", "-s"}, {"drop", "x"}, {"gc"}, {"pull"}, {"pull", "--all"}} {
		res := s.Run(cmd...)
		if res.Code != 1 || !strings.HasPrefix(res.Stderr, "rezup: error: rezup "+cmd[0]+" changes a root, and this runs inside container .main") || strings.Count(res.Stderr, "\n") != 2 {
			t.Errorf("%v inside a container: exit %d\n%s", cmd, res.Code, res.Stderr)
		}
	}
	for _, cmd := range [][]string{{"status"}, {"--version"}, {"help"}} {
		if res := s.Run(cmd...); res.Code != 0 {
			t.Errorf("%v inside a container: exit %d\n%s", cmd, res.Code, res.Stderr)
		}
	}
}

func TestMissingPythonNamesIt(t *testing.T) {
	t.Parallel()
	s, wh := newUser(t)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, "")+"python = \"3.99\"\n")
	res := s.Run("add", "--skip-use")
	if res.Code == 0 || !strings.Contains(res.Stderr, "python3.99") {
		t.Fatalf("exit %d, stderr:\n%s", res.Code, res.Stderr)
	}
	if keys := storeEntries(t, filepath.Join(s.Home, ".rezup")); len(keys) != 0 {
		t.Errorf("store entries after a failed build: %v", keys)
	}
}

func TestFailedBuildLeavesNothing(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	recipe := strings.Replace(testkit.RecipeTOML(wh, ""), "rez=="+testkit.RezVersion, "rez==9.9.9", 1)
	s.WriteFile("rezup.toml", recipe)
	res := s.Run("add", "--skip-use")
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "rez==9.9.9") || !strings.Contains(res.Stderr, "No matching distribution") {
		t.Errorf("error does not show pip's output:\n%s", res.Stderr)
	}
	root := filepath.Join(s.Home, ".rezup")
	if keys := storeEntries(t, root); len(keys) != 0 {
		t.Errorf("store entries after a failed build: %v", keys)
	}
	if revs := revisions(t, root, ".main"); len(revs) != 0 {
		t.Errorf("revisions after a failed build: %v", revs)
	}
	// .tmp/pip is the unpacked bundled pip that resolves and seeds venvs,
	// kept for the next build: not a leftover.
	tmp, _ := os.ReadDir(filepath.Join(root, ".tmp"))
	for _, e := range tmp {
		if e.Name() != "pip" {
			t.Errorf("staging left behind: %s", e.Name())
		}
	}
	// Nor the lock file of the build: it is removed under the lock.
	store, _ := os.ReadDir(filepath.Join(root, ".store"))
	for _, e := range store {
		t.Errorf("left in the store: %s", e.Name())
	}
}

func TestConcurrentAddsBuildOnce(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	const n = 3
	var wg sync.WaitGroup
	results := make([]testkit.Result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.Run("add", "--skip-use")
		}()
	}
	wg.Wait()
	built := 0
	for _, r := range results {
		if r.Code != 0 {
			t.Fatalf("add failed:\n%s", r.Stderr)
		}
		built += strings.Count(r.Stderr, "rezup: built ")
	}
	if built != 1 {
		t.Errorf("%d builds for one key, want 1", built)
	}
	root := filepath.Join(s.Home, ".rezup")
	if keys := storeEntries(t, root); len(keys) != 1 {
		t.Errorf("store entries: %v", keys)
	}
	if revs := revisions(t, root, ".main"); len(revs) != n {
		t.Errorf("revisions: %v, want %d", revs, n)
	}
}

func TestFreshAndDrop(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	s.WriteFile("rezup.dev.toml", testkit.RecipeTOML(wh, ""))
	s.MustRun("add", "dev", "--skip-use")
	s.MustRun("add", "dev", "--skip-use", "--fresh")
	if keys := storeEntries(t, root); len(keys) != 2 {
		t.Fatalf("--fresh did not make a new build: %v", keys)
	}
	frozen, _ := filepath.Glob(filepath.Join(root, "dev", "revisions", "*", "rezup.toml"))
	salted := 0
	for _, f := range frozen {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), "salt = ") {
			salted++
		}
	}
	if salted != 1 {
		t.Errorf("%d frozen recipes carry a salt, want 1", salted)
	}

	// A running job holds its build: drop is refused until it ends.
	marker := filepath.Join(s.Home, "started")
	job := s.Start("use", "dev", "--", "sh", "-c", "touch "+marker+"; exec sleep 60")
	waitFor(t, func() bool { _, err := os.Stat(marker); return err == nil })
	res := s.Run("drop", "dev")
	if res.Code == 0 || !strings.Contains(res.Stderr, "in use") {
		t.Fatalf("drop while in use: exit %d\n%s", res.Code, res.Stderr)
	}
	if revs := revisions(t, root, "dev"); len(revs) != 2 {
		t.Fatalf("a refused drop removed revisions: %v", revs)
	}
	job.Process.Kill()
	job.Wait()
	res = s.MustRun("drop", "dev")
	if !strings.Contains(res.Stdout, "2 build(s)") {
		t.Errorf("drop output: %s", res.Stdout)
	}
	if keys := storeEntries(t, root); len(keys) != 0 {
		t.Errorf("store entries after drop: %v", keys)
	}
	if _, err := os.Stat(filepath.Join(s.Home, "rezup.dev.toml")); err != nil {
		t.Errorf("drop removed the recipe: %v", err)
	}
}

// waitFor polls a condition: the tests wait on states, never on time.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// `rezup` alone creates .main on the first run, then opens a shell; with
// no terminal on stdin (here /dev/null) the shell reads nothing and ends
// at once, with 0.
func TestBareRezupCreatesMain(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.Env["REZUP_DEFAULT_SHELL"] = "/bin/sh"
	res := s.Run()
	if res.Code != 0 || !strings.Contains(res.Stderr, "creating container .main") || res.Stdout != "" {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	if revs := revisions(t, filepath.Join(s.Home, ".rezup"), ".main"); len(revs) != 1 {
		t.Errorf("revisions of .main: %v", revs)
	}
}

// `rezup add NAME` without a recipe writes the default one, as the seed
// does; here its rez>=2.83 cannot be installed (no index), which fails
// cleanly and leaves the new recipe for the user to edit.
func TestAddWritesDefaultRecipe(t *testing.T) {
	t.Parallel()
	s, _ := newBuilder(t)
	s.Env["PIP_NO_INDEX"] = "1"
	res := s.Run("add", "dev", "--skip-use")
	if res.Code != 1 || !strings.Contains(res.Stderr, "wrote the default recipe") || !strings.Contains(res.Stderr, "rez>=2.83") {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	// A first build has no lock to build --frozen: the hint never says so.
	if strings.Contains(res.Stderr, "--frozen") || !strings.Contains(res.Stderr, "rezup: hint: ") {
		t.Errorf("the hint of a first build:\n%s", res.Stderr)
	}
	b, err := os.ReadFile(filepath.Join(s.Home, "rezup.dev.toml"))
	if err != nil || !strings.Contains(string(b), `url = "rez>=2.83"`) {
		t.Fatalf("default recipe: %v\n%s", err, b)
	}
	if keys := storeEntries(t, filepath.Join(s.Home, ".rezup")); len(keys) != 0 {
		t.Errorf("store entries: %v", keys)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rezup/rezup/gc"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
)

// revisionKeys are the keys of a container's revisions, newest first.
func revisionKeys(t *testing.T, root, container string) []string {
	t.Helper()
	revs, err := materialize.Root{Dir: root}.Revisions(container)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range revs {
		k, _ := r.Key()
		keys = append(keys, k.String())
	}
	return keys
}

func gcReport(t *testing.T, out string) gc.Report {
	t.Helper()
	var r gc.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("gc --json printed no report: %v\n%s", err, out)
	}
	return r
}

func hasItem(items []gc.Item, kind gc.Kind, name string, reason gc.Reason) bool {
	return slices.ContainsFunc(items, func(it gc.Item) bool {
		return it.Kind == kind && it.Name == name && (reason == "" || it.Reason == reason)
	})
}

// The scenario: a job runs in revision 1 while revisions 2 and 3
// are added; gc --keep 1 removes what nothing uses and keeps the build the
// job runs in until the job ends.
func TestGCKeepsWhatAJobRunsIn(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.MustRun("add", "--skip-use")

	marker := filepath.Join(s.Home, "started")
	// The job outlasts the test however slow the builds below are (a
	// loaded machine took longer than 30 s); the test kills it.
	job := s.Start("use", "--", "sh", "-c", "touch "+marker+"; exec sleep 600")
	waitFor(t, func() bool { _, err := os.Stat(marker); return err == nil })
	s.MustRun("add", "--skip-use", "--fresh")
	s.MustRun("add", "--skip-use", "--fresh")
	keys := revisionKeys(t, root, ".main") // newest first
	if len(keys) != 3 || len(storeEntries(t, root)) != 3 {
		t.Fatalf("revisions %v, entries %v: want 3 of each", keys, storeEntries(t, root))
	}
	latest, second, inUse := keys[0], keys[1], keys[2]

	t.Run("dry run changes nothing", func(t *testing.T) {
		before := testkit.Snapshot(t, root)
		res := s.MustRun("gc", "--keep", "1", "--dry-run")
		if diff := testkit.DiffSnapshots(before, testkit.Snapshot(t, root)); len(diff) > 0 {
			t.Errorf("gc --dry-run changed the root:\n%s", strings.Join(diff, "\n"))
		}
		for _, want := range []string{"dry run", "would remove", second, "in use", "latest ready revision"} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("dry-run output lacks %q:\n%s", want, res.Stdout)
			}
		}
	})

	res := s.MustRun("gc", "--keep", "1", "--json")
	rep := gcReport(t, res.Stdout)
	if rep.DryRun || rep.Keep != 1 || rep.Root != root {
		t.Errorf("report header: dry_run %v, keep %d, root %s", rep.DryRun, rep.Keep, rep.Root)
	}
	if !hasItem(rep.Removed, gc.KindEntry, second, gc.ReasonUnreferenced) {
		t.Errorf("the unused build %s was not removed: %+v", second, rep.Removed)
	}
	if !hasItem(rep.Kept, gc.KindEntry, inUse, gc.ReasonInUse) || !hasItem(rep.Kept, gc.KindEntry, latest, gc.ReasonReferenced) {
		t.Errorf("kept: %+v", rep.Kept)
	}
	if rep.RemovedBytes <= 0 || rep.RemovedBytes != rep.PlannedBytes || len(rep.Errors) != 0 {
		t.Errorf("removed %d of %d planned bytes, errors %v", rep.RemovedBytes, rep.PlannedBytes, rep.Errors)
	}
	if got := storeEntries(t, root); !slices.Equal(got, sortedStrings(latest, inUse)) {
		t.Fatalf("entries after gc: %v, want the latest %s and the one in use %s", got, latest, inUse)
	}
	if got := revisionKeys(t, root, ".main"); !slices.Equal(got, []string{latest}) {
		t.Errorf("revisions left use %v, want only the latest", got)
	}
	r := rezReport(t, s.MustRun("use", "--", "rez-env").Stdout)
	if !strings.Contains(r.Script, latest) {
		t.Errorf("the latest revision launched %s, not from %s", r.Script, latest)
	}
	if job.ProcessState != nil {
		t.Fatal("the job ended early")
	}

	job.Process.Kill()
	job.Wait()
	s.MustRun("gc", "--keep", "1")
	if got := storeEntries(t, root); !slices.Equal(got, []string{latest}) {
		t.Errorf("entries once the job ended: %v, want only %s", got, latest)
	}
	s.MustRun("use", "--", "rez-env")
}

func sortedStrings(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestGCRefusesASecondRunAndBadFlags(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t)
	root := materialize.Root{Dir: filepath.Join(s.Home, ".rezup")}
	if err := os.MkdirAll(root.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := gc.Lock(context.Background(), root, false)
	if err != nil {
		t.Fatal(err)
	}
	res := s.Run("gc")
	if res.Code != 1 || !strings.Contains(res.Stderr, fmt.Sprintf("gc already running (pid %d)", os.Getpid())) || !strings.Contains(res.Stderr, "--wait") {
		t.Errorf("second gc: exit %d\n%s", res.Code, res.Stderr)
	}
	// A dry run takes no lock: it may look while another gc runs.
	s.MustRun("gc", "--dry-run")
	lock.Close()
	s.MustRun("gc")

	for _, args := range [][]string{
		{"gc", "--keep", "0"},
		{"gc", "--older-than", "soon"},
		{"gc", "--cache"}, // no cache configured
		{"gc", "../x"},
	} {
		if res := s.Run(args...); res.Code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, res.Code, res.Stderr)
		}
	}
	if res := s.Run("gc", "--cache"); !strings.Contains(res.Stderr, "REZUP_CACHE") {
		t.Errorf("--cache without a cache gives no hint:\n%s", res.Stderr)
	}
}

// gc runs in a loop, with something to remove every time, while 8
// launchers run commands that check their build is there from start to
// end, and another container is added to again and again. No launch may
// fail, and no build may vanish under a running command.
func TestGCWhileLaunching(t *testing.T) {
	// Parallel: it stresses for a fixed time, and asks only for a few runs
	// of each kind in that time, which a loaded machine still gives.
	t.Parallel()
	const stressFor = 15 * time.Second
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.WriteFile("rezup.dev.toml", testkit.RecipeTOML(wh, ""))
	s.MustRun("add", "--skip-use")
	s.MustRun("add", "dev", "--skip-use") // the same build: adds reuse it
	mainKey := revisionKeys(t, root, ".main")[0]
	fake := testkit.NewFakeRoot(t, root)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var launches, adds atomic.Int64
	var mu sync.Mutex
	var failures []string
	fail := func(what string, r testkit.Result) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf("%s: exit %d\n%s%s", what, r.Code, r.Stdout, r.Stderr))
	}
	// The command checks its production bin dir (first on PATH) before
	// and after a pause, while its build is in use.
	check := `b="${PATH%%:*}"; test -x "$b/rez-env" || exit 97; sleep 0.05; test -x "$b/rez-env" || exit 98`
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := s.Run("use", "--", "sh", "-c", check); r.Code != 0 {
					fail("launch", r)
				}
				launches.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r := s.Run("add", "dev", "--skip-use"); r.Code != 0 {
				fail("add", r)
			}
			adds.Add(1)
		}
	}()

	// gc, here, between fresh garbage: a junk container whose previous
	// revision and build go each round, a crashed build's staging dir and
	// trash.
	deadline := time.Now().Add(stressFor)
	var runs, removed int
	for i := 0; time.Now().Before(deadline); i++ {
		now := time.Now()
		junk := testkit.FakeKey(1000 + i)
		fake.Entry(junk, 4096, now.Add(-48*time.Hour))
		fake.Revision("junk", now, junk)
		fake.Staging(testkit.FakeKey(5000+i), "crashed", now.Add(-48*time.Hour))
		fake.Trash(fmt.Sprint(i), now.Add(-48*time.Hour))
		r := s.Run("gc", "--keep", "1", "--json")
		if r.Code != 0 {
			fail("gc", r)
			continue
		}
		rep := gcReport(t, r.Stdout)
		runs++
		removed += len(rep.Removed)
		if hasItem(rep.Removed, gc.KindEntry, mainKey, "") || hasItem(rep.Remove, gc.KindEntry, mainKey, "") {
			t.Errorf("gc planned to remove the build in use %s", mainKey)
		}
	}
	close(stop)
	wg.Wait()

	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("%d gc runs removed %d items while %d launches and %d adds ran", runs, removed, launches.Load(), adds.Load())
	if runs < 2 || launches.Load() < 8 || removed < runs {
		t.Errorf("too little happened to prove anything: %d gc runs, %d launches, %d removed", runs, launches.Load(), removed)
	}
	if got := storeEntries(t, root); !slices.Contains(got, mainKey) {
		t.Errorf("the build in use is gone: %v", got)
	}
}

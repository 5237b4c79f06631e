package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// goodFleet is the report of a 4-node fleet on a counted cache that did
// what it should: warm, every node fetched the admin's build; cold, one
// node built and the three others fetched its archive.
func goodFleet() *fleetReport {
	ready := []time.Duration{time.Second, time.Second, time.Second, time.Second}
	return &fleetReport{
		nodes: 4, adminKey: "aaaa", counted: true,
		warm: fleetPhase{ready: ready, keys: map[string]int{"aaaa": 4}, archiveGETs: 4, archives: map[string]int{"aaaa": 1}},
		cold: fleetPhase{ready: ready, builds: 1, keys: map[string]int{"bbbb": 4}, archiveGETs: 3, archives: map[string]int{"bbbb": 1}},
	}
}

func TestFleetCheck(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *fleetReport)
		want string // in the one problem reported; "" for none
	}{
		{"as it should", func(*fleetReport) {}, ""},
		{"two builds on a cold fleet", func(r *fleetReport) {
			r.cold.builds, r.cold.archiveGETs = 2, 2
		}, "cold: 2 nodes built, want 1"},
		{"no build on a cold fleet", func(r *fleetReport) {
			r.cold.builds, r.cold.archiveGETs = 0, 4
		}, "cold: 0 nodes built, want 1"},
		{"a build on a warm fleet", func(r *fleetReport) {
			r.warm.builds, r.warm.archiveGETs = 1, 3
		}, "warm: 1 nodes built, want 0"},
		{"fewer nodes ready, cold", func(r *fleetReport) {
			r.cold.ready = r.cold.ready[:3]
			r.cold.failed = []string{"node 3: exit status 1: rezup: error: …"}
		}, "cold: 3 of 4 nodes ready"},
		{"fewer nodes ready, warm", func(r *fleetReport) { r.warm.ready = nil }, "warm: 0 of 4 nodes ready"},
		{"a node on another key", func(r *fleetReport) {
			r.cold.keys = map[string]int{"bbbb": 3, "cccc": 1}
		}, "cold: the nodes' revisions link bbbb:3 cccc:1, want one key"},
		{"a warm node on another key than the admin's", func(r *fleetReport) {
			r.warm.keys = map[string]int{"cccc": 4}
		}, "warm: the nodes' revisions link cccc:4, want the admin's aaaa"},
		{"a node without a revision", func(r *fleetReport) {
			r.cold.keys = map[string]int{"bbbb": 3, "": 1}
		}, "want one key on all 4"},
		{"an archive GET too many", func(r *fleetReport) { r.warm.archiveGETs = 5 }, "warm: 5 archive GETs, want 4"},
		{"archive GETs not counted on a directory cache", func(r *fleetReport) {
			r.counted, r.warm.archiveGETs, r.cold.archiveGETs = false, 0, 0
		}, ""},
		{"two archives in the cache", func(r *fleetReport) {
			r.cold.archives = map[string]int{"bbbb": 2}
		}, "cold: the cache holds archives bbbb:2, want one"},
		{"a node's pip left running", func(r *fleetReport) {
			r.cold.left = []string{"4242 (pip)"}
		}, "cold: left running in the nodes' process groups: 4242 (pip)"},
		{"a server left running", func(r *fleetReport) {
			r.leftovers = []string{"4343 (nginx)"}
		}, "left running after the run: 4343 (nginx)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodFleet()
			tt.edit(r)
			got := r.check()
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("check() = %q, want no problem", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Fatalf("check() = %q, want one problem with %q", got, tt.want)
			}
		})
	}
}

func TestLaunchCheck(t *testing.T) {
	good := func() *launchReport {
		return &launchReport{n: 3, labels: []string{"true", "rezup use -- true"},
			runs: map[string]int{"true": 3, "rezup use -- true": 3}, entries: 1, builds: 1}
	}
	if p := good().check(); len(p) != 0 {
		t.Fatalf("check() = %q, want no problem", p)
	}
	r := good()
	r.runs["rezup use -- true"] = 2
	if p := r.check(); len(p) != 1 || !strings.Contains(p[0], "rezup use -- true ran 2 times, want 3") {
		t.Errorf("a run missing: check() = %q", p)
	}
	r = good()
	r.entries, r.builds = 2, 2 // a launch built
	if p := r.check(); len(p) != 1 || !strings.Contains(p[0], "holds 2 builds") {
		t.Errorf("a launch that built: check() = %q", p)
	}
}

func TestStoreCheck(t *testing.T) {
	good := func() *storeReport {
		return &storeReport{rounds: 1, tree: 10, materialized: []int{10}, untarred: []int{10}, leases: reuseRuns,
			pull: &pullReport{rounds: 1, key: "aaaa", archives: 1, nodes: []pullNode{{fetched: 1, key: "aaaa", tree: 7, untarred: 7}}}}
	}
	if p := good().check(); len(p) != 0 {
		t.Fatalf("check() = %q, want no problem", p)
	}
	for _, tt := range []struct {
		name string
		edit func(r *storeReport)
		want string
	}{
		{"a node short of files", func(r *storeReport) { r.materialized[0] = 9 }, "round 1's node holds 9 entries, the tree 10"},
		{"a pull that built", func(r *storeReport) { r.pull.nodes[0].fetched, r.pull.nodes[0].builds = 0, 1 }, "fetched 0 builds and built 1"},
		{"a pull of another key", func(r *storeReport) { r.pull.nodes[0].key = "bbbb" }, `links "bbbb", want the admin's aaaa`},
		{"a pull unlike its untar", func(r *storeReport) { r.pull.nodes[0].untarred = 6 }, "holds 7 entries, the untar of its archive 6"},
		{"the pull not run", func(r *storeReport) { r.pull = nil }, "pull: not run"},
		{"a round of -vs missing", func(r *storeReport) { r.pull.vs, r.pull.vsKeys = true, nil }, "0 rounds of -vs recorded, want 1"},
		{"a pull of -vs of another key", func(r *storeReport) { r.pull.vs, r.pull.vsKeys = true, []string{"bbbb"} }, `node of -vs links "bbbb"`},
	} {
		r := good()
		tt.edit(r)
		if p := r.check(); len(p) != 1 || !strings.Contains(p[0], tt.want) {
			t.Errorf("%s: check() = %q, want one problem with %q", tt.name, p, tt.want)
		}
	}
}

func TestBuildCheck(t *testing.T) {
	good := func() *buildReport {
		return &buildReport{rounds: 2, fresh: []int{1, 1}, unchanged: []int{0, 0}, seeded: 2, entries: 4, builds: 4}
	}
	if p := good().check(); len(p) != 0 {
		t.Fatalf("check() = %q, want no problem", p)
	}
	r := good()
	r.unchanged[1], r.entries, r.builds = 1, 5, 5 // an unchanged add that built
	p := r.check()
	if len(p) != 2 || !strings.Contains(p[0], "round 2: the unchanged add added 1 builds, want 0") {
		t.Errorf("an unchanged add that built: check() = %q", p)
	}
}

func TestParseFlags(t *testing.T) {
	exe := testBinary(t)
	good := [][]string{
		nil,
		{"-only", "launch", "-n", "3", "-vs", exe},
		{"-only", "fleet", "-caches", "dir,http,s3", "-nodes", "4", "-fleet-timeout", "3m"},
		{"-only", "build", "-rounds", "1"},
		{"-only", "store", "-rounds", "1", "-rezup", exe, "-vs", exe},
		{"-only", "delta", "-rounds", "1", "-delta-mb", "1", "-delta-builds", "3"},
	}
	for _, args := range good {
		if _, err := parseFlags(args); err != nil {
			t.Errorf("parseFlags(%q) = %v, want no error", args, err)
		}
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"-only", "fleets"}, `-only is "fleets": use launch, store, fleet, build or delta`},
		{[]string{"-only", "delta", "-delta-builds", "2"}, "-delta-builds is 2: use 3 to 100"},
		{[]string{"-only", "delta", "-delta-mb", "0"}, "-delta-mb is 0: use 1 to 10000"},
		{[]string{"-only", "store", "-delta-mb", "5"}, "-delta-mb does not apply to -only store: it is for -only delta"},
		{[]string{"-only", "fleet", "-caches", "dir,ftp"}, `-caches: unknown cache "ftp"`},
		{[]string{"-only", "fleet", "-caches", "s3,s3"}, "-caches names s3 twice"},
		{[]string{"-only", "fleet", "-nodes", "0"}, "-nodes is 0: use 1 to 1000"},
		{[]string{"-only", "fleet", "-fleet-timeout", "0s"}, "-fleet-timeout is 0s"},
		{[]string{"-n", "0"}, "-n is 0"},
		{[]string{"-only", "build", "-rounds", "0"}, "-rounds is 0"},
		{[]string{"-vs", "/no/such/rezup"}, "-vs: /no/such/rezup: no such file"},
		{[]string{"-vs", t.TempDir()}, "is not an executable file"},
		{[]string{"-only", "build", "-vs", exe}, "-vs does not apply to -only build: it is for the default run, -only launch and -only store"},
		{[]string{"-only", "launch", "-nodes", "4"}, "-nodes does not apply to -only launch: it is for -only fleet"},
		{[]string{"-only", "fleet", "-n", "4"}, "-n does not apply to -only fleet"},
		{[]string{"fleet"}, `unexpected argument "fleet"`},
		{[]string{"-nodes"}, "flag needs an argument: -nodes"},
	}
	for _, tt := range bad {
		_, err := parseFlags(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error with %q", tt.args, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("parseFlags(%q): the error is not one line: %q", tt.args, err)
		}
	}
}

// testBinary is an executable file: the test binary itself.
func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestDeltaCheck(t *testing.T) {
	good := deltaNode{what: "round 1's cold node", fetched: 1, key: "k", want: "k", files: 10, linked: 8, relocated: 2, wantLinks: true}
	r := &deltaReport{rounds: 1, nodes: []deltaNode{good, good, good, good, good}}
	r.disk.builds, r.disk.want, r.disk.linked = 3, 3, true
	if p := r.check(); len(p) != 0 {
		t.Errorf("a good report: check() = %q", p)
	}
	bad := good
	bad.built, bad.strays, bad.stray = 1, 1, "venv/x.pyc"
	r.nodes[1] = bad
	r.disk.linked = false
	p := r.check()
	for _, want := range []string{"built 1 builds", "neither hard links nor relocated (venv/x.pyc)", "share no file"} {
		if !strings.Contains(strings.Join(p, "\n"), want) {
			t.Errorf("check() = %q, want a problem with %q", p, want)
		}
	}
}

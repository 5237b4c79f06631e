package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// isoLocal is a status date: ISO 8601 (RFC 3339) local time with its zone.
var isoLocal = regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)\b`)

// status counts a remote revision and its local mirror once, marks where
// each revision is, and its JSON has every documented field.
func TestStatusCountsAndFields(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	admin := f.admin
	admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	admin.MustRun("add", "prod", "--remote", "--skip-use") // remote only
	admin.MustRun("pull", "prod")                          // mirrored here: both
	admin.MustRun("add", "prod", "--skip-use")             // local only
	admin.WriteFile("rezup.empty.toml", testkit.RecipeTOML(f.wheels, ""))

	var c map[string]json.RawMessage
	if err := json.Unmarshal([]byte(admin.MustRun("status", "prod", "--json").Stdout), &c); err != nil {
		t.Fatal(err)
	}
	containerFields := []string{"name", "root", "remote", "recipe", "revision_count", "local_revision_count", "remote_revision_count", "error"}
	for _, k := range append(containerFields, "revisions") {
		if _, ok := c[k]; !ok {
			t.Errorf("status prod --json has no %q: %s", k, c)
		}
	}
	counts := map[string]string{"revision_count": "2", "local_revision_count": "2", "remote_revision_count": "1", "error": "null"}
	for k, want := range counts {
		if got := string(c[k]); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
	var revs []map[string]json.RawMessage
	if err := json.Unmarshal(c["revisions"], &revs); err != nil {
		t.Fatal(err)
	}
	var from []string
	for _, r := range revs {
		for _, k := range []string{"name", "time", "from", "ready", "rez_version", "key", "built", "built_by", "mirror_built_by", "bytes", "files", "lock", "error"} {
			if _, ok := r[k]; !ok {
				t.Errorf("a revision has no %q: %s", k, r)
			}
		}
		if string(r["built_by"]) != "null" || string(r["mirror_built_by"]) != "null" || string(r["error"]) != "null" {
			t.Errorf("built_by %s, mirror_built_by %s, error %s: want null", r["built_by"], r["mirror_built_by"], r["error"])
		}
		var s string
		_ = json.Unmarshal(r["from"], &s) // a wrong type shows as "" below
		from = append(from, s)
	}
	if want := []string{"both", "local"}; !slices.Equal(from, want) {
		t.Errorf("revisions are from %v, want %v", from, want)
	}

	// A container with no revision: its list is [], not left out.
	var e map[string]json.RawMessage
	if err := json.Unmarshal([]byte(admin.MustRun("status", "empty", "--json").Stdout), &e); err != nil {
		t.Fatal(err)
	}
	if string(e["revisions"]) != "[]" || string(e["revision_count"]) != "0" {
		t.Errorf("status empty --json: revisions %s, revision_count %s", e["revisions"], e["revision_count"])
	}

	// The list: every container has the same fields; with no remote root
	// (a node without REZUP_ROOT_REMOTE) remote is null.
	delete(admin.Env, "REZUP_ROOT_REMOTE")
	var list []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(admin.MustRun("status", "--json").Stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("status --json lists %d containers, want empty and prod: %v", len(list), list)
	}
	for _, c := range list {
		for _, k := range containerFields {
			if _, ok := c[k]; !ok {
				t.Errorf("status --json: a container has no %q: %v", k, c)
			}
		}
		if string(c["remote"]) != "null" {
			t.Errorf("remote = %s without a remote root", c["remote"])
		}
	}
	admin.Env["REZUP_ROOT_REMOTE"] = f.remote

	// The tables: prod has 2 revisions, each dated in ISO 8601 with its
	// zone, and marked where it is.
	table := admin.MustRun("status").Stdout
	if !regexp.MustCompile(`(?m)^prod\s+\S+\s+2\s`).MatchString(table) {
		t.Errorf("status does not count prod's revisions as 2:\n%s", table)
	}
	table = admin.MustRun("status", "prod").Stdout
	lines := strings.Split(strings.TrimSpace(table), "\n")
	var rows []string
	for _, l := range lines {
		if isoLocal.MatchString(l) {
			rows = append(rows, l)
		}
	}
	if len(rows) != 2 || !strings.Contains(rows[0], " both ") || !strings.Contains(rows[1], " local ") {
		t.Errorf("status prod: want 2 rows dated in ISO 8601, both then local:\n%s", table)
	}
}

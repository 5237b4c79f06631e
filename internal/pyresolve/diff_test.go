package pyresolve

import "testing"

func TestDiff(t *testing.T) {
	idx := func(name, version, sha string) Dist {
		return Dist{Name: name, Version: version, Source: Source{Kind: KindIndex, URL: "https://x/" + name + "-" + version + ".whl", SHA256: sha}}
	}
	old := &Resolution{Version: Version, Venvs: []VenvResolution{
		{Name: "rez", Dists: []Dist{idx("rez", "2.113.0", hashA), idx("gone", "1.0", hashA), idx("lib", "2.0", hashA), idx("same", "1.0", hashA)}},
		{Name: "dropped", Dists: []Dist{idx("x", "1", hashA)}},
	}}
	moved := idx("same", "1.0", hashA)
	moved.Source.URL = "https://mirror/same-1.0.whl"
	new := &Resolution{Version: Version, Venvs: []VenvResolution{
		{Name: "rez", Dists: []Dist{idx("rez", "2.114.0", hashB), idx("lib", "2.0", hashB), idx("new", "0.1", hashA), moved, idx("older", "1", hashA)}},
		{Name: "foo", Dists: []Dist{idx("foo", "1.0", hashA)}},
	}}
	old.Venvs[0].Dists = append(old.Venvs[0].Dists, idx("older", "1.1", hashA))

	got := FormatDiff(Diff(old, new))
	want := "rez: removed gone 1.0\n" +
		"rez: source changed lib 2.0 (sha256 1ac89a8ad6c0 -> sha256 984408ed531b)\n" +
		"rez: added new 0.1\n" +
		"rez: downgraded older 1.1 -> 1\n" +
		"rez: upgraded rez 2.113.0 -> 2.114.0\n" +
		"foo: added foo 1.0\n" +
		"dropped: removed x 1\n"
	if got != want {
		t.Fatalf("FormatDiff:\n%s\nwant\n%s", got, want)
	}
	if d := Diff(new, new); len(d) != 0 {
		t.Fatalf("Diff of a lock with itself: %+v", d)
	}
	if got := FormatDiff(Diff(nil, &Resolution{Version: Version, Venvs: []VenvResolution{{Name: "rez", Dists: []Dist{idx("rez", "1", hashA)}}}})); got != "rez: added rez 1\n" {
		t.Fatalf("from nil: %q", got)
	}
}

package pyresolve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	hashA = "1ac89a8ad6c0867881e02ca162e39af93eb8a7c92756eca806b26af16bdd2b8a"
	hashB = "984408ed531b4f37d6d40db19b58eda83200e69d9c7bbd04924cf942698ce0f9"
)

func sampleLock() *Resolution {
	return &Resolution{Version: Version, Venvs: []VenvResolution{
		{Name: "rez", Dists: []Dist{
			{Name: "rez", Version: "2.113.0", Requested: true, Source: Source{Kind: KindIndex,
				URL: "file:///wheels/rez-2.113.0-py3-none-any.whl", SHA256: hashA}},
			{Name: "pip", Version: "23.2.1", Source: Source{Kind: KindFile,
				URL: "file:///usr/lib/python3.11/ensurepip/_bundled/pip-23.2.1-py3-none-any.whl", SHA256: hashB}},
		}},
		{Name: "foo", Dists: []Dist{
			{Name: "foo", Version: "1.0", Requested: true, Source: Source{Kind: KindVCS,
				URL: "https://example.com/foo.git", VCS: "git", RequestedRevision: "main", Commit: "60e5df326a844883d9f9b46f59991114d76a76b7"}},
			{Name: "bar", Version: "0.1", Source: Source{Kind: KindDir, Path: "/src/bar", TreeSHA256: hashA, Editable: true}},
		}},
		{Name: "shared", Dists: []Dist{}},
	}}
}

func TestMarshalParseRoundTrip(t *testing.T) {
	b, err := sampleLock().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(b2) {
		t.Fatalf("Marshal(Parse(b)) differs:\n%s\n%s", b, b2)
	}
	// Sorted by name, fields in the documented order.
	if v, _ := l.Venv("rez"); v.Dists[0].Name != "pip" {
		t.Fatalf("dists not sorted: %+v", v.Dists)
	}
	if !strings.HasPrefix(string(b), "{\n  \"version\": 1,\n  \"venvs\": [\n    {\n      \"name\": \"rez\",") {
		t.Fatalf("unexpected layout:\n%s", b)
	}
}

func TestParseRejects(t *testing.T) {
	good, err := sampleLock().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, data, want string
	}{
		{"garbage", "not json at all", "not a lock file"},
		{"empty", "", "not a lock file"},
		{"newer version", `{"version": 2, "venvs": [], "future": true}`, "unsupported lock version 2"},
		{"no version", `{"venvs": []}`, "unsupported lock version missing"},
		{"string version", `{"version": "1", "venvs": []}`, "unsupported lock version \"1\""},
		{"unknown field", strings.Replace(string(good), `"name": "rez",`, `"name": "rez", "extra": 1,`, 1), "unknown field"},
		{"trailing", string(good) + "{}", "not a lock file"},
		{"bad kind", `{"version":1,"venvs":[{"name":"rez","dists":[{"name":"rez","version":"1","source":{"kind":"ftp","url":"x"}}]}]}`, "unknown source kind"},
		{"bad hash", `{"version":1,"venvs":[{"name":"rez","dists":[{"name":"rez","version":"1","source":{"kind":"index","url":"x","sha256":"abc"}}]}]}`, "not 64 lowercase hex"},
		{"not canonical", `{"version":1,"venvs":[{"name":"rez","dists":[{"name":"Fake_Lib","version":"1","source":{"kind":"index","url":"x"}}]}]}`, "not canonical"},
		{"duplicate venv", `{"version":1,"venvs":[{"name":"rez","dists":[]},{"name":"rez","dists":[]}]}`, "listed twice"},
		{"vcs without commit", `{"version":1,"venvs":[{"name":"rez","dists":[{"name":"rez","version":"1","source":{"kind":"vcs","url":"x","vcs":"git"}}]}]}`, "needs url, vcs and commit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data))
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "parse lock: ") {
				t.Fatalf("error %q: want one line with %q", msg, tt.want)
			}
		})
	}
	if _, err := Parse([]byte(`{"version": 7}`)); !errors.Is(err, ErrVersion) {
		t.Fatalf("unknown version: %v, want ErrVersion", err)
	}
}

// KeyBytes counts what is installed, not where it was found.
func TestKeyBytes(t *testing.T) {
	key := func(l *Resolution) string {
		b, err := l.KeyBytes()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	base := key(sampleLock())
	tests := []struct {
		name   string
		edit   func(l *Resolution)
		change bool
	}{
		{"wheel house moved", func(l *Resolution) { l.Venvs[0].Dists[0].Source.URL = "file:///elsewhere/rez-2.113.0-py3-none-any.whl" }, false},
		{"mirror", func(l *Resolution) { l.Venvs[0].Dists[0].Source.URL = "https://mirror/x/rez-2.113.0-py3-none-any.whl" }, false},
		{"requested flag", func(l *Resolution) { l.Venvs[0].Dists[0].Requested = false }, false},
		{"dists reordered", func(l *Resolution) { d := l.Venvs[0].Dists; d[0], d[1] = d[1], d[0] }, false},
		{"requested revision", func(l *Resolution) { l.Venvs[1].Dists[0].Source.RequestedRevision = "v1" }, false},
		{"wheel rebuilt", func(l *Resolution) { l.Venvs[0].Dists[0].Source.SHA256 = hashB }, true},
		{"other file name", func(l *Resolution) { l.Venvs[0].Dists[0].Source.URL = "file:///wheels/rez-2.113.0.tar.gz" }, true},
		{"version", func(l *Resolution) { l.Venvs[0].Dists[0].Version = "2.113.1" }, true},
		{"commit", func(l *Resolution) { l.Venvs[1].Dists[0].Source.Commit = "70e5df326a844883d9f9b46f59991114d76a76b7" }, true},
		{"editable path", func(l *Resolution) { l.Venvs[1].Dists[1].Source.Path = "/src2/bar" }, true},
		{"tree", func(l *Resolution) { l.Venvs[1].Dists[1].Source.TreeSHA256 = hashB }, true},
		{"venv renamed", func(l *Resolution) { l.Venvs[2].Name = "other" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := sampleLock()
			tt.edit(l)
			if got := key(l) != base; got != tt.change {
				t.Fatalf("key changed: %v, want %v\n%s\n%s", got, tt.change, base, key(l))
			}
		})
	}
	// A non-editable directory counts by content only.
	l := sampleLock()
	l.Venvs[1].Dists[1].Source.Editable = false
	k := key(l)
	l.Venvs[1].Dists[1].Source.Path = "/moved/bar"
	if key(l) != k {
		t.Fatal("moving a non-editable source directory changes the key")
	}
}

func TestRequirements(t *testing.T) {
	l := sampleLock()
	rez, _ := l.Venv("rez")
	text, all := rez.Requirements()
	want := "pip @ file:///usr/lib/python3.11/ensurepip/_bundled/pip-23.2.1-py3-none-any.whl#sha256=" + hashB + "\n" +
		"rez==2.113.0 --hash=sha256:" + hashA + "\n"
	if text != want || !all {
		t.Fatalf("requirements (all hashed %v):\n%s\nwant\n%s", all, text, want)
	}
	foo, _ := l.Venv("foo")
	text, all = foo.Requirements()
	want = "-e file:///src/bar\nfoo @ git+https://example.com/foo.git@60e5df326a844883d9f9b46f59991114d76a76b7\n"
	if text != want || all {
		t.Fatalf("requirements (all hashed %v):\n%s\nwant\n%s", all, text, want)
	}
	if _, all := (VenvResolution{Name: "shared"}).Requirements(); all {
		t.Fatal("an empty venv asks for --require-hashes")
	}

	p := filepath.Join(t.TempDir(), "req.txt")
	args, req, err := rez.InstallArgs(p)
	if err != nil || !req || strings.Join(args, " ") != "--no-deps --require-hashes -r "+p {
		t.Fatalf("InstallArgs = %q, %v, %v", args, req, err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != text0(rez) {
		t.Fatalf("requirements file %q (%v)", b, err)
	}
}

func text0(v VenvResolution) string { s, _ := v.Requirements(); return s }

func TestCanonicalName(t *testing.T) {
	for in, want := range map[string]string{"Foo.Bar": "foo-bar", "fake_lib": "fake-lib", "A__-.b": "a-b", "rez": "rez"} {
		if got := CanonicalName(in); got != want {
			t.Errorf("CanonicalName(%q) = %q, want %q", in, got, want)
		}
	}
}

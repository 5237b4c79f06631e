package materialize

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/pyenv"
	"github.com/rezup/rezup/internal/pyid"
)

// revision.json as the Python rezup and older or hand-edited files have
// it: a key that is missing, empty or malformed reads as no key, and the
// revision stays readable.
func TestMetaKeys(t *testing.T) {
	k := cas.KeyOf([]byte("a"))
	rk := cas.KeyOf([]byte("b"))
	tests := []struct {
		name      string
		json      string
		ownVenv   bool // <revision>/venv is a real dir, as the Python rezup makes it
		key       cas.Key
		remoteKey cas.Key
		python    bool // PythonBuilt
	}{
		{"python rezup", `{"rezup_version": "3.1.0", "creator": "u", "hostname": "h", "venvs": ["rez"], "extra": 1}`, true, cas.Key{}, cas.Key{}, true},
		{"empty key", `{"key": "", "venvs": ["rez"]}`, true, cas.Key{}, cas.Key{}, true},
		{"malformed key", `{"key": "NOT-A-KEY", "venvs": ["rez"]}`, true, cas.Key{}, cas.Key{}, false},
		{"uppercase key", `{"key": "` + strings.ToUpper(k.String()) + `", "venvs": ["rez"]}`, false, cas.Key{}, cas.Key{}, false},
		{"key", `{"key": "` + k.String() + `", "venvs": ["rez"]}`, false, k, cas.Key{}, false},
		{"key and remote key", `{"key": "` + k.String() + `", "remote_key": "` + rk.String() + `"}`, false, k, rk, false},
		{"malformed remote key", `{"key": "` + k.String() + `", "remote_key": "zz"}`, false, k, cas.Key{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := Root{Dir: t.TempDir()}
			dir := filepath.Join(root.RevisionsDir("c"), "1700000000.000000")
			mustWrite(t, filepath.Join(dir, "rezup.toml"), "[rez]\n")
			mustWrite(t, filepath.Join(dir, "revision.json"), tt.json)
			if tt.ownVenv {
				mustWrite(t, filepath.Join(dir, "venv", "rez", "pyvenv.cfg"), "")
			}
			rev, err := root.Latest("c")
			if err != nil {
				t.Fatalf("Latest: %v", err)
			}
			gotKey, ok := rev.Key()
			if gotKey != tt.key || ok != !tt.key.IsZero() {
				t.Errorf("Key() = %s, %v; want %s", gotKey, ok, tt.key)
			}
			gotRemote, ok := rev.RemoteKey()
			if gotRemote != tt.remoteKey || ok != !tt.remoteKey.IsZero() {
				t.Errorf("RemoteKey() = %s, %v; want %s", gotRemote, ok, tt.remoteKey)
			}
			if got := rev.PythonBuilt(); got != tt.python {
				t.Errorf("PythonBuilt() = %v, want %v", got, tt.python)
			}
		})
	}
	// Corrupt JSON is still an unreadable revision, not a keyless one.
	var m Meta
	if err := json.Unmarshal([]byte(`{"key": "`+k.String()+`", "venvs": "rez"}`), &m); err == nil {
		t.Errorf("venvs as a string: no error")
	}
}

// revision.json spells a key as 32 lowercase hex characters, and leaves
// out a key it does not have, as before keys were typed.
func TestMetaJSON(t *testing.T) {
	k := cas.KeyOf([]byte("a"))
	tests := []struct {
		meta Meta
		want string
	}{
		{Meta{Creator: "u", Venvs: []string{"rez"}}, `{"rezup_version":"","creator":"u","hostname":"","venvs":["rez"]}`},
		{Meta{Key: k, RemoteKey: k}, `{"key":"` + k.String() + `","remote_key":"` + k.String() + `","rezup_version":"","creator":"","hostname":"","venvs":null}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.meta)
		if err != nil || string(b) != tt.want {
			t.Errorf("marshal: %s, %v\nwant %s", b, err, tt.want)
		}
		var back Meta
		if err := json.Unmarshal(b, &back); err != nil || back.Key != tt.meta.Key || back.RemoteKey != tt.meta.RemoteKey {
			t.Errorf("round trip of %s: %+v, %v", b, back, err)
		}
	}
}

// manifest.json keeps its field names and order: the key as hex, each
// interpreter with executable, implementation, version and platform side
// by side.
func TestManifestJSON(t *testing.T) {
	k := cas.KeyOf([]byte("a"))
	py := pyenv.Interpreter{Executable: "/usr/bin/python3.11", ID: pyid.ID{Implementation: "cpython", Version: "3.11.9", Platform: "linux-x86_64"}}
	m := Manifest{Key: k, Prefix: "/r/.store/" + k.String(), Interpreters: map[string]pyenv.Interpreter{"": py}, Venvs: []string{"rez"}, Created: time.Unix(0, 0).UTC()}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"key":"` + k.String() + `","prefix":"/r/.store/` + k.String() + `",` +
		`"interpreters":{"":{"executable":"/usr/bin/python3.11","implementation":"cpython","version":"3.11.9","platform":"linux-x86_64"}},` +
		`"rez_python":"","venvs":["rez"],"rez_version":"","files":0,"bytes":0,"created":"1970-01-01T00:00:00Z","rezup_version":""}`
	if string(b) != want {
		t.Fatalf("manifest json:\n%s\nwant\n%s", b, want)
	}
	var back Manifest
	if err := json.Unmarshal(b, &back); err != nil || back.Key != k || back.Interpreters[""] != py {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

// A manifest without a key is never published: nothing reaches the store.
func TestPublishRefusesZeroKey(t *testing.T) {
	s := newStore(t, t.TempDir(), nil, nil)
	staging, err := s.stage(cas.KeyOf([]byte("a")))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.publish(staging, &Manifest{Venvs: []string{"rez"}}); err == nil || !strings.Contains(err.Error(), "no key") {
		t.Fatalf("publish with a zero key: %v", err)
	}
	if ents, _ := os.ReadDir(s.opt.Root.StoreDir()); len(ents) != 0 {
		t.Fatalf("the store holds %v", ents)
	}
}

// The link a revision holds resolves to its entry's venv, and the staging
// dirs rezup makes are the ones its listings recognize.
func TestLayoutNames(t *testing.T) {
	root := Root{Dir: t.TempDir()}
	k := cas.KeyOf([]byte("a"))
	rev := filepath.Join(root.RevisionsDir("c"), "1700000000.000000")
	if got, want := filepath.Join(rev, storeLink(k)), filepath.Join(root.EntryDir(k), "venv"); got != want {
		t.Errorf("link from %s resolves to %s, want %s", rev, got, want)
	}

	s := newStore(t, root.Dir, nil, nil)
	staging, err := s.stage(k)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root.TmpDir(), "trash-x", "f"), "")
	mustWrite(t, filepath.Join(root.TmpDir(), "not-staging"), "")
	left, err := root.TmpLeftovers()
	if err != nil {
		t.Fatal(err)
	}
	var stagings []Leftover
	for _, l := range left {
		if l.Kind == LeftoverStaging {
			stagings = append(stagings, l)
		}
	}
	if len(stagings) != 1 || stagings[0].Path != staging || stagings[0].Key != k {
		t.Errorf("leftovers %+v; want the staging dir %s of %s", left, staging, k)
	}
	for _, name := range []string{"trash-x", "not-staging", k.String(), strings.ToUpper(k.String()) + "-x"} {
		if got, ok := stagedKey(name); ok {
			t.Errorf("stagedKey(%q) = %s", name, got)
		}
	}

	// A revision staging dir left by a crash is listed as one.
	revsDir := root.RevisionsDir("c")
	if err := os.MkdirAll(revsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(revsDir, revisionStaging)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := root.RevisionStaging("c")
	if err != nil || len(rs) != 1 || rs[0].Path != dir {
		t.Errorf("RevisionStaging = %+v, %v; want %s", rs, err, dir)
	}
}

func mustWrite(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every field of revision.json survives a round trip through Meta's
// decoder, which lists the fields again (see UnmarshalJSON): a field added
// to Meta and not to it fails here. A null pin reads as none.
func TestMetaRoundTrip(t *testing.T) {
	k := cas.KeyOf([]byte("a"))
	m := Meta{
		Key: k, RemoteKey: cas.KeyOf([]byte("b")), RezupVersion: "1.0.0", Creator: "u", Hostname: "h",
		RevisionPath: "/r/c/revisions/1", Venvs: []string{"rez", "tools"}, RezVersion: "3.2.1",
		Archive: &cache.Entry{Key: k, Digest: cas.DigestOf([]byte("x")), Size: 10, Files: 2, Bytes: 20, Prefix: "/p",
			Interpreter: pyid.ID{Implementation: "cpython", Version: "3.11.9", Platform: "linux-x86_64"},
			Created:     time.Unix(1700000000, 0).UTC(), RezupVersion: "1.0.0"},
		Signatures: []string{"admin:c2ln"},
		keyed:      true,
	}
	v := reflect.ValueOf(m)
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() && v.Field(i).IsZero() {
			t.Fatalf("set Meta.%s in this test", f.Name)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Meta
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip of %s:\n got %+v\nwant %+v", b, back, m)
	}
	if err := json.Unmarshal([]byte(`{"key": "`+k.String()+`", "archive": null}`), &back); err != nil || back.Archive != nil {
		t.Fatalf("null pin: %+v, %v", back.Archive, err)
	}
	if err := json.Unmarshal([]byte(`{"key": "`+k.String()+`", "archive": {"size": "big"}}`), &back); err == nil {
		t.Fatalf("a pin that is not an entry: no error")
	}
}

// Meta's token-by-token decoder reads revision.json as encoding/json
// decodes it into the same fields: same values, and an error for the
// same inputs.
func TestMetaDecodesAsEncodingJSON(t *testing.T) {
	k := cas.KeyOf([]byte("a")).String()
	entry := `{"key":"` + k + `","digest":"` + cas.DigestOf([]byte("x")).String() + `","size":10,"files":2,"bytes":20,"prefix":"/p","interpreter":{"implementation":"cpython","version":"3.11.9","platform":"linux-x86_64"},"created":"2023-11-14T22:13:20Z","rezup_version":"1.0.0"}`
	inputs := []string{
		`{}`, `null`, ` {"key": "` + k + `"} `, `{"rezup_version": "3.1.0", "creator": "u", "hostname": "h", "venvs": ["rez"], "extra": 1}`,
		`{"key": "` + k + `", "remote_key": "zz", "revision_path": "/r", "rez_version": "3.2.1", "signatures": ["a:b", "c:d"]}`,
		`{"KEY": "` + k + `", "Venvs": ["a"], "CREATOR": "x"}`, // names match without case
		`{"creator": "a", "creator": "b", "venvs": ["a"], "venvs": ["b", "c"]}`,
		`{"creator": null, "venvs": null, "signatures": [], "archive": null}`,
		`{"venvs": ["a", null, "\u00e9\n\"q\""]}`,
		`{"archive": ` + entry + `}`, `{"archive": ` + entry + `, "archive": null}`,
		`{"x": {"y": [1, {"z": null}], "w": "v"}, "key": "` + k + `", "n": -1.5e3, "t": true}`,
		// Refused by both.
		``, `[]`, `"s"`, `{`, `{"key": 1}`, `{"venvs": "rez"}`, `{"venvs": [1]}`, `{"venvs": [["a"]]}`,
		`{"creator": {}}`, `{"archive": "x"}`, `{"archive": {"size": "big"}}`, `{"x": [}`, `{} {}`, `{}x`,
		`{"key": "a",}`, `{"key" "a"}`,
	}
	for _, in := range inputs {
		var got Meta
		gotErr := got.UnmarshalJSON([]byte(in))
		var ref struct {
			Key          string       `json:"key"`
			RemoteKey    string       `json:"remote_key"`
			RezupVersion string       `json:"rezup_version"`
			Creator      string       `json:"creator"`
			Hostname     string       `json:"hostname"`
			RevisionPath string       `json:"revision_path"`
			Venvs        []string     `json:"venvs"`
			RezVersion   string       `json:"rez_version"`
			Archive      *cache.Entry `json:"archive"`
			Signatures   []string     `json:"signatures"`
		}
		refErr := json.Unmarshal([]byte(in), &ref)
		if (gotErr != nil) != (refErr != nil) {
			t.Errorf("%s: error %v, encoding/json's %v", in, gotErr, refErr)
			continue
		}
		if refErr != nil {
			continue
		}
		want := Meta{RezupVersion: ref.RezupVersion, Creator: ref.Creator, Hostname: ref.Hostname, RevisionPath: ref.RevisionPath,
			Venvs: ref.Venvs, RezVersion: ref.RezVersion, Archive: ref.Archive, Signatures: ref.Signatures, keyed: ref.Key != ""}
		want.Key, _ = cas.ParseKey(ref.Key)
		want.RemoteKey, _ = cas.ParseKey(ref.RemoteKey)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", in, got, want)
		}
	}
}

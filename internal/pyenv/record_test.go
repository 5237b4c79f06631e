package pyenv

import (
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRehashRecords(t *testing.T) {
	hashOf := func(b string) string {
		h := sha256.Sum256([]byte(b))
		return "sha256=" + base64.RawURLEncoding.EncodeToString(h[:]) + "," + strconv.Itoa(len(b))
	}
	const script = "#!/final/venv/bin/python\nprint('hi')\n"
	const mod = "x = 1\n"
	tests := []struct {
		name    string
		record  string
		want    string // "" means: left as it is, not rewritten
		asDirAt string // a row naming an absolute path under asDir
	}{
		{
			name:   "a relocated script is hashed as it is now",
			record: "../../../bin/tool,sha256=stale,99\r\npkg/__init__.py," + hashOf(mod) + "\r\npkg-1.0.dist-info/RECORD,,\r\n",
			want:   "../../../bin/tool," + hashOf(script) + "\r\npkg/__init__.py," + hashOf(mod) + "\r\npkg-1.0.dist-info/RECORD,,\r\n",
		},
		{
			name:   "a removed console script keeps its row, without hash or size",
			record: "../../../bin/gone,sha256=stale,12\r\npkg/__init__.py," + hashOf(mod) + "\r\n",
			want:   "../../../bin/gone,,\r\npkg/__init__.py," + hashOf(mod) + "\r\n",
		},
		{
			name:   "an absolute path under the final dir is read from the staged one",
			record: "FINAL/data/f.txt,sha256=stale,1\n",
			want:   "FINAL/data/f.txt," + hashOf(mod) + "\n",
		},
		{
			name:   "a RECORD that says what is on disk is not rewritten",
			record: "pkg/__init__.py," + hashOf(mod) + "\r\npkg/__pycache__/__init__.cpython-311.pyc,,\r\n",
		},
		{
			name:   "a path with a comma stays quoted",
			record: "\"pkg/a,b.py\",sha256=stale,3\r\n",
			want:   "\"pkg/a,b.py\"," + hashOf(mod) + "\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			site := filepath.Join(base, "venv", "lib", "python3.11", "site-packages")
			final := "/final/venv/lib/python3.11/site-packages"
			files := map[string]string{
				"venv/bin/tool": script,
				"venv/lib/python3.11/site-packages/pkg/__init__.py": mod,
				"venv/lib/python3.11/site-packages/pkg/a,b.py":      mod,
				"venv/lib/python3.11/site-packages/data/f.txt":      mod,
			}
			for name, body := range files {
				p := filepath.Join(base, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			rec := filepath.Join(site, "pkg-1.0.dist-info", "RECORD")
			if err := os.MkdirAll(filepath.Dir(rec), 0o755); err != nil {
				t.Fatal(err)
			}
			record := replaceFinal(tt.record, final)
			if err := os.WriteFile(rec, []byte(record), 0o644); err != nil {
				t.Fatal(err)
			}
			old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
			if err := os.Chtimes(rec, old, old); err != nil {
				t.Fatal(err)
			}
			if err := RehashRecords(site, final); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(rec)
			if err != nil {
				t.Fatal(err)
			}
			want := replaceFinal(tt.want, final)
			if tt.want == "" {
				want = record
				if fi, err := os.Stat(rec); err != nil || !fi.ModTime().Equal(old) {
					t.Errorf("an unchanged RECORD was rewritten (%v)", err)
				}
			}
			if string(got) != want {
				t.Errorf("RECORD:\n%q\nwant:\n%q", got, want)
			}
		})
	}
}

func replaceFinal(s, final string) string { return strings.ReplaceAll(s, "FINAL", final) }

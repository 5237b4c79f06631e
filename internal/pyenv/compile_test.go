package pyenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCountSources(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a/x.py", "a/b/y.py", "a/z.txt", "pip/p.py", "pip/q/r.py", "top.py", "c/pip/s.py"} {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		skip  []string
		limit int
		want  int
	}{
		{"all", nil, 100, 6},
		{"top-level pip skipped, not c/pip", []string{"pip"}, 100, 4},
		{"stops at the limit", nil, 3, 3},
		{"missing dir counts as many", nil, 7, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dir
			if tc.name == "missing dir counts as many" {
				d = filepath.Join(dir, "nope")
			}
			if got := countSources(d, tc.skip, tc.limit); got != tc.want {
				t.Fatalf("countSources = %d, want %d", got, tc.want)
			}
		})
	}
}

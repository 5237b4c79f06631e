package testkit_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/rezup/rezup/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

func TestWriteWheelLayout(t *testing.T) {
	tests := []struct {
		name, version  string
		file, distInfo string
	}{
		{"rez", "2.113.0", "rez-2.113.0-py3-none-any.whl", "rez-2.113.0.dist-info"},
		{"my-ext.tool", "1.0", "my_ext_tool-1.0-py3-none-any.whl", "my_ext_tool-1.0.dist-info"},
		{"Mixed__Case", "0.1", "Mixed_Case-0.1-py3-none-any.whl", "Mixed_Case-0.1.dist-info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := testkit.ExtensionWheel(tt.name, tt.version)
			w.Requires = []string{"rez>=2.100", "fake_lib==1.0"}
			w.Files["data/a,b.txt"] = "comma in the name needs CSV quoting in RECORD\n"
			path, err := testkit.WriteWheel(t.TempDir(), w)
			if err != nil {
				t.Fatal(err)
			}
			if got := filepath.Base(path); got != tt.file {
				t.Errorf("file name = %q, want %q", got, tt.file)
			}
			files := readZip(t, path)

			var names []string
			for _, f := range files {
				names = append(names, f.name)
			}
			if last := names[len(names)-1]; last != tt.distInfo+"/RECORD" {
				t.Errorf("last entry = %q, want the RECORD", last)
			}
			split := slices.IndexFunc(names, func(n string) bool { return strings.HasPrefix(n, tt.distInfo+"/") })
			if split < 0 || !slices.IsSorted(names[:split]) || !slices.IsSorted(names[split:len(names)-1]) {
				t.Errorf("entries not sorted with the dist-info last: %q", names)
			}

			byName := map[string]string{}
			for _, f := range files {
				byName[f.name] = f.data
			}
			meta := byName[tt.distInfo+"/METADATA"]
			for _, want := range []string{"Metadata-Version: 2.1\n", "Name: " + tt.name + "\n", "Version: " + tt.version + "\n",
				"Requires-Dist: rez>=2.100\n", "Requires-Dist: fake_lib==1.0\n"} {
				if !strings.Contains(meta, want) {
					t.Errorf("METADATA lacks %q:\n%s", want, meta)
				}
			}
			if ep := byName[tt.distInfo+"/entry_points.txt"]; !strings.Contains(ep, "[console_scripts]\n"+tt.name+" = ") {
				t.Errorf("entry_points.txt = %q", ep)
			}
			if wh := byName[tt.distInfo+"/WHEEL"]; !strings.Contains(wh, "Root-Is-Purelib: true\n") || !strings.Contains(wh, "Tag: py3-none-any\n") {
				t.Errorf("WHEEL = %q", wh)
			}

			rows, err := csv.NewReader(strings.NewReader(byName[tt.distInfo+"/RECORD"])).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(files) {
				t.Fatalf("RECORD has %d rows for %d files", len(rows), len(files))
			}
			for _, row := range rows {
				data, ok := byName[row[0]]
				if !ok {
					t.Errorf("RECORD lists %q, not in the wheel", row[0])
					continue
				}
				if row[0] == tt.distInfo+"/RECORD" {
					if row[1] != "" || row[2] != "" {
						t.Errorf("RECORD row for itself = %q, want no hash or size", row)
					}
					continue
				}
				sum := sha256.Sum256([]byte(data))
				if want := "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:]); row[1] != want {
					t.Errorf("%s: hash %s, want %s", row[0], row[1], want)
				}
				if want := strconv.Itoa(len(data)); row[2] != want {
					t.Errorf("%s: size %s, want %s", row[0], row[2], want)
				}
			}
		})
	}
}

func TestWriteWheelIsDeterministic(t *testing.T) {
	a, err := testkit.WriteWheel(t.TempDir(), testkit.RezWheel("2.113.0"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := testkit.WriteWheel(t.TempDir(), testkit.RezWheel("2.113.0"))
	if err != nil {
		t.Fatal(err)
	}
	ab, bb := mustRead(t, a), mustRead(t, b)
	if !bytes.Equal(ab, bb) {
		t.Error("the same wheel written twice differs")
	}
}

func TestWriteWheelRefusesBadInput(t *testing.T) {
	for name, w := range map[string]testkit.Wheel{
		"no version":   {Name: "x"},
		"escaping":     {Name: "x", Version: "1", Files: map[string]string{"../evil.py": ""}},
		"absolute":     {Name: "x", Version: "1", Files: map[string]string{"/evil.py": ""}},
		"own metadata": {Name: "x", Version: "1", Files: map[string]string{"x-1.dist-info/METADATA": ""}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := testkit.WriteWheel(t.TempDir(), w); err == nil {
				t.Error("WriteWheel succeeded")
			}
		})
	}
}

func TestRecipeTOMLParses(t *testing.T) {
	wheelhouse := `/tmp/odd "dir"\with\back`
	text := testkit.RecipeTOML(wheelhouse, "[[extension]]\nname = \"foo\"\nurl = \"foo==1.0\"")
	var got struct {
		Pip struct{ Options []string }
		Rez struct{ URL string }
		Ext []struct{ Name, URL string } `toml:"extension"`
	}
	if _, err := toml.Decode(text, &got); err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	wantOpts := []string{"--disable-pip-version-check", "--no-index", "--find-links", wheelhouse}
	if !slices.Equal(got.Pip.Options, wantOpts) {
		t.Errorf("pip options = %q, want %q", got.Pip.Options, wantOpts)
	}
	if got.Rez.URL != "rez=="+testkit.RezVersion {
		t.Errorf("rez url = %q", got.Rez.URL)
	}
	if len(got.Ext) != 1 || got.Ext[0].Name != "foo" {
		t.Errorf("extensions = %+v", got.Ext)
	}
}

type zipFile struct{ name, data string }

func readZip(t *testing.T, path string) []zipFile {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out []zipFile
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, zipFile{f.Name, string(data)})
	}
	return out
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

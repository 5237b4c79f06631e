package pyenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEntryPoint(t *testing.T) {
	tests := []struct {
		name, value string
		want        EntryPoint
		wantErr     string
	}{
		{"rez", "rez.cli._main:run", EntryPoint{"rez", "rez.cli._main", "run"}, ""},
		{"rez-env", " rez.cli._main : run ", EntryPoint{"rez-env", "rez.cli._main", "run"}, ""},
		{"x", "pkg.mod:Klass.main [extra1, extra2]", EntryPoint{"x", "pkg.mod", "Klass.main"}, ""},
		{"x", "pkg:main[extra]", EntryPoint{"x", "pkg", "main"}, ""},
		{"ünï", "mödule:fünc", EntryPoint{"ünï", "mödule", "fünc"}, ""},
		{"x", "pkg", EntryPoint{}, "want module:attr"},
		{"x", "pkg:", EntryPoint{}, "bad attribute"},
		{"x", ":main", EntryPoint{}, "bad module"},
		{"x", "pkg..mod:main", EntryPoint{}, "bad module"},
		{"x", "pkg:1main", EntryPoint{}, "bad attribute"},
		{"x", "pkg:main; rm -rf /", EntryPoint{}, "bad attribute"},
		{"x", "pkg:main [extra", EntryPoint{}, "unterminated extras"},
		{"", "pkg:main", EntryPoint{}, "bad script name"},
		{"../evil", "pkg:main", EntryPoint{}, "bad script name"},
		{"a/b", "pkg:main", EntryPoint{}, "bad script name"},
		{"..", "pkg:main", EntryPoint{}, "bad script name"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			got, err := ParseEntryPoint(tt.name, tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestShebangForms(t *testing.T) {
	long := "/" + strings.Repeat("d", 120) + "/bin/python"
	tests := []struct {
		name   string
		python string
		flags  []string
		want   string
	}{
		{"plain", "/venv/bin/python", []string{"-E"}, "#!/venv/bin/python -E\n"},
		{"no flags", "/venv/bin/python", nil, "#!/venv/bin/python\n"},
		{"two flags", "/venv/bin/python", []string{"-E", "-s"}, "#!/venv/bin/python -E -s\n"},
		// 2 + 121 + 3 + 1 = 127 bytes: still plain.
		{"exactly 127", "/" + strings.Repeat("x", 120), []string{"-E"}, "#!/" + strings.Repeat("x", 120) + " -E\n"},
		{"128 is too long", "/" + strings.Repeat("x", 121), []string{"-E"},
			"#!/bin/sh\n'''exec' \"/" + strings.Repeat("x", 121) + "\" -E \"$0\" \"$@\"\n' '''\n"},
		{"long", long, []string{"-E"}, "#!/bin/sh\n'''exec' \"" + long + "\" -E \"$0\" \"$@\"\n' '''\n"},
		{"space", "/my venv/bin/python", []string{"-E"}, "#!/bin/sh\n'''exec' \"/my venv/bin/python\" -E \"$0\" \"$@\"\n' '''\n"},
		{"space no flags", "/my venv/python", nil, "#!/bin/sh\n'''exec' \"/my venv/python\" \"$0\" \"$@\"\n' '''\n"},
		{"sh quoting", `/a b/$x/"q"/\/python`, nil, "#!/bin/sh\n'''exec' \"/a b/\\$x/\\\"q\\\"/\\\\/python\" \"$0\" \"$@\"\n' '''\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Shebang(tt.python, tt.flags)
			if got != tt.want {
				t.Fatalf("Shebang(%q, %q) =\n%s\nwant\n%s", tt.python, tt.flags, got, tt.want)
			}
			// Relocate must read back what Shebang writes.
			interp, flags, n, ok := parseShebang([]byte(got + "body\n"))
			if !ok || interp != tt.python || strings.Join(flags, " ") != strings.Join(tt.flags, " ") || n != len(got) {
				t.Fatalf("parseShebang = %q %q %d %v", interp, flags, n, ok)
			}
		})
	}
}

func TestParseShebangDistlibForm(t *testing.T) {
	// distlib quotes only a path with a blank, and puts no newline after
	// the closing quotes.
	for _, src := range []string{
		"#!/bin/sh\n'''exec' /long/python -E \"$0\" \"$@\"\n' '''# -*- coding: utf-8 -*-\n",
		"#!/bin/sh\n'''exec' \"/long/python\" -E \"$0\" \"$@\"\n' '''\n# -*- coding: utf-8 -*-\n",
	} {
		interp, flags, n, ok := parseShebang([]byte(src))
		if !ok || interp != "/long/python" || len(flags) != 1 || flags[0] != "-E" {
			t.Fatalf("%q: got %q %q %v", src, interp, flags, ok)
		}
		if rest := src[n:]; rest != "# -*- coding: utf-8 -*-\n" {
			t.Fatalf("%q: rest %q", src, rest)
		}
	}
	if interp, _, _, ok := parseShebang([]byte("#!/bin/sh\necho hi\n")); !ok || interp != "/bin/sh" {
		t.Fatalf("plain sh script: %q %v", interp, ok)
	}
	if _, _, _, ok := parseShebang([]byte("import sys\n")); ok {
		t.Fatal("no header parsed as one")
	}
}

func TestWriteEntryPoints(t *testing.T) {
	eps := []EntryPoint{
		{"rez", "rez.cli._main", "run"},
		{"rez-env", "rez.cli._main", "Cli.run"},
	}
	const plain = "#!/venv/bin/python -E\n" +
		"# -*- coding: utf-8 -*-\n" +
		"import re\n" +
		"import sys\n" +
		"from rez.cli._main import Cli\n" +
		"if __name__ == '__main__':\n" +
		"    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n" +
		"    sys.exit(Cli.run())\n"
	const edit = "#!/venv/bin/python -E\n" +
		"# -*- coding: utf-8 -*-\n" +
		"import re\n" +
		"import os\n" +
		"import sys\n" +
		"from rez.cli._main import Cli\n" +
		"if os.getenv(\"REZUP_EDIT_IN_PRODUCTION\"):\n" +
		"    from rez.system import system\n" +
		"    setattr(system, 'rez_bin_path', r'/venv/bin/rez')\n" +
		"if __name__ == '__main__':\n" +
		"    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n" +
		"    sys.exit(Cli.run())\n"
	for _, tt := range []struct {
		name, edit, want string
	}{
		{"plain", "", plain},
		{"edit", "/venv/bin/rez", edit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "bin", "rez") // created on demand
			if err := WriteEntryPoints(dir, "/venv/bin/python", []string{"-E"}, eps, tt.edit); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(scriptFile(dir, "rez-env"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("script:\n%s\nwant:\n%s", got, tt.want)
			}
			info, err := os.Stat(scriptFile(dir, "rez"))
			if err != nil {
				t.Fatal(err)
			}
			if perm := info.Mode().Perm(); perm != 0o755 && filepath.Separator == '/' {
				t.Fatalf("mode %v, want 0755", perm)
			}
		})
	}
	t.Run("bad entry point", func(t *testing.T) {
		err := WriteEntryPoints(t.TempDir(), "/p", nil, []EntryPoint{{"../x", "m", "f"}}, "")
		if err == nil {
			t.Fatal("wrote a script outside its directory")
		}
	})
}

func TestPyString(t *testing.T) {
	for in, want := range map[string]string{
		`/venv/bin/rez`:  `r'/venv/bin/rez'`,
		`C:\venv\rez`:    `r'C:\venv\rez'`,
		`/it's/rez`:      `'/it\'s/rez'`,
		`C:\trailing\`:   `'C:\\trailing\\'`,
		"/new\nline/rez": `'/new\nline/rez'`,
	} {
		if got := pyString(in); got != want {
			t.Errorf("pyString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestProductionMarkerAndRemoveScripts(t *testing.T) {
	dir := t.TempDir()
	prod := filepath.Join(dir, "bin", "rez")
	if err := WriteProductionMarker(prod, "2.113.0"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(prod, ProductionMarker))
	if err != nil || string(got) != "2.113.0" {
		t.Fatalf("marker = %q, %v", got, err)
	}
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"rez", "keep"} {
		if err := os.WriteFile(scriptFile(bin, n), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveScripts(bin, []string{"rez", "missing"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(scriptFile(bin, "rez")); !os.IsNotExist(err) {
		t.Fatalf("rez script still there: %v", err)
	}
	if _, err := os.Stat(scriptFile(bin, "keep")); err != nil {
		t.Fatal(err)
	}
	if err := RemoveScripts(bin, []string{"../x"}); err == nil {
		t.Fatal("removed outside bin")
	}
}

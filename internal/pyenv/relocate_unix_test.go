//go:build unix

package pyenv

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const oldPrefix = "/build/rezup/.store/0123456789abcdef/venv"

func TestRelocateFiles(t *testing.T) {
	longNew := "/" + strings.Repeat("n", 110) + "/venv"
	tests := []struct {
		name      string
		newPrefix string
		in, want  string
		rewritten bool
	}{
		{"text", "/new/venv",
			"home = /usr/bin\ncommand = /usr/bin/python3 -m venv " + oldPrefix + "\n" +
				"VIRTUAL_ENV='" + oldPrefix + "'\nPATH=\"" + oldPrefix + "/bin:$PATH\"\n" + oldPrefix,
			"home = /usr/bin\ncommand = /usr/bin/python3 -m venv /new/venv\n" +
				"VIRTUAL_ENV='/new/venv'\nPATH=\"/new/venv/bin:$PATH\"\n/new/venv",
			true},
		{"boundaries", "/new/venv",
			oldPrefix + "2/x " + oldPrefix + ".pth " + oldPrefix + "-old ." + oldPrefix + " x" + oldPrefix + " file://" + oldPrefix + "/lib",
			oldPrefix + "2/x " + oldPrefix + ".pth " + oldPrefix + "-old ." + oldPrefix + " x" + oldPrefix + " file:///new/venv/lib",
			true},
		{"only lookalikes", "/new/venv", "see " + oldPrefix + "2\n", "see " + oldPrefix + "2\n", false},
		// The first copy ends at a '/', so it is a path; the second follows
		// a name byte, so it is not.
		{"repeated", "/n", oldPrefix + oldPrefix + "/" + oldPrefix, "/n" + oldPrefix + "//n", true},
		{"shebang", "/new/venv",
			"#!" + oldPrefix + "/bin/python -E\n# " + oldPrefix + "\n",
			"#!/new/venv/bin/python -E\n# /new/venv\n", true},
		{"shebang to sh form", longNew,
			"#!" + oldPrefix + "/bin/python -E\nimport sys\n",
			"#!/bin/sh\n'''exec' \"" + longNew + "/bin/python\" -E \"$0\" \"$@\"\n' '''\nimport sys\n", true},
		{"shebang to space", "/new venv",
			"#!" + oldPrefix + "/bin/python\nimport sys\n",
			"#!/bin/sh\n'''exec' \"/new venv/bin/python\" \"$0\" \"$@\"\n' '''\nimport sys\n", true},
		{"sh form back to plain", "/new/venv",
			"#!/bin/sh\n'''exec' \"" + oldPrefix + "/bin/python\" -E -s \"$0\" \"$@\"\n' '''\nimport sys\n",
			"#!/new/venv/bin/python -E -s\nimport sys\n", true},
		{"distlib sh form", "/new/venv",
			"#!/bin/sh\n'''exec' " + oldPrefix + "/bin/python \"$0\" \"$@\"\n' '''# -*- coding: utf-8 -*-\n",
			"#!/new/venv/bin/python\n# -*- coding: utf-8 -*-\n", true},
		{"foreign shebang", "/new/venv",
			"#!/usr/bin/env python\nprint('" + oldPrefix + "')\n",
			"#!/usr/bin/env python\nprint('/new/venv')\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "f")
			if err := os.WriteFile(path, []byte(tt.in), 0o750); err != nil {
				t.Fatal(err)
			}
			mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			rep, err := Relocate(root, oldPrefix, tt.newPrefix)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tt.want)
			}
			if (rep.Rewritten == 1) != tt.rewritten || len(rep.Binary) != 0 {
				t.Fatalf("report %+v, rewritten %v", rep, tt.rewritten)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != 0o750 {
				t.Errorf("mode %v, want 0750", info.Mode().Perm())
			}
			if !info.ModTime().Equal(mtime) {
				t.Errorf("mtime %v, want %v", info.ModTime(), mtime)
			}
		})
	}
}

func TestRelocateTree(t *testing.T) {
	root := t.TempDir()
	write := func(rel string, data []byte) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(target, rel string) {
		if err := os.Symlink(target, filepath.Join(root, rel)); err != nil {
			t.Fatal(err)
		}
	}
	pyc := append([]byte{0xa7, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0}, oldPrefix+"/lib/x.py"...)
	write("lib/__pycache__/x.cpython-311.pyc", pyc)
	so := append([]byte("\x7fELF\x00\x00"), "rpath="+oldPrefix+"/lib\x00"...)
	soPath := write("lib/ext.so", so)
	write("lib/lookalike.so", append([]byte("\x00"), oldPrefix+"2/lib\x00"...))
	write("pyvenv.cfg", []byte("command = python -m venv "+oldPrefix+"\n"))
	write("lib/site-packages/x.pth", []byte(oldPrefix+"/src\n"))
	link("python3.11", filepath.Join("lib", "python3")) // relative
	link("/usr/bin/python3", "python")                  // absolute, outside
	link(oldPrefix+"/lib/site-packages", "site")        // absolute, inside
	link(oldPrefix, "self")                             // the prefix itself
	link(oldPrefix+"2/lib", "lookalike")                // outside, by boundary

	newPrefix := "/new/venv"
	rep, err := Relocate(root, oldPrefix+"/", newPrefix) // a trailing slash is cleaned
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rewritten != 2 || rep.Retargeted != 2 || !slices.Equal(rep.Binary, []string{soPath}) {
		t.Fatalf("report %+v", rep)
	}
	for rel, want := range map[string]string{
		"lib/python3": "python3.11",
		"python":      "/usr/bin/python3",
		"site":        newPrefix + "/lib/site-packages",
		"self":        newPrefix,
		"lookalike":   oldPrefix + "2/lib",
	} {
		if got, _ := os.Readlink(filepath.Join(root, rel)); got != want {
			t.Errorf("%s -> %s, want %s", rel, got, want)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(root, "lib/__pycache__/x.cpython-311.pyc")); !bytes.Equal(got, pyc) {
		t.Error("pyc changed")
	}
	if got, _ := os.ReadFile(soPath); !bytes.Equal(got, so) {
		t.Error("binary changed")
	}
	if got, _ := os.ReadFile(filepath.Join(root, "lib/site-packages/x.pth")); string(got) != newPrefix+"/src\n" {
		t.Errorf("pth = %q", got)
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".rezup-tmp") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

// TestRelocateBinaryChunks puts the prefix across the scanner's chunk
// edges: found when it is there, not when only a longer name is.
func TestRelocateBinaryChunks(t *testing.T) {
	for _, tt := range []struct {
		name   string
		at     int
		suffix string
		found  bool
	}{
		{"across edge", scanChunk - 5, "/lib", true},
		{"ends at edge", scanChunk - len(oldPrefix), "/lib", true},
		{"lookalike ends at edge", scanChunk - len(oldPrefix), "2/lib", false},
		{"starts at edge", scanChunk, "\x00", true},
		{"at end of file", 3*scanChunk - len(oldPrefix), "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := make([]byte, 3*scanChunk)
			n := copy(data[tt.at:], oldPrefix+tt.suffix)
			data = data[:max(len(data), tt.at+n)]
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, "big.so"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := Relocate(root, oldPrefix, "/new")
			if err != nil {
				t.Fatal(err)
			}
			if got := len(rep.Binary) == 1; got != tt.found {
				t.Fatalf("found %v, want %v", got, tt.found)
			}
		})
	}
}

func TestRelocateRefuses(t *testing.T) {
	root := t.TempDir()
	for _, p := range [][2]string{{"", "/x"}, {"/", "/x"}, {"rel/path", "/x"}, {"/x", "rel"}} {
		if _, err := Relocate(root, p[0], p[1]); err == nil {
			t.Errorf("Relocate(%q, %q) accepted", p[0], p[1])
		}
	}
	if rep, err := Relocate(root, "/same", "/same/"); err != nil || rep.Rewritten != 0 {
		t.Errorf("same prefix: %+v %v", rep, err)
	}
}

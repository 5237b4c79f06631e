package files

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pkg is one distribution of a generated venv: its name, a version (a
// new version changes every file of it), and how big it is.
type pkg struct {
	name    string
	version int
	modules int // .py files, each with a .pyc
	libs    int // compiled extensions (.so)
	libSize int // their average size
}

// venvPkgs is a venv of about 3,000 files and 50 MB: rez and a studio's
// usual packages (hundreds of small modules, a few large compiled
// libraries), scaled down by scale (1 is full size).
func venvPkgs(scale int) []pkg {
	var out []pkg
	for i := range 56 {
		p := pkg{name: fmt.Sprintf("pkg%02d", i), version: 1, modules: 4 + (i*7)%37, libSize: (7 << 19) / scale}
		if i%7 == 3 {
			p.libs = 1
		}
		if i == 0 {
			p.name, p.modules = "rez", 180
		}
		p.modules = max(1, p.modules/scale)
		out = append(out, p)
	}
	return out
}

// writeVenv writes a venv-like tree under root holding pkgs: bin scripts
// whose shebangs hold testPrefix, pyvenv.cfg, symlinks to a base
// interpreter, and per package its modules (text with Python's
// statistics: a shared vocabulary, package-local names, docstrings, a
// licence header), their compiled .pyc (a few holding the prefix, as
// co_filename), dist-info (METADATA, RECORD, a LICENSE shared by many
// packages) and a few compiled libraries (part code, part tables, part
// zeros, part noise). The same pkgs always write the same tree. It
// returns the bytes of file data written.
func writeVenv(t testing.TB, root string, pkgs []pkg) int64 {
	t.Helper()
	g := &venvWriter{t: t, root: root}
	g.dir("bin")
	g.link("bin/python", "/usr/bin/python3.11")
	g.link("bin/python3", "python")
	g.file("pyvenv.cfg", 0o644, []byte("home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n"))
	sp := "lib/python3.11/site-packages"
	g.dir(sp)
	g.link("lib64", "lib")
	for _, p := range pkgs {
		rng := rand.New(rand.NewPCG(seedOf(p.name), uint64(p.version)))
		local := words(rng, 150)
		dir := sp + "/" + p.name
		g.dir(dir)
		g.dir(dir + "/__pycache__")
		for m := range p.modules {
			name := fmt.Sprintf("%s_%d", local[m%len(local)], m)
			src := pySource(rng, local, 600+int(rng.ExpFloat64()*9000))
			g.file(dir+"/"+name+".py", 0o644, src)
			g.file(dir+"/__pycache__/"+name+".cpython-311.pyc", 0o644, pyc(rng, src, rng.IntN(40) == 0))
		}
		for l := range p.libs {
			g.file(fmt.Sprintf("%s/_%s%d.cpython-311-x86_64-linux-gnu.so", dir, p.name, l), 0o755, solib(rng, p.libSize/3+rng.IntN(p.libSize*4/3)))
		}
		info := fmt.Sprintf("%s/%s-%d.0.dist-info", sp, p.name, p.version)
		g.dir(info)
		g.file(info+"/METADATA", 0o644, fmt.Appendf(nil, "Metadata-Version: 2.1\nName: %s\nVersion: %d.0\nSummary: %s\n\n%s", p.name, p.version, strings.Join(local[:8], " "), pySource(rng, local, 2000)))
		g.file(info+"/LICENSE", 0o644, []byte(licence))
		g.file(info+"/INSTALLER", 0o644, []byte("pip\n"))
		var record strings.Builder
		for m := range p.modules {
			fmt.Fprintf(&record, "%s/%s_%d.py,sha256=%016x,%d\n", p.name, local[m%len(local)], m, rng.Uint64(), rng.IntN(99999))
		}
		g.file(info+"/RECORD", 0o644, []byte(record.String()))
		if p.modules > 10 {
			g.file("bin/"+p.name, 0o755, fmt.Appendf(nil, "#!%s/bin/python\n# -*- coding: utf-8 -*-\nimport sys\nfrom %s.cli import main\nif __name__ == '__main__':\n    sys.exit(main())\n", testPrefix, p.name))
		}
	}
	return g.bytes
}

type venvWriter struct {
	t     testing.TB
	root  string
	bytes int64
}

func (g *venvWriter) path(name string) string { return filepath.Join(g.root, filepath.FromSlash(name)) }

func (g *venvWriter) dir(name string) {
	if err := os.MkdirAll(g.path(name), 0o755); err != nil {
		g.t.Fatal(err)
	}
}

func (g *venvWriter) file(name string, perm os.FileMode, data []byte) {
	if err := os.WriteFile(g.path(name), data, perm); err != nil {
		g.t.Fatal(err)
	}
	g.bytes += int64(len(data))
}

func (g *venvWriter) link(name, target string) {
	if err := os.Symlink(target, g.path(name)); err != nil {
		g.t.Fatal(err)
	}
}

func seedOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// common is the vocabulary every package shares, most frequent first.
var common = append(strings.Fields(`self return if None def in for not is import from
	the a to of and or else elif True False raise try except with as class
	len isinstance str int dict list kwargs args value name path os sys result
	data key items get append format super init type object error message`), words(rand.New(rand.NewPCG(7, 7)), 1500)...)

// words makes n identifiers.
func words(rng *rand.Rand, n int) []string {
	const letters = "etaoinshrdlcumwfgypbvkjxqz"
	out := make([]string, n)
	for i := range out {
		b := make([]byte, 3+rng.IntN(9))
		for j := range b {
			b[j] = letters[min(len(letters)-1, int(rng.ExpFloat64()*6))]
		}
		if rng.IntN(3) == 0 {
			b[rng.IntN(len(b))] = '_'
		}
		out[i] = string(b)
	}
	return out
}

// word picks from list with a Zipf-like bias to the front.
func word(rng *rand.Rand, list []string) string {
	return list[min(len(list)-1, int(rng.ExpFloat64()*float64(len(list))/12))]
}

const licence = `Copyright (c) The Authors.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions: the above copyright
notice and this permission notice shall be included in all copies or
substantial portions of the Software.
`

// pySource writes about size bytes of Python-like text.
func pySource(rng *rand.Rand, local []string, size int) []byte {
	b := make([]byte, 0, size+200)
	b = append(b, "# Copyright (c) The Authors. Licensed under the MIT licence.\n\"\"\"Module docstring.\"\"\"\nimport os\nimport sys\n\n"...)
	id := func() string {
		if rng.IntN(2) == 0 {
			return word(rng, local)
		}
		return word(rng, common)
	}
	for len(b) < size {
		switch rng.IntN(6) {
		case 0:
			b = fmt.Appendf(b, "\n\ndef %s(%s, %s=None):\n    \"\"\"%s %s %s %s.\"\"\"\n", id(), id(), id(), id(), id(), id(), id())
		case 1:
			b = fmt.Appendf(b, "    if %s is not None and %s.%s(%d):\n        return %s\n", id(), id(), id(), rng.IntN(100), id())
		case 2:
			b = fmt.Appendf(b, "    %s = %s.%s(%s, %q)\n", id(), id(), id(), id(), id())
		case 3:
			b = fmt.Appendf(b, "    for %s in %s(%s):\n        %s.append(%s[%d])\n", id(), id(), id(), id(), id(), rng.IntN(10))
		case 4:
			b = fmt.Appendf(b, "    # %s %s %s %s %s\n", id(), id(), id(), id(), id())
		default:
			b = fmt.Appendf(b, "\nclass %s(%s):\n    %s = %d\n", id(), id(), id(), rng.IntN(1000))
		}
	}
	return b
}

// pyc is a compiled module's likeness: a header, then opcodes and the
// source's names, and, when withPrefix, its path as co_filename.
func pyc(rng *rand.Rand, src []byte, withPrefix bool) []byte {
	b := []byte{0xa7, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0}
	b = append(b, byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(len(src)), byte(len(src)>>8), 0, 0)
	if withPrefix {
		b = append(b, testPrefix+"/lib/python3.11/site-packages/x.py"...)
	}
	fields := strings.Fields(string(src))
	for i := 0; i < len(src)*3/4; {
		if rng.IntN(2) == 0 && len(fields) > 0 {
			f := fields[rng.IntN(len(fields))]
			b = append(b, 0xda, byte(len(f)))
			b = append(b, f...)
			i += len(f) + 2
			continue
		}
		b = append(b, byte(100+min(31, int(rng.ExpFloat64()*6))), byte(min(255, int(rng.ExpFloat64()*4))))
		i += 2
	}
	return b
}

// instrs are machine code's likeness: short byte patterns, a few much
// more frequent than the rest.
var instrs = func() [][]byte {
	rng := rand.New(rand.NewPCG(8, 8))
	out := make([][]byte, 512)
	for i := range out {
		out[i] = make([]byte, 1+rng.IntN(6))
		for j := range out[i] {
			out[i][j] = byte(rng.Uint32())
		}
	}
	return out
}()

// solib is a compiled library's likeness of size bytes: zeros, tables of
// names, code from a skewed alphabet, and noise (compressed data,
// hashes).
func solib(rng *rand.Rand, size int) []byte {
	b := append(make([]byte, 0, size), 0x7f, 'E', 'L', 'F', 2, 1, 1)
	for len(b) < size {
		n := 4096 + rng.IntN(64<<10)
		switch rng.IntN(20) {
		case 0, 1, 2:
			b = append(b, make([]byte, n)...)
		case 3, 4, 5, 6:
			for end := len(b) + n; len(b) < end; {
				b = append(b, word(rng, common)...)
				b = append(b, 0)
			}
		case 18, 19:
			for range n {
				b = append(b, byte(rng.Uint32()))
			}
		default:
			for end := len(b) + n; len(b) < end; {
				b = append(b, instrs[min(len(instrs)-1, int(rng.ExpFloat64()*16))]...)
				if rng.IntN(4) == 0 {
					b = append(b, byte(rng.Uint32()))
				}
			}
		}
	}
	return b[:size]
}

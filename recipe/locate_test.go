package recipe

import "testing"

func TestLocatorLines(t *testing.T) {
	const src = `# a comment with [rez] and url = "x"
description = "a # not a comment [pip]"
schema = 'literal # [rez]'

[root] # [env]
local = false

multi = """
[rez]
url = "inside a string \"""
"""
lit = '''
[[extension]]
'''

[rez]
name = "rez" # trailing
flags = [
  "-E", # "]" [x]
  "-s",
  [1, 2],
]
"quoted.key" = 1
a."b c".'d' = 2
  url   =   "rez>=2.83"

[[extension]]
name = "foo"

[[extension]]
inline = { x = 1, y = [
  3,
] }
python = 3.10

[pip.env]
A = "1"

[[a.b]]
c = 1
[[a.b]]
c = 2
[[x]]
[[x.y]]
z = 1
[[x]]
[[x.y]]
z = 2
[x.w]
v = 3
`
	tests := []struct {
		path keyPath
		line int
	}{
		{keyPath{"description"}, 2},
		{keyPath{"schema"}, 3},
		{keyPath{"root"}, 5},
		{keyPath{"root", "local"}, 6},
		{keyPath{"root", "remote"}, 5}, // not defined: its table's line
		{keyPath{"root", "multi"}, 8},
		{keyPath{"root", "lit"}, 12},
		{keyPath{"rez"}, 16},
		{keyPath{"rez", "name"}, 17},
		{keyPath{"rez", "flags"}, 18},
		{keyPath{"rez", "flags", 0}, 19},
		{keyPath{"rez", "flags", 1}, 20},
		{keyPath{"rez", "flags", 2}, 21},
		{keyPath{"rez", "flags", 2, 1}, 21},
		{keyPath{"rez", "quoted.key"}, 23},
		{keyPath{"rez", "a"}, 24},
		{keyPath{"rez", "a", "b c", "d"}, 24},
		{keyPath{"rez", "url"}, 25},
		{keyPath{"extension"}, 27},
		{keyPath{"extension", 0}, 27},
		{keyPath{"extension", 0, "name"}, 28},
		{keyPath{"extension", 1}, 30},
		{keyPath{"extension", 1, "inline", "x"}, 31},
		{keyPath{"extension", 1, "inline", "y", 0}, 32},
		{keyPath{"extension", 1, "python"}, 34},
		{keyPath{"extension", 2, "python"}, 27}, // no third: the array
		{keyPath{"pip", "env"}, 36},
		{keyPath{"pip", "env", "A"}, 37},
		{keyPath{"pip"}, 36},
		{keyPath{"a", "b", 0, "c"}, 40},
		{keyPath{"a", "b", 1, "c"}, 42},
		{keyPath{"x", 0, "y", 0, "z"}, 45},
		{keyPath{"x", 1, "y", 0, "z"}, 48},
		{keyPath{"x", 1, "w", "v"}, 50},
		{keyPath{"nowhere"}, 0},
	}
	l := newLocator(src)
	for _, tt := range tests {
		if got := l.line(tt.path); got != tt.line {
			t.Errorf("line(%s) = %d, want %d", tt.path, got, tt.line)
		}
	}
	raws := []struct {
		path keyPath
		raw  string
	}{
		{keyPath{"extension", 1, "python"}, "3.10"},
		{keyPath{"rez", "url"}, `"rez>=2.83"`},
		{keyPath{"root", "local"}, "false"},
		{keyPath{"schema"}, "'literal # [rez]'"},
		{keyPath{"rez", "flags", 1}, `"-s"`},
	}
	for _, tt := range raws {
		if got, _ := l.raw(tt.path); got != tt.raw {
			t.Errorf("raw(%s) = %q, want %q", tt.path, got, tt.raw)
		}
	}
}

// The locator also runs on whatever the fuzzer makes of a recipe; it must
// stop on broken input.
func TestLocatorBrokenInput(t *testing.T) {
	for _, src := range []string{
		"", "[", "[[", "a = \"", "a = '''", "a = \"\"\"\\", "a = [", "a = {", "a = {b", "a.", "=", "]]]", "\"\\", "\ufeff[a]\nb = 1",
	} {
		newLocator(src)
	}
}

package recipe

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// locator knows the line where each key of a TOML document is defined, and
// the raw source text of each scalar value. BurntSushi/toml keeps key
// positions private, so this is a small scanner of its own: it follows
// [table] and [[array.of.tables]] headers (counting array elements), dotted
// and quoted keys, and skips over strings, multi-line strings, arrays and
// inline tables, so a '#' or a bracket inside a value never confuses it.
//
// It only runs on text that toml.Decode accepted, so it can be lenient:
// whatever it does not understand it steps over, one byte at a time.
type locator struct {
	src    string
	starts []int             // byte offset of the start of each line
	lines  map[string]int    // path → 1-based line of its first definition
	raws   map[string]string // path → raw source text of a scalar value
	arrays map[string]int    // array-of-tables path → elements seen so far
	pos    int
	// quirky asks for quirks: what the Python rezup's TOML reader (toml
	// 0.10.1) cannot read, or reads otherwise, in the text itself.
	quirky bool
	quirks []quirk
}

// quirk is a place where the text says what toml 0.10.1 reads otherwise.
type quirk struct {
	off int
	msg string
}

// keyPath is a path to a value: string elements are keys, int elements
// index an array (of tables, or inline).
type keyPath []any

func (kp keyPath) with(elems ...any) keyPath {
	out := make(keyPath, 0, len(kp)+len(elems))
	return append(append(out, kp...), elems...)
}

// withKeys appends dotted keys.
func (kp keyPath) withKeys(keys []string) keyPath {
	out := make(keyPath, 0, len(kp)+len(keys))
	out = append(out, kp...)
	for _, k := range keys {
		out = append(out, k)
	}
	return out
}

// String encodes a path unambiguously: keys are quoted, indexes are not.
func (kp keyPath) String() string {
	var b strings.Builder
	for i, e := range kp {
		if i > 0 {
			b.WriteByte('.')
		}
		switch e := e.(type) {
		case string:
			b.WriteString(strconv.Quote(e))
		case int:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e))
			b.WriteByte(']')
		}
	}
	return b.String()
}

func newLocator(src string) *locator { return scanLocator(src, false) }

// newQuirkLocator is a locator that notes quirks too (see PythonDifferences).
func newQuirkLocator(src string) *locator { return scanLocator(src, true) }

func scanLocator(src string, quirky bool) *locator {
	src = strings.TrimPrefix(src, "\ufeff")
	l := &locator{
		quirky: quirky,
		src:    src,
		starts: []int{0},
		lines:  map[string]int{},
		raws:   map[string]string{},
		arrays: map[string]int{},
	}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			l.starts = append(l.starts, i+1)
		}
	}
	l.scan()
	return l
}

// line returns the line where path is defined or, when it is not (a value
// that came from the defaults, an element of an array on one line), the
// line of its nearest defined parent. It returns 0 when nothing matches.
func (l *locator) line(path keyPath) int {
	for n := len(path); n > 0; n-- {
		if ln, ok := l.lines[path[:n].String()]; ok {
			return ln
		}
	}
	return 0
}

// raw returns the source text of the scalar value at path.
func (l *locator) raw(path keyPath) (string, bool) {
	s, ok := l.raws[path.String()]
	return s, ok
}

func (l *locator) lineAt(off int) int {
	return sort.Search(len(l.starts), func(i int) bool { return l.starts[i] > off })
}

func (l *locator) define(path keyPath, off int) {
	k := path.String()
	if _, ok := l.lines[k]; !ok {
		l.lines[k] = l.lineAt(off)
	}
}

func (l *locator) peek(s string) bool { return strings.HasPrefix(l.src[l.pos:], s) }

func (l *locator) eof() bool { return l.pos >= len(l.src) }

// skipSpace skips blanks, and newlines and comments when multiline is set.
func (l *locator) skipSpace(multiline bool) {
	for !l.eof() {
		switch c := l.src[l.pos]; {
		case c == ' ' || c == '\t' || c == '\r':
			l.pos++
		case c == '\n' && multiline:
			l.pos++
		case c == '#' && multiline:
			l.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the start of the next line.
func (l *locator) skipLine() {
	if i := strings.IndexByte(l.src[l.pos:], '\n'); i >= 0 {
		l.pos += i + 1
	} else {
		l.pos = len(l.src)
	}
}

func (l *locator) scan() {
	var table keyPath // the current table, with array indexes resolved
	for {
		l.skipSpace(true)
		if l.eof() {
			return
		}
		start := l.pos
		if l.src[l.pos] == '[' {
			array := l.peek("[[")
			if array {
				l.pos += 2
			} else {
				l.pos++
			}
			l.skipSpace(false)
			keys := l.key(false)
			table = l.resolve(keys, array, start)
			l.skipLine()
			continue
		}
		keys := l.key(true)
		if len(keys) == 0 {
			l.pos = start + 1 // not a key: step over it
			continue
		}
		for i := range keys {
			l.define(table.withKeys(keys[:i+1]), start)
		}
		l.skipSpace(false)
		if !l.eof() && l.src[l.pos] == '=' {
			l.pos++
			l.skipSpace(false)
			l.value(table.withKeys(keys))
		}
		l.skipLine()
	}
}

// resolve turns header keys into a table path, inserting the current index
// after every array of tables, and counts a new element for [[headers]].
func (l *locator) resolve(keys []string, array bool, off int) keyPath {
	var path keyPath
	for i, k := range keys {
		path = path.with(k)
		last := i == len(keys)-1
		if last && array {
			l.define(path, off)
			n := l.arrays[path.String()]
			l.arrays[path.String()] = n + 1
			path = path.with(n)
			break
		}
		l.define(path, off) // [a.b] defines a too, unless it came earlier
		if n, ok := l.arrays[path.String()]; ok && n > 0 {
			path = path.with(n - 1)
		}
	}
	if len(path) > 0 {
		l.define(path, off)
	}
	return path
}

// key reads a dotted key (a.b."c d".'e') and leaves pos after it. A
// quirky locator notes white space around its dots when spacedDots is set
// (toml 0.10.1 reads them in headers only).
func (l *locator) key(spacedDots bool) []string {
	var keys []string
	for {
		before := l.pos
		l.skipSpace(false)
		if l.quirky && spacedDots && len(keys) > 0 && l.pos > before {
			l.quirk(before, "white space after the '.' of a dotted key: "+pyCannotRead)
		}
		if l.eof() {
			return keys
		}
		switch c := l.src[l.pos]; c {
		case '"', '\'':
			start := l.pos
			l.str()
			keys = append(keys, unquoteKey(l.src[start:l.pos]))
		default:
			start := l.pos
			for !l.eof() && !strings.ContainsRune(" \t\r\n.=[]\"'#,{}", rune(l.src[l.pos])) {
				l.pos++
			}
			if l.pos == start {
				return keys
			}
			keys = append(keys, l.src[start:l.pos])
		}
		end := l.pos
		l.skipSpace(false)
		if l.eof() || l.src[l.pos] != '.' {
			return keys
		}
		if l.quirky && spacedDots && l.pos > end {
			l.quirk(end, fmt.Sprintf("white space before the '.' of a dotted key: Python nodes read the key %q with the blanks after it, another key", keys[len(keys)-1]))
		}
		l.pos++
	}
}

func (l *locator) quirk(off int, msg string) {
	l.quirks = append(l.quirks, quirk{off, msg})
}

// unquoteKey decodes a quoted key. Literal keys are taken as they are; a
// basic key that strconv cannot read (a TOML-only escape such as \e) is
// kept raw, which only costs that key its line number.
func unquoteKey(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return s[1 : len(s)-1]
	}
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// value steps over one value, recording the keys of inline tables, the
// elements of arrays and the raw text of scalars under path.
func (l *locator) value(path keyPath) {
	if l.eof() {
		return
	}
	start := l.pos
	switch l.src[l.pos] {
	case '"', '\'':
		l.str()
		l.raws[path.String()] = l.src[start:l.pos]
	case '[':
		l.pos++
		for i := 0; ; {
			l.skipSpace(true)
			if l.eof() {
				return
			}
			switch l.src[l.pos] {
			case ']':
				l.pos++
				return
			case ',':
				l.pos++
				i++
			default:
				elem := path.with(i)
				l.define(elem, l.pos)
				before := l.pos
				l.value(elem)
				if l.pos == before {
					l.pos++
				}
			}
		}
	case '{':
		l.pos++
		comma := false // the last thing read was a ','
		for {
			l.skipSpace(true)
			if l.eof() {
				return
			}
			switch l.src[l.pos] {
			case '}':
				l.pos++
				if l.quirky && strings.Contains(l.src[start:l.pos], "\n") {
					l.quirk(start, "an inline table over several lines: Python nodes cannot read this recipe, or lose what the table holds")
				} else if l.quirky && comma {
					l.quirk(start, "an inline table with a trailing comma: "+pyCannotRead)
				}
				return
			case ',':
				l.pos++
				comma = true
				continue
			}
			comma = false
			kstart := l.pos
			keys := l.key(true)
			if len(keys) == 0 {
				l.pos = kstart + 1
				continue
			}
			for i := range keys {
				l.define(path.withKeys(keys[:i+1]), kstart)
			}
			l.skipSpace(true)
			if !l.eof() && l.src[l.pos] == '=' {
				l.pos++
				l.skipSpace(true)
				l.value(path.withKeys(keys))
			}
		}
	default:
		for !l.eof() && !strings.ContainsRune(" \t\r\n,]}#", rune(l.src[l.pos])) {
			l.pos++
		}
		if l.pos > start {
			l.raws[path.String()] = l.src[start:l.pos]
		}
	}
}

// str steps over a basic, literal or multi-line string starting at pos.
func (l *locator) str() {
	start := l.pos
	q := l.src[l.pos]
	triple := strings.Repeat(string(q), 3)
	if l.peek(triple) {
		l.pos += 3
		for !l.eof() {
			if q == '"' && l.src[l.pos] == '\\' {
				l.pos += 2
				continue
			}
			if l.peek(triple) {
				l.pos += 3
				// Up to two more quotes belong to the content: """a""""".
				n := 0
				for ; n < 2 && !l.eof() && l.src[l.pos] == q; n++ {
					l.pos++
				}
				if l.quirky {
					if n > 0 {
						l.quirk(start, "a multi-line string closed by more than three quotes: "+pyCannotRead)
					}
					// Past a line break right after the opening quotes,
					// which both readers drop, toml 0.10 reads \r\n as \n.
					if body := strings.TrimPrefix(l.src[start+3:l.pos], "\r\n"); strings.Contains(body, "\r") {
						l.quirk(start, "a multi-line string with \\r\\n line breaks: Python nodes read its line breaks otherwise")
					}
					l.escapes(start, q)
				}
				return
			}
			l.pos++
		}
		l.pos = min(l.pos, len(l.src))
		return
	}
	if l.quirky {
		defer l.escapes(start, q)
	}
	l.pos++
	for !l.eof() {
		switch c := l.src[l.pos]; {
		case c == '\\' && q == '"':
			l.pos += 2
		case c == q:
			l.pos++
			return
		case c == '\n':
			return // unterminated; toml.Decode would have refused it
		default:
			l.pos++
		}
	}
	l.pos = min(l.pos, len(l.src))
}

// escapes notes the escapes of the basic string from start to pos that
// toml 0.10.1 refuses: \e and \xHH, which TOML 1.1 added.
func (l *locator) escapes(start int, q byte) {
	if q != '"' {
		return
	}
	s := l.src[start:min(l.pos, len(l.src))]
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] == 'e' || s[i+1] == 'x' {
			l.quirk(start, fmt.Sprintf("a string with the escape \\%c: %s", s[i+1], pyCannotRead))
			return
		}
		i++
	}
}

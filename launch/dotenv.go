package launch

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// KV is one binding of a dotenv file, in file order.
type KV struct {
	Key   string
	Value string
	// Line is the 1-based line the binding starts on.
	Line int
}

// SyntaxError is a dotenv statement that python-dotenv could not parse
// either. File is "" when the text did not come from a named file.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.File != "" {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
}

// ParseDotenv reads dotenv text with python-dotenv's syntax: KEY=VALUE,
// an optional `export ` prefix, '#' comment lines and ` #` comments after
// unquoted values, single-quoted (literal; \' and \\ escapes) and
// double-quoted (\n \t \" \\ … escapes) values that may span lines, and
// unquoted values (trimmed). A bare KEY without '=' is skipped, as
// python-dotenv skips it. Where python-dotenv would warn that it "could not
// parse statement starting at line N" and drop the statement, ParseDotenv
// returns a *SyntaxError for that line instead: an unterminated quote, text
// after a closing quote, or a name without '='.
func ParseDotenv(r io.Reader) ([]KV, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read dotenv: %w", err)
	}
	p := &dotenvParser{s: strings.TrimPrefix(string(b), "\ufeff"), line: 1}
	var out []KV
	for p.pos < len(p.s) {
		kv, ok, err := p.binding()
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, kv)
		}
	}
	return out, nil
}

// dotenvParser follows python-dotenv's parser.py regex by regex, so that
// files written for the seed mean the same here.
type dotenvParser struct {
	s    string
	pos  int
	line int
}

func isHSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' || c == '\v' }
func isSpace(c byte) bool  { return isHSpace(c) || c == '\n' || c == '\r' }

func (p *dotenvParser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

// advance moves to pos, counting the line breaks (\n, \r\n, \r) passed.
func (p *dotenvParser) advance(pos int) {
	for i := p.pos; i < pos; i++ {
		if p.s[i] == '\n' || (p.s[i] == '\r' && (i+1 >= len(p.s) || p.s[i+1] != '\n')) {
			p.line++
		}
	}
	p.pos = pos
}

func (p *dotenvParser) skipHSpace() int {
	i := p.pos
	for i < len(p.s) && isHSpace(p.s[i]) {
		i++
	}
	n := i - p.pos
	p.pos = i
	return n
}

func (p *dotenvParser) binding() (KV, bool, error) {
	i := p.pos
	for i < len(p.s) && isSpace(p.s[i]) {
		i++
	}
	p.advance(i)
	if p.pos >= len(p.s) {
		return KV{}, false, nil
	}
	kv := KV{Line: p.line}
	fail := func(msg string) (KV, bool, error) {
		return KV{}, false, &SyntaxError{Line: kv.Line, Msg: msg}
	}

	if rest := p.s[p.pos:]; strings.HasPrefix(rest, "export") && len(rest) > 6 && isHSpace(rest[6]) {
		p.pos += 6
		p.skipHSpace()
	}

	hasKey := true
	switch p.peek() {
	case '#':
		hasKey = false
	case '\'':
		end := strings.IndexByte(p.s[p.pos+1:], '\'')
		if end <= 0 {
			return fail("unterminated or empty quoted name")
		}
		kv.Key = p.s[p.pos+1 : p.pos+1+end]
		p.advance(p.pos + end + 2)
	default:
		j := p.pos
		for j < len(p.s) && p.s[j] != '=' && p.s[j] != '#' && !isSpace(p.s[j]) {
			j++
		}
		if j == p.pos {
			return fail("missing name before '='")
		}
		kv.Key = p.s[p.pos:j]
		p.pos = j
	}
	p.skipHSpace()

	hasValue := false
	quoted := false
	if p.peek() == '=' {
		p.pos++
		spaced := p.skipHSpace() > 0
		hasValue = true
		switch q := p.peek(); q {
		case '\'', '"':
			content, err := p.quoted(q)
			if err != nil {
				return fail(err.Error())
			}
			quoted = true
			if q == '\'' {
				kv.Value = unescapeSingle(content)
			} else {
				kv.Value = unescapeDouble(content)
			}
		case 0, '\n', '\r':
		default:
			kv.Value = p.unquoted(spaced)
		}
	}

	// An optional comment, then the end of the line.
	p.skipHSpace()
	if p.peek() == '#' {
		for p.pos < len(p.s) && p.s[p.pos] != '\n' && p.s[p.pos] != '\r' {
			p.pos++
		}
	}
	switch {
	case p.pos >= len(p.s):
	case strings.HasPrefix(p.s[p.pos:], "\r\n"):
		p.advance(p.pos + 2)
	case p.s[p.pos] == '\n' || p.s[p.pos] == '\r':
		p.advance(p.pos + 1)
	case quoted:
		return fail(fmt.Sprintf("unexpected text after the closing quote of %s", kv.Key))
	default:
		return fail(fmt.Sprintf("expected '=' after %s", kv.Key))
	}
	return kv, hasKey && hasValue, nil
}

// quoted reads a value quoted with q starting at p.pos. It matches what
// python-dotenv's regex `q((?:\\q|[^q])*)q` matches, backtracking included:
// \q does not close the value, unless no closing quote follows anywhere,
// in which case the last \q does (so "C:\dir\" at the end of a file is
// `C:\dir\`).
func (p *dotenvParser) quoted(q byte) (string, error) {
	start := p.pos + 1
	lastPair := -1
	for i := start; i < len(p.s); i++ {
		switch p.s[i] {
		case '\\':
			if i+1 < len(p.s) && p.s[i+1] == q {
				lastPair = i + 1
				i++
			}
		case q:
			p.advance(i + 1)
			return p.s[start:i], nil
		}
	}
	if lastPair < 0 {
		kind := "double"
		if q == '\'' {
			kind = "single"
		}
		return "", fmt.Errorf("unterminated %s-quoted value", kind)
	}
	p.advance(lastPair + 1)
	return p.s[start:lastPair], nil
}

// unquoted reads the rest of the line, drops a comment that follows
// whitespace, and trims trailing whitespace.
func (p *dotenvParser) unquoted(spaced bool) string {
	j := p.pos
	for j < len(p.s) && p.s[j] != '\n' && p.s[j] != '\r' {
		j++
	}
	v := p.s[p.pos:j]
	p.pos = j
	if spaced && strings.HasPrefix(v, "#") {
		return "" // `KEY=  # comment`
	}
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && isHSpace(v[i-1]) {
			v = v[:i]
			break
		}
	}
	return strings.TrimRight(v, " \t\f\v")
}

func unescapeSingle(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '\\' || s[i+1] == '\'') {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unescapeDouble(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			if r, ok := doubleEscape(s[i+1]); ok {
				b.WriteByte(r)
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func doubleEscape(c byte) (byte, bool) {
	switch c {
	case '\\', '\'', '"':
		return c, true
	case 'a':
		return '\a', true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	case 'v':
		return '\v', true
	}
	return 0, false
}

// expand resolves python-dotenv's ${VAR} and ${VAR:-default}. As there, a
// variable that is set but empty stays empty (the default is for unset
// variables only), $VAR without braces is literal, and a malformed ${…}
// is left as it is.
func expand(v string, lookup func(string) (string, bool)) string {
	if !strings.Contains(v, "${") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		j := strings.Index(v[i:], "${")
		if j < 0 {
			b.WriteString(v[i:])
			break
		}
		j += i
		b.WriteString(v[i:j])
		name, def, end, ok := parseVar(v, j)
		if !ok {
			b.WriteByte('$')
			i = j + 1
			continue
		}
		if val, found := lookup(name); found {
			b.WriteString(val)
		} else {
			b.WriteString(def)
		}
		i = end
	}
	return b.String()
}

// parseVar matches `\$\{([^}:]*)(?::-([^}]*))?\}` at v[j:].
func parseVar(v string, j int) (name, def string, end int, ok bool) {
	k := j + 2
	for k < len(v) && v[k] != '}' && v[k] != ':' {
		k++
	}
	switch {
	case k >= len(v):
		return "", "", 0, false
	case v[k] == '}':
		return v[j+2 : k], "", k + 1, true
	case k+1 < len(v) && v[k+1] == '-':
		d := strings.IndexByte(v[k+2:], '}')
		if d < 0 {
			return "", "", 0, false
		}
		return v[j+2 : k], v[k+2 : k+2+d], k + 2 + d + 1, true
	}
	return "", "", 0, false
}

package recipe

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The .env syntax is python-dotenv's (0.21 to 1.x, the versions the Python
// rezup 2.6 runs with), followed regex by regex: the Python rezup read both
// the files [dotenv] names and [env] itself with it (it writes [env] out
// with configparser as `NAME = value` lines and reads them back), so what
// a recipe means at launch is what python-dotenv makes of it.

// KV is one binding of a dotenv file, in file order.
type KV struct {
	Key   string
	Value string
	// Line is the 1-based line the binding's name is on.
	Line int
	// NoValue marks a name without '=': python-dotenv binds it to None,
	// which sets nothing, and which a later ${NAME} of the same file reads
	// as empty.
	NoValue bool
}

// DotenvError is a dotenv statement that python-dotenv could not parse
// either (it warns that it "could not parse statement starting at line N"
// and drops it). File is "" when the text did not come from a named file.
type DotenvError struct {
	File string
	Line int
	Msg  string
}

func (e *DotenvError) Error() string {
	if e.File != "" {
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
}

// ParseDotenv reads dotenv text with python-dotenv's syntax: KEY=VALUE,
// an optional `export ` prefix, '#' comment lines and comments after
// whitespace in unquoted values, single-quoted (\' and \\ escapes) and
// double-quoted (\n \t \" \\ … escapes) values that may span lines, and
// unquoted values (trimmed). Whitespace is Python's (Unicode's, and
// \x1c to \x1f). A bare NAME without '=' is a KV with NoValue. Where
// python-dotenv would drop a statement it cannot parse, ParseDotenv returns
// a *DotenvError for that line instead: an unterminated quote, text after
// a closing quote, or a name without '='.
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

// pySpace is Python's str.isspace, which is also what `\s` matches in its
// str regexes: Unicode's white space, and the separators \x1c to \x1f.
func pySpace(r rune) bool { return unicode.IsSpace(r) || 0x1c <= r && r <= 0x1f }

// pyBlank is `[^\S\r\n]`: white space that does not end a line.
func pyBlank(r rune) bool { return r != '\r' && r != '\n' && pySpace(r) }

// dotenvParser follows python-dotenv's parser.py regex by regex, so that
// files and [env] values written for the seed mean the same here.
type dotenvParser struct {
	s    string
	pos  int
	line int
	// escapedClose is set when the last quoted value was closed by an
	// escaped quote, python-dotenv's regex backtracking because no
	// quote closes it: what it reads then depends on the text after it.
	escapedClose bool
}

func (p *dotenvParser) peek() rune {
	if p.pos >= len(p.s) {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.pos:])
	return r
}

// skip moves past every rune in is, and says how many bytes it passed.
func (p *dotenvParser) skip(is func(rune) bool) int {
	i := p.pos
	for i < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[i:])
		if !is(r) {
			break
		}
		i += n
	}
	n := i - p.pos
	p.advance(i)
	return n
}

// advance moves to pos, counting the line breaks (\r\n, \n, \r) passed.
func (p *dotenvParser) advance(pos int) {
	for i := p.pos; i < pos; i++ {
		if p.s[i] == '\n' || (p.s[i] == '\r' && (i+1 >= len(p.s) || p.s[i+1] != '\n')) {
			p.line++
		}
	}
	p.pos = pos
}

// binding reads one statement: ok is false for a comment or blank text.
func (p *dotenvParser) binding() (KV, bool, error) {
	p.skip(pySpace)
	if p.pos >= len(p.s) {
		return KV{}, false, nil
	}
	kv := KV{Line: p.line}
	fail := func(msg string) (KV, bool, error) {
		return KV{}, false, &DotenvError{Line: kv.Line, Msg: msg}
	}

	// `(?:export[^\S\r\n]+)?`
	if rest := p.s[p.pos:]; strings.HasPrefix(rest, "export") {
		if r, _ := utf8.DecodeRuneInString(rest[6:]); len(rest) > 6 && pyBlank(r) {
			p.pos += 6
			p.skip(pyBlank)
		}
	}

	hasKey := true
	switch p.peek() {
	case '#':
		hasKey = false
	case '\'':
		// `'([^']+)'`
		end := strings.IndexByte(p.s[p.pos+1:], '\'')
		if end <= 0 {
			return fail("unterminated or empty quoted name")
		}
		kv.Key = p.s[p.pos+1 : p.pos+1+end]
		p.advance(p.pos + end + 2)
	default:
		// `([^=\#\s]+)`
		start := p.pos
		p.skip(func(r rune) bool { return r != '=' && r != '#' && !pySpace(r) })
		if p.pos == start {
			return fail("missing name before '='")
		}
		kv.Key = p.s[start:p.pos]
	}
	p.skip(pyBlank)

	kv.NoValue = true
	quoted := false
	if p.peek() == '=' {
		p.pos++
		p.skip(pyBlank)
		kv.NoValue = false
		switch q := p.peek(); q {
		case '\'', '"':
			content, err := p.quoted(byte(q))
			if err != nil {
				return fail(err.Error())
			}
			quoted = true
			if q == '\'' {
				kv.Value = unescapeDotenv(content, "\\'")
			} else {
				kv.Value = unescapeDotenv(content, "\\'\"abfnrtv")
			}
		case -1, '\n', '\r':
		default:
			kv.Value = p.unquoted()
		}
	}

	// `(?:[^\S\r\n]*#[^\r\n]*)?` then `[^\S\r\n]*(?:\r\n|\n|\r|$)`.
	p.skip(pyBlank)
	if p.peek() == '#' {
		p.skip(func(r rune) bool { return r != '\r' && r != '\n' })
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
	return kv, hasKey, nil
}

// quoted reads a value quoted with q starting at p.pos. It matches what
// python-dotenv's regex `q((?:\\q|[^q])*)q` matches, backtracking included:
// \q does not close the value, unless no closing quote follows anywhere,
// in which case the last \q does (so "C:\dir\" at the end of a file is
// `C:\dir\`).
func (p *dotenvParser) quoted(q byte) (string, error) {
	start := p.pos + 1
	lastPair := -1
	p.escapedClose = false
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
	p.escapedClose = true
	p.advance(lastPair + 1)
	return p.s[start:lastPair], nil
}

// unquoted reads the rest of the line as python-dotenv does:
// `re.sub(r"\s+#.*", "", part).rstrip()`.
func (p *dotenvParser) unquoted() string {
	start := p.pos
	j := p.pos
	for j < len(p.s) && p.s[j] != '\n' && p.s[j] != '\r' {
		j++
	}
	v := p.s[start:j]
	p.pos = j
	// The first '#' after white space starts a comment, the white space
	// included; a '#' at the start of the value does not.
	blankFrom := -1
	for i, r := range v {
		switch {
		case pySpace(r):
			if blankFrom < 0 {
				blankFrom = i
			}
		case r == '#' && blankFrom >= 0:
			v = v[:blankFrom]
			return strings.TrimRightFunc(v, pySpace)
		default:
			blankFrom = -1
		}
	}
	return strings.TrimRightFunc(v, pySpace)
}

// unescapeDotenv decodes `\\[<escapes>]` as python-dotenv's
// decode_escapes does, left to right: \\, \', and for double quotes \" \a
// \b \f \n \r \t \v too.
func unescapeDotenv(s, escapes string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(escapes, s[i+1]) >= 0 {
			i++
			switch c := s[i]; c {
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'v':
				b.WriteByte('\v')
			default: // \\ \' \"
				b.WriteByte(c)
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

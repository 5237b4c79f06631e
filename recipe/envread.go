package recipe

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The Python rezup wrote [env] out with configparser, one `NAME = value`
// line each, and read it back with python-dotenv: that reading is what
// an [env] value means at launch, on both rezups.

// readEnvLine reads `name = value`, the line the Python rezup's
// configparser writes for an [env] entry, as python-dotenv reads it. ok is
// false when python-dotenv does not read it as exactly that one entry, or
// reads it differently depending on the lines around it: a line break in
// the name or value, a name it reads otherwise (white space, '#', a
// leading quote, "export"), an unterminated quote or one closed only by an
// escaped quote, or text after a closing quote.
func readEnvLine(name, value string) (string, bool) {
	if strings.ContainsAny(name, "\r\n") || strings.ContainsAny(value, "\r\n") {
		return "", false
	}
	line := name + " = " + value + "\n"
	p := &dotenvParser{s: line, line: 1}
	kv, ok, err := p.binding()
	if err != nil || !ok || kv.NoValue || kv.Key != name || p.pos != len(line) || p.escapedClose {
		return "", false
	}
	return kv.Value, true
}

// readingChange says in a few words why python-dotenv read s as read.
func readingChange(s, read string) string {
	switch {
	case strings.TrimRightFunc(s, pySpace) == read || strings.TrimFunc(s, pySpace) == read:
		return "leading and trailing blanks are dropped"
	case strings.Contains(s, "#"):
		return "a # after white space starts a comment"
	}
	return "the value is read as a .env line"
}

// quoteInside is s quoted for python-dotenv, as TOML: '"s"' (or "'s'"
// when s holds a double quote).
func quoteInside(s string) string {
	if !strings.Contains(s, `"`) && !strings.Contains(s, `\`) && !strings.Contains(s, "'") {
		return `'"` + s + `"'`
	}
	if !strings.Contains(s, "'") && !strings.Contains(s, `\`) {
		return strconv.Quote("'" + s + "'")
	}
	return "a quoted value"
}

// keycre is configparser's BasicInterpolation._KEYCRE, compiled on first use.
var keycre = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`%\(([^)]+)\)s`) })

// configparserRefuses says whether configparser's BasicInterpolation
// refuses s (ValueError: invalid interpolation syntax): a % that is
// neither %% nor part of %(name)s. The Python rezup's launch then fails.
func configparserRefuses(s string) bool {
	if !strings.Contains(s, "%") {
		return false
	}
	t := strings.ReplaceAll(s, "%%", "")
	return strings.Contains(keycre().ReplaceAllString(t, ""), "%")
}

package recipe

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The Python rezup 2.6 reads a recipe with its own TOML reader (a vendored
// toml 0.10.1, TOML 0.5 with bugs of its own), rewrites it with that
// library's writer into every revision it pulls, and reads [env] through
// configparser and python-dotenv. What it reads differently from this
// rezup is said here, for `rezup add --remote`: a remote root that Python
// nodes still follow must hold recipes both read the same way.

// PythonDifference is one thing the Python rezup 2.6 reads differently
// in a recipe, or cannot read; Msg says what Python nodes do with it.
type PythonDifference struct {
	File string
	Line int
	Msg  string
}

func (d PythonDifference) String() string {
	return (&Error{File: d.File, Line: d.Line, Msg: d.Msg}).Error()
}

// PythonDifferences reports, in line order, what Python rezup 2.6 nodes
// read differently from this rezup in the recipe data (file names it),
// as the frozen recipe of a remote revision they pull, or cannot read:
//
//   - what its TOML reader cannot read, so that nothing of the recipe is
//     read there: an array whose items are not all of one type
//     (["a", 2], [1, 2.0]), the escapes \e and \xHH, a multi-line string
//     closed by four or five quotes, an inline table over several lines
//     or with a trailing comma, a byte-order mark, white space around the
//     '.' of a dotted key;
//   - strings it changes, or cannot read back, once it has rewritten the
//     recipe into the revision it pulls: a backslash followed by x,
//     control characters (but tab and line breaks), U+007F to U+00A0 and
//     U+00AD; and line breaks in multi-line strings written with \r\n;
//   - in [env]: a list (Python spells it ['a', 'b'], this rezup joins it
//     with the path list separator), a '%' configparser refuses (the
//     launch fails there), and a name or value python-dotenv does not
//     read back as that one variable (a line break, an unclosed or
//     misplaced quote, a name with white space or '#');
//   - what fails its build: a number or boolean in [pip.env], a [rez]
//     name other than "rez", a [shared] name without requirements.
//
// Keys it merely ignores ([cache], [build], [init], schema) are not
// differences, and neither are numbers and booleans in [env], which both
// spell as Python's str() does. The list is what is known of the Python
// rezup 2.6 and toml 0.10.1; their readers have more quirks than these. A
// recipe that is not TOML is an *Error.
func PythonDifferences(file string, data []byte) ([]PythonDifference, error) {
	m, keys, err := decode(file, data)
	if err != nil {
		return nil, err
	}
	c := &pyCheck{
		file: file,
		loc:  newQuirkLocator(string(data)),
		p:    &parser{order: keys},
	}
	if bytes.HasPrefix(data, []byte("\ufeff")) {
		c.add(1, "the file starts with a byte-order mark: "+pyCannotRead)
	}
	for _, q := range c.loc.quirks {
		c.add(c.loc.lineAt(q.off), q.msg)
	}
	c.value(nil, m)
	if t, ok := m["env"].(map[string]any); ok {
		c.env(t)
	}
	if pip, ok := m["pip"].(map[string]any); ok {
		if t, ok := pip["env"].(map[string]any); ok {
			for _, k := range sortedKeys(t) {
				if _, ok := t[k].(string); !ok && isScalar(t[k]) {
					kp := keyPath{"pip", "env", k}
					c.add(c.loc.line(kp), fmt.Sprintf("%s = %s is not a string: Python nodes fail to build the revision (pip's environment takes strings); write it as %s",
						name(kp), c.raw(kp, t[k]), strconv.Quote(tomlText(t[k]))))
				}
			}
		}
	}
	if rez, ok := m["rez"].(map[string]any); ok {
		if n, ok := rez["name"].(string); ok && n != "rez" {
			kp := keyPath{"rez", "name"}
			c.add(c.loc.line(kp), fmt.Sprintf(`%s is %q: Python nodes fail to build the revision (their rezup installs rez under the name "rez" only)`, name(kp), n))
		}
	}
	if sh, ok := m["shared"].(map[string]any); ok {
		req, _ := asList(sh["requires"])
		if n, ok := sh["name"].(string); ok && n != "" && len(req) == 0 {
			kp := keyPath{"shared", "name"}
			c.add(c.loc.line(kp), fmt.Sprintf("[shared] %q has no requires: Python nodes fail to build the revision (their rezup runs pip with no requirement for it)", n))
		}
	}
	slices.SortStableFunc(c.diffs, func(a, b PythonDifference) int { return cmp.Compare(lineOrder(a.Line), lineOrder(b.Line)) })
	return c.diffs, nil
}

// pyCannotRead ends a difference that stops Python nodes from reading the
// recipe at all.
const pyCannotRead = "Python nodes cannot read this recipe at all (toml 0.10 fails on it)"

type pyCheck struct {
	file  string
	loc   *locator
	p     *parser // for inOrder
	diffs []PythonDifference
	mixed map[string]bool // paths of arrays that are not homogeneous
}

func (c *pyCheck) add(line int, msg string) {
	c.diffs = append(c.diffs, PythonDifference{File: c.file, Line: line, Msg: msg})
}

// raw is the value at path as the recipe writes it.
func (c *pyCheck) raw(path keyPath, v any) string {
	if s, ok := c.loc.raw(path); ok {
		return s
	}
	return tomlText(v)
}

// value walks the document: every array's item types, and every string
// (keys included) through the Python rezup's rewrite of the recipe.
func (c *pyCheck) value(path keyPath, v any) {
	switch v := v.(type) {
	case string:
		c.rewritten(path, "", v)
	case map[string]any:
		for _, k := range sortedKeys(v) {
			c.rewritten(path.with(k), k, k)
			c.value(path.with(k), v[k])
		}
	case []map[string]any:
		for i, t := range v {
			c.value(path.with(i), t)
		}
	case []any:
		kinds := []string{}
		for i, e := range v {
			if k := pyKind(e); !slices.Contains(kinds, k) {
				kinds = append(kinds, k)
			}
			c.value(path.with(i), e)
		}
		if len(kinds) > 1 {
			if c.mixed == nil {
				c.mixed = map[string]bool{}
			}
			c.mixed[path.String()] = true
			c.add(c.loc.line(path), fmt.Sprintf("%s mixes %s in one array: Python nodes cannot read this recipe at all (toml 0.10: \"Not a homogeneous array\")", name(path), andList(kinds)))
		}
	}
}

// pyKind is the type toml 0.10 requires every item of an array to share.
func pyKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date"
	}
	return fmt.Sprintf("a %T", v)
}

// pythonUses says whether the Python rezup reads the value at path of a
// revision's recipe (it reads [root] from the home recipe, and ignores
// keys it does not know).
func pythonUses(path keyPath) bool {
	top, _ := path[0].(string)
	key := func(i int) string {
		if i < len(path) {
			s, _ := path[i].(string)
			return s
		}
		return ""
	}
	switch top {
	case "env", "dotenv":
		return true
	case "pip":
		return key(1) == "options" || key(1) == "env"
	case "rez":
		return slices.Contains(toolKeys, key(1))
	case "extension":
		return slices.Contains(toolKeys, key(2))
	case "shared":
		return key(1) == "name" || key(1) == "requires"
	}
	return false
}

// rewritten reports a string (key k, or a value when k is "") that the
// Python rezup's toml writer spells so that its reader reads something
// else, or fails: it writes Python's repr of the string with its \x
// escapes turned into \u00 (and a backslash before an x into nonsense).
func (c *pyCheck) rewritten(path keyPath, k, s string) {
	what := name(path)
	if k != "" {
		what = "the key " + strconv.Quote(k)
	}
	if strings.Contains(s, `\x`) {
		c.add(c.loc.line(path), fmt.Sprintf(`%s holds a backslash followed by x: Python nodes fail to pull the revision (their rezup rewrites the recipe into it and cannot read that back); write the backslash as / where it is a path`, what))
		return
	}
	if !pythonUses(path) {
		return // changed where the Python rezup does not look
	}
	for _, r := range s {
		if r < 0x100 && r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || 0x7f <= r && r <= 0xa0 || r == 0xad) {
			c.add(c.loc.line(path), fmt.Sprintf("%s holds the character %U: Python nodes read it as the text x%02x once they have pulled the revision (their rezup rewrites the recipe into it)", what, r, r))
			return
		}
	}
}

// env checks [env], in file order.
func (c *pyCheck) env(t map[string]any) {
	sep := string(os.PathListSeparator)
	for _, k := range c.p.inOrder([]string{"env"}, t) {
		kp := keyPath{"env", k}
		line := c.loc.line(kp)
		v := t[k]
		if list, ok := asList(v); ok {
			if c.mixed[kp.String()] {
				continue // said: nothing of the recipe is read there
			}
			ours, ok := joinList(list, sep)
			if !ok {
				continue // not a list of scalars: a recipe error, not a difference
			}
			theirs := pyReprList(list)
			if read, ok := readEnvLine(k, theirs); ok {
				theirs = read
			}
			if read, ok := readEnvLine(k, ours); ok {
				ours = read
			}
			c.add(line, fmt.Sprintf("%s is a list: Python nodes set %s to %s (Python's spelling of a list), this rezup to %s", name(kp), k, strconv.Quote(theirs), strconv.Quote(ours)))
			continue
		}
		s, ok := pyStr(v)
		if !ok {
			continue // a table or a date: a recipe error, not a difference
		}
		if configparserRefuses(s) {
			c.add(line, fmt.Sprintf("%s = %s holds a %% that configparser refuses: Python nodes fail to launch the revision at all (\"invalid interpolation syntax\"; %%%% would set %%%% there)", name(kp), c.raw(kp, v)))
			continue
		}
		if _, ok := readEnvLine(k, s); ok {
			continue
		}
		c.add(line, fmt.Sprintf("%s: %s", name(kp), pythonReadsEnv(k, s)))
	}
}

// pythonReadsEnv says what python-dotenv makes of `k = s`, the line the
// Python rezup writes for an [env] entry it does not read back as itself.
func pythonReadsEnv(k, s string) string {
	// configparser writes a value's line breaks as a break and a tab.
	p := &dotenvParser{s: "[env]\n" + k + " = " + strings.ReplaceAll(s, "\n", "\n\t") + "\n\n", line: 1}
	var set []string
	got, found := "", false
	for p.pos < len(p.s) {
		kv, ok, err := p.binding()
		if err != nil {
			// python-dotenv drops the statement, and reads on from the
			// end of the line it failed on.
			p.skip(func(r rune) bool { return r != '\r' && r != '\n' })
			switch {
			case strings.HasPrefix(p.s[p.pos:], "\r"), strings.HasPrefix(p.s[p.pos:], "\n"):
				p.advance(p.pos + 1)
			}
			continue
		}
		if !ok || kv.NoValue {
			continue
		}
		if kv.Key == k && !found {
			got, found = kv.Value, true
			continue
		}
		set = append(set, kv.Key+"="+strconv.Quote(kv.Value))
	}
	var b strings.Builder
	switch {
	case p.escapedClose:
		fmt.Fprintf(&b, "its quote is closed only by an escaped quote: Python nodes read the [env] lines after it into it")
	case !found:
		fmt.Fprintf(&b, "Python nodes do not set %s (python-dotenv cannot read the line %s)", k, strconv.Quote(k+" = "+s))
	default:
		fmt.Fprintf(&b, "Python nodes set %s to %s", k, strconv.Quote(got))
	}
	if len(set) > 0 && !p.escapedClose {
		fmt.Fprintf(&b, ", and %s too", strings.Join(set, ", "))
	}
	fmt.Fprintf(&b, "; this rezup sets %s to %s", k, strconv.Quote(s))
	return b.String()
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, int64, float64:
		return true
	}
	return false
}

// tomlText writes a scalar as TOML does.
func tomlText(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		if s, ok := formatFloat(v); ok {
			return s
		}
		return pyFloat(v)
	}
	return describe(v)
}

// joinList is an [env] list as this rezup sets it.
func joinList(list []any, sep string) (string, bool) {
	items := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := pyStr(e)
		if !ok {
			return "", false
		}
		items = append(items, s)
	}
	return strings.Join(items, sep), true
}

// pyReprList is Python's str() of a list of scalars: ['a', 2, True].
func pyReprList(list []any) string {
	items := make([]string, 0, len(list))
	for _, e := range list {
		switch e := e.(type) {
		case string:
			items = append(items, pyRepr(e))
		default:
			s, _ := pyStr(e)
			items = append(items, s)
		}
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// pyRepr is Python's repr() of a str.
func pyRepr(s string) string {
	q := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0xa0 || r == 0xad:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x100 || unicode.IsPrint(r) && r != utf8.RuneError:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// andList joins words as "a, b and c".
func andList(words []string) string {
	if len(words) <= 1 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

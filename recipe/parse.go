package recipe

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

const plainNameRule = `use letters, digits, ".", "_" and "-", starting with a letter or digit`

// Keys allowed in each table, in the order the default recipe shows them
// (the order "did you mean" and the key lists in messages use).
var (
	topKeys    = []string{"description", "schema", "root", "dotenv", "env", "pip", "rez", "extension", "shared", "init", "build", "cache"}
	rootKeys   = []string{"local", "remote", "python-compatible"}
	pipKeys    = []string{"options", "env"}
	toolKeys   = []string{"name", "url", "edit", "flags", "isolation", "python", "lib"}
	sharedKeys = []string{"name", "requires"}
	cacheKeys  = []string{"url", "trusted-keys", "secret-key-file", "require-signed", "format"}
	platforms  = []string{"linux", "darwin", "windows"}
)

// Load reads and parses the recipe file at path. A missing file is an
// error that wraps fs.ErrNotExist; callers that want the defaults then use
// [Default] (or write [DefaultTOML]).
func Load(path string) (*Recipe, []Warning, error) {
	return load(path, ParseOptions{})
}

// LoadFrozen reads and parses a revision's frozen recipe (the rezup.toml
// inside a revision, written by this rezup or the Python one) leniently:
// see [ParseOptions] Frozen.
func LoadFrozen(path string) (*Recipe, []Warning, error) {
	return load(path, ParseOptions{Frozen: true})
}

func load(path string, o ParseOptions) (*Recipe, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read recipe: %w", err)
	}
	return ParseWith(path, data, o)
}

// ParseOptions says how to parse a recipe. The zero value is the strict
// parse of a recipe being added, for this platform.
type ParseOptions struct {
	// Frozen parses a revision's frozen recipe, which must never stop a
	// launch: every problem the strict parse reports as an [*Error]
	// becomes a [Warning] with Ignored set (its message prefixed
	// "ignored: ") and the value
	// it is about keeps its default. Only text that is not TOML at all is
	// still an error.
	Frozen bool
	// ListSeparator joins the items of a list in [env]; "" means this
	// platform's path list separator (":" or ";").
	ListSeparator string
}

// Parse parses a recipe strictly; it is [ParseWith] with the zero
// [ParseOptions].
func Parse(file string, data []byte) (*Recipe, []Warning, error) {
	return ParseWith(file, data, ParseOptions{})
}

// ParseFrozen parses a revision's frozen recipe leniently; it is
// [ParseWith] with Frozen set.
func ParseFrozen(file string, data []byte) (*Recipe, []Warning, error) {
	return ParseWith(file, data, ParseOptions{Frozen: true})
}

// ParseWith parses a recipe and merges it over [Default]: each table key by
// key, a list (such as [pip] options) replacing the default list, and the
// [[extension]] tables replacing the default ones as a whole. file names
// the recipe in errors and warnings and becomes Recipe.File.
//
// A recipe problem, including a TOML syntax error, is returned as an
// [*Error]; when there are several, it is the first one in the file. With
// o.Frozen, only a TOML syntax error is, and the other problems are
// warnings. Warnings are in line order.
func ParseWith(file string, data []byte, o ParseOptions) (*Recipe, []Warning, error) {
	m, keys, err := decode(file, data)
	if err != nil {
		return nil, nil, err
	}
	sep := o.ListSeparator
	if sep == "" {
		sep = string(os.PathListSeparator)
	}
	p := &parser{file: file, loc: newLocator(string(data)), listSep: sep, order: keys}
	r := Default()
	r.File = file
	p.recipe(r, m)
	if o.Frozen {
		// The same checks as the strict parse, reported instead of
		// refused: every site that reports an error leaves the default
		// in place (see parser.errorf).
		for _, e := range p.errs {
			p.warns = append(p.warns, Warning{File: e.File, Line: e.Line, Msg: "ignored: " + e.Msg, Ignored: true})
		}
		p.errs = nil
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *Error) int { return cmp.Compare(lineOrder(a.Line), lineOrder(b.Line)) })
		return nil, nil, p.errs[0]
	}
	slices.SortStableFunc(p.warns, func(a, b Warning) int { return cmp.Compare(lineOrder(a.Line), lineOrder(b.Line)) })
	return r, p.warns, nil
}

// lineOrder sorts an unknown line (0) after every known one.
func lineOrder(line int) int {
	if line <= 0 {
		return math.MaxInt
	}
	return line
}

// decode runs the TOML parser, turning its errors into a one-line *Error.
// keys are the document's keys in the order they are written.
func decode(file string, data []byte) (m map[string]any, keys []toml.Key, err error) {
	defer func() {
		// The parser recovers its own panics; this only keeps a bug in it
		// from crashing rezup on a user's file.
		if v := recover(); v != nil {
			m, keys, err = nil, nil, &Error{File: file, Msg: fmt.Sprintf("invalid TOML: %v", v)}
		}
	}()
	md, err := toml.Decode(string(data), &m)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			line := pe.Position.Line
			if line == 0 {
				line = pe.Line
			}
			return nil, nil, &Error{File: file, Line: line, Msg: "invalid TOML: " + firstLine(pe.Message)}
		}
		return nil, nil, &Error{File: file, Msg: "invalid TOML: " + firstLine(err.Error())}
	}
	return m, md.Keys(), nil
}

// inOrder returns the keys of table t, at path in the document, in the
// order they are written (keys the document does not list, if any, last,
// sorted).
func (p *parser) inOrder(path []string, t map[string]any) []string {
	out := make([]string, 0, len(t))
	seen := make(map[string]bool, len(t))
	for _, k := range p.order {
		if len(k) == len(path)+1 && slices.Equal(k[:len(path)], path) {
			if _, ok := t[k[len(path)]]; ok && !seen[k[len(path)]] {
				seen[k[len(path)]] = true
				out = append(out, k[len(path)])
			}
		}
	}
	for _, k := range sortedKeys(t) {
		if !seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// firstLine makes the parser's message fit the style of ours: one line,
// lowercase, no final period.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimSuffix(strings.TrimPrefix(s, "toml: "), ".")
	if len(s) > 1 && 'A' <= s[0] && s[0] <= 'Z' && 'a' <= s[1] && s[1] <= 'z' {
		s = string(s[0]+'a'-'A') + s[1:]
	}
	return s
}

type parser struct {
	file    string
	loc     *locator
	listSep string     // joins the items of an [env] list
	order   []toml.Key // the document's keys, in the order written
	errs    []*Error
	warns   []Warning
}

// errorf reports a problem. The strict parse refuses the recipe; the
// frozen one goes on with it, so a site that reports an error must not
// store the value it is about: it keeps the default instead. Sites that
// check several things first compare p.failures() before and after.
func (p *parser) errorf(path keyPath, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: p.loc.line(path), Msg: fmt.Sprintf(format, args...)})
}

// failures counts the problems reported so far.
func (p *parser) failures() int { return len(p.errs) }

func (p *parser) warnf(path keyPath, format string, args ...any) {
	p.warns = append(p.warns, Warning{File: p.file, Line: p.loc.line(path), Msg: fmt.Sprintf(format, args...)})
}

// recipe validates the decoded document m into r, which holds the defaults.
func (p *parser) recipe(r *Recipe, m map[string]any) {
	p.known(nil, m, topKeys)
	for _, k := range sortedKeys(m) {
		v, path := m[k], keyPath{k}
		switch k {
		case "description":
			if s, ok := p.str(path, v); ok {
				r.Description = s
			}
		case "schema":
			if s, ok := p.str(path, v); ok {
				if s != SchemaV1 && s != SchemaV2 {
					p.errorf(path, "schema %q is not supported; set it to %q, or remove it", s, SchemaV2)
					break
				}
				r.Schema = s
			}
		case "root":
			if t, ok := p.table(path, v); ok {
				p.known(path, t, rootKeys)
				r.Root.Local = p.rootPath(path.with("local"), t["local"], r.Root.Local)
				r.Root.Remote = p.rootPath(path.with("remote"), t["remote"], r.Root.Remote)
				if v, ok := t["python-compatible"]; ok {
					if b, ok := p.boolean(path.with("python-compatible"), v); ok {
						r.Root.PythonCompatible = b
					}
				}
			}
		case "dotenv":
			p.dotenv(path, v, &r.Dotenv)
		case "env":
			if t, ok := p.table(path, v); ok {
				r.Env = p.launchEnv(path, t)
			}
		case "pip":
			if t, ok := p.table(path, v); ok {
				p.known(path, t, pipKeys)
				if v, ok := t["options"]; ok {
					if list, ok := p.strList(path.with("options"), v); ok {
						r.Pip.Options = list
					}
				}
				if v, ok := t["env"]; ok {
					if t, ok := p.table(path.with("env"), v); ok {
						p.pipEnv(path.with("env"), t, r.Pip.Env)
					}
				}
			}
		case "rez":
			if t, ok := p.table(path, v); ok {
				r.Rez = p.tool(path, t, r.Rez)
			}
		case "extension":
			// After the loop: extension names are checked against [rez].
		case "shared":
			if t, ok := p.table(path, v); ok {
				r.Shared = p.shared(path, t)
			}
		case "init":
			p.stringTable(path, v, "script", &r.Init.Script)
		case "build":
			p.stringTable(path, v, "salt", &r.Build.Salt)
		case "cache":
			if t, ok := p.table(path, v); ok {
				p.cache(path, t, &r.Cache)
			}
		}
	}
	if v, ok := m["extension"]; ok {
		r.Extensions = p.extensions(keyPath{"extension"}, v, r.Rez)
	}
}

// rootPath reads [root] local or remote: a path, "" or false ("unset").
func (p *parser) rootPath(path keyPath, v any, def string) string {
	switch v := v.(type) {
	case nil:
		return def
	case string:
		return v
	case bool:
		if !v {
			return ""
		}
	}
	p.errorf(path, `%s must be a path, "" or false, not %s`, name(path), describe(v))
	return def
}

func (p *parser) dotenv(path keyPath, v any, d *Dotenv) {
	t, ok := p.table(path, v)
	if !ok {
		return
	}
	for _, k := range sortedKeys(t) {
		kp := path.with(k)
		if slices.Contains(platforms, k) {
			pt, ok := t[k].(map[string]any)
			if !ok {
				p.errorf(kp, "%s must be the table [dotenv.%s] of .env files, not %s", name(kp), k, describe(t[k]))
				continue
			}
			for _, f := range sortedKeys(pt) {
				if s, ok := p.dotenvFile(kp.with(f), pt[f]); ok {
					d.Platform[k][f] = s
				}
			}
			continue
		}
		if s, ok := p.dotenvFile(kp, t[k]); ok {
			d.Shared[k] = s
		}
	}
}

func (p *parser) dotenvFile(path keyPath, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.errorf(path, "%s must be the path of a .env file, not %s; platform tables are [dotenv.linux], [dotenv.darwin] and [dotenv.windows]", name(path), describe(v))
	}
	return s, ok
}

// launchEnv reads [env], in file order. It takes what the Python rezup
// took: numbers and booleans spelled as Python's str() spells them (True,
// 2.7, 1e+16), and lists, which are joined with p.listSep; and it reads
// each value as the Python rezup did (see EnvVar).
func (p *parser) launchEnv(path keyPath, t map[string]any) []EnvVar {
	env := []EnvVar{}
	for _, k := range p.inOrder([]string{"env"}, t) {
		kp := path.with(k)
		if !p.envName(path, k) {
			continue
		}
		s, ok := p.launchValue(kp, t[k])
		if !ok || !p.noNUL(kp, s) {
			continue
		}
		v := s
		if read, ok := readEnvLine(k, s); ok {
			v = read
			if read != s && !strings.HasPrefix(s, `"`) && !strings.HasPrefix(s, "'") {
				// Quoted as a whole, it was written for python-dotenv;
				// otherwise the reading may not be what was meant.
				p.warnf(kp, "%s = %s sets %s to %s, as the Python rezup reads it (python-dotenv: %s); to keep it whole, quote it inside: %s",
					name(kp), describe(t[k]), k, strconv.Quote(read), readingChange(s, read), quoteInside(s))
			}
		}
		env = append(env, EnvVar{Name: k, Value: v})
	}
	return env
}

// pipEnv reads [pip.env] into dst. [pip.env] is part of the key, and
// the Python rezup handed it to pip unconverted, so it keeps strings, and
// numbers and booleans written as TOML prints them.
func (p *parser) pipEnv(path keyPath, t map[string]any, dst map[string]string) {
	for _, k := range sortedKeys(t) {
		kp := path.with(k)
		if !p.envName(path, k) {
			continue
		}
		if s, ok := p.pipEnvValue(kp, t[k]); ok && p.noNUL(kp, s) {
			dst[k] = s
		}
	}
}

func (p *parser) envName(table keyPath, k string) bool {
	if k == "" || strings.ContainsAny(k, "=\x00") {
		p.errorf(table.with(k), "%s: %q is not an environment variable name", where(table), k)
		return false
	}
	return true
}

func (p *parser) noNUL(path keyPath, s string) bool {
	if strings.ContainsRune(s, 0) {
		p.errorf(path, "%s holds a NUL character, which no environment variable can", name(path))
		return false
	}
	return true
}

func (p *parser) pipEnvValue(path keyPath, v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		if s, ok := formatFloat(v); ok {
			return s, true
		}
	}
	p.errorf(path, "%s must be a string, not %s", name(path), describe(v))
	return "", false
}

// launchValue is an [env] value as the launch environment gets it.
func (p *parser) launchValue(path keyPath, v any) (string, bool) {
	if list, ok := asList(v); ok {
		items := make([]string, 0, len(list))
		for i, e := range list {
			s, ok := pyStr(e)
			if !ok {
				p.errorf(path.with(i), "%s item %d must be a string, not %s", name(path), i+1, describe(e))
				return "", false
			}
			items = append(items, s)
		}
		return strings.Join(items, p.listSep), true
	}
	if s, ok := pyStr(v); ok {
		return s, true
	}
	p.errorf(path, "%s must be a string, not %s", name(path), describe(v))
	return "", false
}

// pyStr spells a TOML scalar as Python's str() does; the Python rezup
// passed [env] through str() (ConfigParser.read_dict).
func pyStr(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		if v {
			return "True", true
		}
		return "False", true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return pyFloat(v), true
	}
	return "", false
}

// pyFloat is Python's repr of a float: the shortest digits that read back
// the same, positional for exponents -4 to 15 (always with a ".0"), else
// scientific with a signed two-digit exponent.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	_, exp, _ := strings.Cut(sci, "e")
	if e, _ := strconv.Atoi(exp); e < -4 || e >= 16 {
		return sci
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// tool reads [rez] or one [[extension]] over base.
func (p *parser) tool(path keyPath, t map[string]any, base Tool) Tool {
	isRez := len(path) == 1
	p.known(path, t, toolKeys)
	tool := base
	if v, ok := t["name"]; ok {
		kp := path.with("name")
		if s, ok := p.str(kp, v); ok {
			switch {
			case s == "" && isRez:
				p.errorf(kp, `%s is empty; set it to "rez"`, name(kp))
			case s == "":
				p.errorf(kp, "%s is empty; set it to the name of the package", name(kp))
			case !isPlainName(s):
				p.errorf(kp, "%s %q is not a plain name; %s", name(kp), s, plainNameRule)
			default:
				tool.Name = s
			}
		}
	}
	if v, ok := t["url"]; ok {
		kp := path.with("url")
		if s, ok := p.str(kp, v); ok {
			switch {
			case s == "" && isRez:
				p.errorf(kp, `%s is empty; set it to a pip requirement such as "rez>=2.83"`, name(kp))
			case s == "":
				p.errorf(kp, "%s is empty; set it to a pip requirement, or remove it to install the name", name(kp))
			default:
				tool.URL = s
			}
		}
	}
	if v, ok := t["edit"]; ok {
		if b, ok := p.boolean(path.with("edit"), v); ok {
			tool.Edit = b
		}
	}
	if v, ok := t["isolation"]; ok {
		if b, ok := p.boolean(path.with("isolation"), v); ok {
			if b && isRez {
				p.warnf(path.with("isolation"), "%s has no effect: rez always has a venv of its own; remove it", name(path.with("isolation")))
				b = false
			}
			tool.Isolation = b
		}
	}
	if v, ok := t["flags"]; ok {
		kp := path.with("flags")
		if list, ok := p.checkedList(kp, v, func(i int, f string) {
			if !strings.HasPrefix(f, "-") {
				p.errorf(kp.with(i), `%s holds %q, which is not an interpreter flag; use flags such as "-E", or [] for none`, name(kp), f)
			}
		}); ok {
			tool.Flags = list
		}
	}
	if v, ok := t["python"]; ok {
		if s, ok := p.python(path.with("python"), v); ok {
			tool.Python = s
		}
	}
	if v, ok := t["lib"]; ok {
		kp := path.with("lib")
		if list, ok := p.checkedList(kp, v, func(i int, s string) {
			if s == "" {
				p.errorf(kp.with(i), "%s holds an empty requirement; remove it", name(kp))
			}
		}); ok {
			tool.Lib = list
		}
	}
	return tool
}

// python reads a python spec: a string, or a number such as 2.7 that the
// Python rezup accepted. A number whose literal does not survive the trip
// through a float (3.10 is 3.1) gets a warning.
func (p *parser) python(path keyPath, v any) (string, bool) {
	var s string
	switch v := v.(type) {
	case string:
		return v, true
	case int64:
		if v >= 0 {
			s = strconv.FormatInt(v, 10)
		}
	case float64:
		if v >= 0 {
			s, _ = formatFloat(v)
		}
	}
	if s == "" {
		p.errorf(path, `%s must be a version such as "3.11", or the path of a python, not %s`, name(path), describe(v))
		return "", false
	}
	if raw, ok := p.loc.raw(path); ok && raw != s {
		p.warnf(path, "python = %s reads as %s; quote it: python = %q", raw, s, raw)
	}
	return s, true
}

func (p *parser) extensions(path keyPath, v any, rez Tool) []Tool {
	list, ok := asList(v)
	if !ok {
		p.errorf(path, "extension must be a list of tables, one [[extension]] each, not %s", describe(v))
		return []Tool{}
	}
	exts := []Tool{}
	seen := map[string]int{} // lower-cased name → index in list
	for i, e := range list {
		kp := path.with(i)
		t, ok := e.(map[string]any)
		if !ok {
			p.errorf(kp, "%s must be a table, not %s", where(kp), describe(e))
			continue
		}
		if len(t) == 0 {
			continue // the default recipe's placeholder
		}
		ext := p.tool(kp, t, Tool{Flags: []string{"-E"}, Lib: []string{}})
		if _, ok := t["name"]; !ok {
			p.errorf(kp, `%s has no name; add name = "..." with the name of the package`, where(kp))
			continue
		}
		if ext.Name == "" {
			continue // reported by tool
		}
		if ext.URL == "" { // absent, or reported by tool
			ext.URL = ext.Name
		}
		nk := kp.with("name")
		if j, dup := seen[strings.ToLower(ext.Name)]; dup {
			p.errorf(nk, "%s %q is already used by %s; extension names must be unique", name(nk), ext.Name, where(path.with(j)))
			continue
		}
		seen[strings.ToLower(ext.Name)] = i
		if ext.Isolation && (strings.EqualFold(ext.Name, "rez") || strings.EqualFold(ext.Name, rez.Name)) {
			p.errorf(nk, "%s %q is the name of the rez venv; an isolated extension needs a name of its own", name(nk), ext.Name)
			continue
		}
		if !ext.Isolation && ext.Python != "" {
			p.warnf(kp.with("python"), "%s is ignored without isolation = true: the extension is installed into the rez venv", name(kp.with("python")))
		}
		exts = append(exts, ext)
	}
	return exts
}

// shared reads the deprecated [shared] table; empty means nil.
func (p *parser) shared(path keyPath, t map[string]any) *Shared {
	p.known(path, t, sharedKeys)
	sh := &Shared{Requires: []string{}}
	if v, ok := t["name"]; ok {
		if s, ok := p.str(path.with("name"), v); ok {
			if s != "" && !isPlainName(s) {
				p.errorf(path.with("name"), "%s %q is not a plain name; %s", name(path.with("name")), s, plainNameRule)
				return nil
			}
			sh.Name = s
		}
	}
	if v, ok := t["requires"]; ok {
		if list, ok := p.strList(path.with("requires"), v); ok {
			sh.Requires = list
		}
	}
	if sh.Name == "" {
		if len(sh.Requires) > 0 {
			p.errorf(path.with("requires"), `%s needs a name; set [shared] name, such as "production"`, name(path.with("requires")))
		}
		return nil
	}
	return sh
}

// cache reads [cache]. The keys are checked here, where a mistake can
// still name its line; package cas reads them (recipe imports nothing of
// rezup's, so the spelling is checked twice: see publicKeyProblem).
func (p *parser) cache(path keyPath, t map[string]any, c *Cache) {
	p.known(path, t, cacheKeys)
	if v, ok := t["url"]; ok {
		if s, ok := p.str(path.with("url"), v); ok {
			c.URL = s
		}
	}
	if v, ok := t["trusted-keys"]; ok {
		kp := path.with("trusted-keys")
		if list, ok := p.checkedList(kp, v, func(i int, k string) {
			why := publicKeyProblem(k)
			if why == "" {
				return
			}
			what := " " + describe(k)
			if strings.HasPrefix(why, "it is a secret key") {
				what = "" // not quoted: the message may end up in a log
			}
			p.errorf(kp.with(i), "%s item %d%s is not a public key: %s; use the line `rezup key generate` printed, such as \"studio-1:<base64>\"", name(kp), i+1, what, why)
		}); ok {
			c.TrustedKeys = list
		}
	}
	if v, ok := t["secret-key-file"]; ok {
		if s, ok := p.str(path.with("secret-key-file"), v); ok {
			c.SecretKeyFile = s
		}
	}
	if v, ok := t["require-signed"]; ok {
		if b, ok := p.boolean(path.with("require-signed"), v); ok {
			c.RequireSigned = b
		}
	}
	if v, ok := t["format"]; ok {
		fp := path.with("format")
		if s, ok := p.str(fp, v); ok {
			if slices.Contains(CacheFormats, s) {
				c.Format = s
			} else {
				p.errorf(fp, "%s is %s; want one of %s", name(fp), describe(s), strings.Join(CacheFormats, ", "))
			}
		}
	}
}

// validSigningKeyName is cas's rule for key names: a plain name of at most
// 128 bytes. (As a regexp, the bound {0,127} compiled at every start of
// rezup cost about 2 ms, a tenth of a warm launch.)
func validSigningKeyName(name string) bool {
	return len(name) <= 128 && isPlainName(name)
}

// publicKeyProblem says why s is not "<name>:<base64>" of a 32-byte
// ed25519 public key, as cas.ParsePublicKey reads it, or "" when it is.
func publicKeyProblem(s string) string {
	name, enc, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return "want <name>:<base64>"
	case !validSigningKeyName(name):
		return fmt.Sprintf("the name %s is not a key name (up to 128 letters, digits, \".\", \"_\" and \"-\", starting with a letter or digit)", describe(name))
	}
	b, err := base64.StdEncoding.Strict().DecodeString(enc)
	switch {
	case err != nil || strings.ContainsAny(enc, "\r\n"):
		return "the part after the name is not base64"
	case len(b) == 64:
		return "it is a secret key (64 bytes), which must stay private: remove it, and trust its public key instead"
	case len(b) != 32:
		return fmt.Sprintf("it holds %d bytes, not the 32 of an ed25519 public key", len(b))
	}
	return ""
}

// stringTable reads a table holding the single string key key.
func (p *parser) stringTable(path keyPath, v any, key string, dst *string) {
	t, ok := p.table(path, v)
	if !ok {
		return
	}
	p.known(path, t, []string{key})
	if v, ok := t[key]; ok {
		if s, ok := p.str(path.with(key), v); ok {
			*dst = s
		}
	}
}

// known reports every key of t that is not allowed.
func (p *parser) known(path keyPath, t map[string]any, allowed []string) {
	for _, k := range sortedKeys(t) {
		if slices.Contains(allowed, k) {
			continue
		}
		in := ""
		if len(path) > 0 {
			in = " in " + where(path)
		}
		if s := suggest(k, allowed); s != "" {
			p.errorf(path.with(k), "unknown key %q%s; did you mean %q?", k, in, s)
			continue
		}
		p.errorf(path.with(k), "unknown key %q%s; the keys are %s", k, in, strings.Join(allowed, ", "))
	}
}

func (p *parser) table(path keyPath, v any) (map[string]any, bool) {
	t, ok := v.(map[string]any)
	if !ok {
		p.errorf(path, "%s must be a table (%s), not %s", name(path), where(path), describe(v))
	}
	return t, ok
}

func (p *parser) str(path keyPath, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.errorf(path, "%s must be a string, not %s", name(path), describe(v))
	}
	return s, ok
}

func (p *parser) boolean(path keyPath, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		p.errorf(path, "%s must be true or false, not %s", name(path), describe(v))
	}
	return b, ok
}

// strList reads a list of strings; the result is never nil.
// checkedList reads a list of strings and calls check on each item, which
// reports what is wrong with p.errorf. The list is returned (ok) only when
// it is a list of strings and check found nothing: a value with a bad item
// keeps its default.
func (p *parser) checkedList(path keyPath, v any, check func(i int, s string)) ([]string, bool) {
	list, ok := p.strList(path, v)
	if !ok {
		return nil, false
	}
	n := p.failures()
	for i, s := range list {
		check(i, s)
	}
	return list, p.failures() == n
}

func (p *parser) strList(path keyPath, v any) ([]string, bool) {
	list, ok := asList(v)
	if !ok {
		p.errorf(path, `%s must be a list of strings such as ["a", "b"], not %s`, name(path), describe(v))
		return nil, false
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			p.errorf(path.with(i), "%s item %d must be a string, not %s", name(path), i+1, describe(e))
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func asList(v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case []map[string]any:
		out := make([]any, len(v))
		for i, t := range v {
			out[i] = t
		}
		return out, true
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// formatFloat writes a float as the Python rezup did (str(2.7) is "2.7",
// str(3.0) is "3.0"); it refuses inf and nan.
func formatFloat(f float64) (string, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s, true
}

// where names the table at path: [rez], [pip.env], [[extension]] #2.
func where(path keyPath) string {
	var keys []string
	for i, e := range path {
		switch e := e.(type) {
		case string:
			keys = append(keys, keyName(e))
		case int:
			s := "[[" + strings.Join(keys, ".") + "]] #" + strconv.Itoa(e+1)
			if rest := path[i+1:]; len(rest) > 0 {
				s += " " + where(rest)
			}
			return s
		}
	}
	return "[" + strings.Join(keys, ".") + "]"
}

// name names the value at path: description, [rez] url, [[extension]] #2 python.
func name(path keyPath) string {
	if len(path) == 0 {
		return "the recipe"
	}
	last, ok := path[len(path)-1].(string)
	if !ok {
		return where(path)
	}
	if len(path) == 1 {
		return keyName(last)
	}
	return where(path[:len(path)-1]) + " " + keyName(last)
}

// isBareKey reports whether TOML writes k without quotes: letters,
// digits, "_" and "-".
func isBareKey(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return k != ""
}

func keyName(k string) string {
	if isBareKey(k) {
		return k
	}
	return strconv.Quote(k)
}

// describe shows a decoded TOML value in a message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		if len(v) > 60 {
			v = v[:57] + "..."
		}
		return strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []any, []map[string]any:
		return "a list"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date"
	}
	return fmt.Sprintf("a %T", v)
}

// suggest returns the allowed key closest to k, if it is close enough to
// be a typo.
func suggest(k string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		d := editDistance(strings.ToLower(k), a)
		if d < bestD && d <= max(1, len(a)/3) {
			best, bestD = a, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

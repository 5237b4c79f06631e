package recipe

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// Change is one key of a recipe that differs between two versions of it
// (two revisions' frozen recipes). Key is dotted, as TOML spells it
// ("rez.url", "pip.env.X", "extension[1].url" for the second
// [[extension]]).
type Change struct {
	Key    string `json:"key"`
	Change string `json:"change"` // added, removed or changed
	Old    any    `json:"old,omitempty"`
	New    any    `json:"new,omitempty"`
}

// flattenTOML reads a TOML document into its leaves by dotted key. A
// table's keys are its leaves; an array of tables counts each by index;
// any other value (arrays of strings included) is one leaf. The document
// is taken as written: keys left at their defaults are absent.
func flattenTOML(data []byte) (map[string]any, error) {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return nil, err
	}
	out := map[string]any{}
	flatten(out, "", doc)
	return out, nil
}

func flatten(out map[string]any, prefix string, v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, sub := range t {
			key := keyName(k)
			if prefix != "" {
				key = prefix + "." + key
			}
			flatten(out, key, sub)
		}
	case []map[string]any:
		for i, sub := range t {
			flatten(out, fmt.Sprintf("%s[%d]", prefix, i), sub)
		}
	default:
		out[prefix] = v
	}
}

// Diff compares two recipe documents as written, key by key, sorted by
// key; a key left at its default is absent, not compared with the
// default. An empty result means no key changed. A document that is not
// TOML is an error saying which (old or new).
func Diff(oldData, newData []byte) ([]Change, error) {
	old, err := flattenTOML(oldData)
	if err != nil {
		return nil, fmt.Errorf("old recipe: %w", err)
	}
	new, err := flattenTOML(newData)
	if err != nil {
		return nil, fmt.Errorf("new recipe: %w", err)
	}
	return diffLeaves(old, new, defaultLeaves()), nil
}

// pythonDefaultTOML is the default recipe of the Python rezup 2.6, which
// it merges into every recipe it freezes: its values count as defaults
// too, so that a revision it made and one of this rezup do not differ by
// what each wrote of its defaults.
const pythonDefaultTOML = `
description = "default container revision recipe"
schema = "rezup-recipe:2.0"
[root]
local = ""
remote = ""
[pip]
options = ["--disable-pip-version-check"]
[rez]
name = "rez"
url = "rez>=2.83"
`

// defaultLeaves are, by dotted key, the values that mean "the default" in
// a frozen recipe: this rezup's defaults and the Python rezup's.
var defaultLeaves = sync.OnceValue(func() map[string][]any {
	out := map[string][]any{}
	for _, doc := range [][]byte{defaultTOML, []byte(pythonDefaultTOML)} {
		leaves, err := flattenTOML(doc)
		if err != nil {
			panic("recipe: a default recipe does not parse: " + err.Error())
		}
		for k, v := range leaves {
			out[k] = append(out[k], v)
		}
	}
	return out
})

// diffLeaves compares two flattened recipes, sorted by key. A key whose
// value on each side is a default (or absent, which means the default) is
// no change: the Python rezup freezes its defaults, this rezup does not.
func diffLeaves(old, new map[string]any, defaults map[string][]any) []Change {
	keys := slices.Sorted(maps.Keys(old))
	for k := range new {
		if _, ok := old[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := []Change{}
	isDefault := func(k string, v any, present bool) bool {
		return !present || slices.ContainsFunc(defaults[k], func(d any) bool { return reflect.DeepEqual(d, v) })
	}
	for _, k := range keys {
		o, inOld := old[k]
		n, inNew := new[k]
		switch {
		case isDefault(k, o, inOld) && isDefault(k, n, inNew):
			// Defaults on both sides, whoever wrote them.
		case !inOld:
			out = append(out, Change{Key: k, Change: "added", New: n})
		case !inNew:
			out = append(out, Change{Key: k, Change: "removed", Old: o})
		case !reflect.DeepEqual(o, n):
			out = append(out, Change{Key: k, Change: "changed", Old: o, New: n})
		}
	}
	return out
}

// String is c in one line for people:
//
//	rez.url: "rez>=2.83" -> "rez==2.114.0"
//	added build.salt = "1f0c…"
//	removed extension[0].url = "foo"
func (c Change) String() string {
	switch c.Change {
	case "added":
		return fmt.Sprintf("added %s = %s", c.Key, tomlValue(c.New))
	case "removed":
		return fmt.Sprintf("removed %s = %s", c.Key, tomlValue(c.Old))
	}
	return fmt.Sprintf("%s: %s -> %s", c.Key, tomlValue(c.Old), tomlValue(c.New))
}

// tomlValue writes a leaf the way TOML spells it, near enough for
// people: strings quoted, arrays bracketed.
func tomlValue(v any) string {
	switch t := v.(type) {
	case string:
		return strconv.Quote(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(t)
	case time.Time:
		return t.Format(time.RFC3339Nano)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = tomlValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		// An inline table inside an array: its keys, sorted.
		parts := make([]string, 0, len(t))
		for _, k := range slices.Sorted(maps.Keys(t)) {
			parts = append(parts, keyName(k)+" = "+tomlValue(t[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

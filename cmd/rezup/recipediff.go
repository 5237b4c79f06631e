package main

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// recipeChange is one key of a frozen recipe that differs between two
// revisions. Key is dotted, as TOML spells it ("rez.url", "pip.env.X",
// "extension[1].url" for the second [[extension]]).
type recipeChange struct {
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
			key := tomlKey(k)
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

// bareKey is what TOML writes without quotes; compiled on first use.
var bareKey = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]+$`) })

// tomlKey is one key as TOML writes it: bare, or quoted.
func tomlKey(k string) string {
	if bareKey().MatchString(k) {
		return k
	}
	return strconv.Quote(k)
}

// diffRecipes compares two flattened recipes, sorted by key.
func diffRecipes(old, new map[string]any) []recipeChange {
	keys := slices.Sorted(maps.Keys(old))
	for k := range new {
		if _, ok := old[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := []recipeChange{}
	for _, k := range keys {
		o, inOld := old[k]
		n, inNew := new[k]
		switch {
		case !inOld:
			out = append(out, recipeChange{Key: k, Change: "added", New: n})
		case !inNew:
			out = append(out, recipeChange{Key: k, Change: "removed", Old: o})
		case !reflect.DeepEqual(o, n):
			out = append(out, recipeChange{Key: k, Change: "changed", Old: o, New: n})
		}
	}
	return out
}

// formatRecipeChange is one line for people:
//
//	rez.url: "rez>=2.83" -> "rez==2.114.0"
//	added build.salt = "1f0c…"
//	removed extension[0].url = "foo"
func formatRecipeChange(c recipeChange) string {
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
			parts = append(parts, tomlKey(k)+" = "+tomlValue(t[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

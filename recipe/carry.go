package recipe

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// DefaultFrom is the default recipe (DefaultTOML) for a new container of a
// machine whose ~/rezup.toml is main: the settings that say where packages
// come from and how builds are shared carry over, so that a new container
// builds where .main does (offline, from a studio index): [pip] options
// and env, [rez] python, and [cache]. carried names the keys that did, in
// TOML's dotted spelling; none when main sets none of them (DefaultTOML
// then). main is read leniently, as a frozen recipe is: a key it misspells
// is not carried.
func DefaultFrom(mainFile string, main []byte) (data []byte, carried []string) {
	def := DefaultTOML()
	if len(main) == 0 {
		return def, nil
	}
	r, _, err := ParseFrozen(mainFile, main)
	if err != nil {
		return def, nil
	}
	d := Default()
	lines := strings.SplitAfter(string(def), "\n")
	replace := func(old, new string) bool {
		for i, l := range lines {
			if l == old+"\n" {
				lines[i] = new + "\n"
				return true
			}
		}
		return false
	}
	if !slices.Equal(r.Pip.Options, d.Pip.Options) && replace(`options = ["--disable-pip-version-check"]`, "options = "+tomlValueOf(r.Pip.Options)) {
		carried = append(carried, "pip.options")
	}
	if len(r.Pip.Env) > 0 {
		var kv strings.Builder
		kv.WriteString("[pip.env]")
		for _, k := range slices.Sorted(maps.Keys(r.Pip.Env)) {
			fmt.Fprintf(&kv, "\n%s = %s", keyName(k), tomlValueOf(r.Pip.Env[k]))
		}
		if replace("[pip.env]", kv.String()) {
			carried = append(carried, "pip.env")
		}
	}
	if r.Rez.Python != "" && replace(`# python = ""`, "python = "+tomlValueOf(r.Rez.Python)) {
		carried = append(carried, "rez.python")
	}
	c := r.Cache
	if c.URL != "" || len(c.TrustedKeys) > 0 || c.SecretKeyFile != "" || c.RequireSigned || c.Format != "" {
		var b strings.Builder
		b.WriteString("[cache]")
		if c.URL != "" {
			b.WriteString("\nurl = " + tomlValueOf(c.URL))
		}
		if len(c.TrustedKeys) > 0 {
			b.WriteString("\ntrusted-keys = " + tomlValueOf(c.TrustedKeys))
		}
		if c.SecretKeyFile != "" {
			b.WriteString("\nsecret-key-file = " + tomlValueOf(c.SecretKeyFile))
		}
		if c.RequireSigned {
			b.WriteString("\nrequire-signed = true")
		}
		if c.Format != "" {
			b.WriteString("\nformat = " + tomlValueOf(c.Format))
		}
		if replace("# [cache]", b.String()) {
			carried = append(carried, "cache")
		}
	}
	if len(carried) == 0 {
		return def, nil
	}
	return []byte(strings.Join(lines, "")), carried
}

// tomlValueOf is v (a string, or a list of strings) as TOML writes it.
func tomlValueOf(v any) string {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(map[string]any{"v": v}); err != nil {
		panic("recipe: encode " + fmt.Sprint(v) + ": " + err.Error()) // strings and lists of strings always encode
	}
	return strings.TrimSpace(strings.TrimPrefix(buf.String(), "v = "))
}

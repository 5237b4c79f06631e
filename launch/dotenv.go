package launch

import "strings"

// Interpolation is python-dotenv's; its syntax is recipe.ParseDotenv's.

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

package httpbackend

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// netrcEntry is one machine (or, with machine "", the default) of a
// netrc file.
type netrcEntry struct {
	machine, login, password string
}

// readNetrc parses the netrc file at path. A missing file has no
// entries; a malformed one is an error naming its line.
func readNetrc(path string) ([]netrcEntry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read netrc: %w", err)
	}
	es, err := parseNetrc(string(data))
	if err != nil {
		return nil, fmt.Errorf("netrc %s: %w", path, err)
	}
	return es, nil
}

// parseNetrc reads the netrc format as curl and ftp do: whitespace-
// separated tokens, `machine NAME` or `default` starting an entry,
// `login`, `password` and `account` taking a value, `macdef NAME`
// followed by a macro running to the next blank line, `#` starting a
// comment, and double-quoted values with backslash escapes.
func parseNetrc(s string) ([]netrcEntry, error) {
	var out []netrcEntry
	line, i := 1, 0
	// token returns the next token, or "" at the end.
	token := func() (string, error) {
		for i < len(s) {
			switch c := s[i]; {
			case c == '\n':
				line++
				i++
			case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
				i++
			case c == '#':
				for i < len(s) && s[i] != '\n' {
					i++
				}
			default:
				goto found
			}
		}
		return "", nil
	found:
		if s[i] == '"' {
			var b strings.Builder
			for i++; i < len(s); i++ {
				switch s[i] {
				case '"':
					i++
					return b.String(), nil
				case '\\':
					if i+1 < len(s) {
						i++
					}
				case '\n':
					line++
				}
				b.WriteByte(s[i])
			}
			return "", fmt.Errorf("line %d: unterminated quoted value", line)
		}
		start := i
		for i < len(s) && !strings.ContainsRune(" \t\r\n\f\v", rune(s[i])) {
			i++
		}
		return s[start:i], nil
	}
	value := func(key string) (string, error) {
		v, err := token()
		if err == nil && v == "" {
			err = fmt.Errorf("line %d: %s without a value", line, key)
		}
		return v, err
	}
	for {
		tok, err := token()
		if err != nil {
			return nil, err
		}
		switch tok {
		case "":
			return out, nil
		case "machine":
			m, err := value(tok)
			if err != nil {
				return nil, err
			}
			out = append(out, netrcEntry{machine: m})
		case "default":
			out = append(out, netrcEntry{})
		case "login", "password", "account":
			v, err := value(tok)
			if err != nil {
				return nil, err
			}
			if len(out) == 0 {
				return nil, fmt.Errorf("line %d: %s before any machine or default", line, tok)
			}
			switch e := &out[len(out)-1]; tok {
			case "login":
				e.login = v
			case "password":
				e.password = v
			}
		case "macdef":
			if _, err := value(tok); err != nil {
				return nil, err
			}
			// The macro runs to the next empty line.
			end := strings.Index(s[i:], "\n\n")
			if end < 0 {
				return out, nil
			}
			line += strings.Count(s[i:i+end], "\n")
			i += end
		default:
			return nil, fmt.Errorf("line %d: unknown keyword %q", line, tok)
		}
	}
}

// lookupNetrc returns the entry for host: its machine entry, else the
// default entry, else false.
func lookupNetrc(es []netrcEntry, host string) (netrcEntry, bool) {
	for _, e := range es {
		if e.machine == host {
			return e, true
		}
	}
	for _, e := range es {
		if e.machine == "" {
			return e, true
		}
	}
	return netrcEntry{}, false
}

package recipe

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// WithSalt returns the recipe text data with [build] salt set to salt,
// keeping everything else (comments included) as it was: a frozen recipe
// must still read like the user's file. It is how `rezup add --fresh`
// forces a new key for an unchanged recipe.
func WithSalt(file string, data []byte, salt string) ([]byte, error) {
	lines := strings.SplitAfter(string(data), "\n")
	saltLine := "salt = " + strconv.Quote(salt) + "  # set by rezup add --fresh\n"
	inBuild, header := false, -1
	var out bytes.Buffer
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") {
			inBuild = strings.HasPrefix(strings.ReplaceAll(t, " ", ""), "[build]")
			if inBuild {
				header = i
			}
		}
		if inBuild && header != i && isKeyLine(t, "salt") {
			continue // replaced below, right after the header
		}
		out.WriteString(line)
		if i == header {
			if !strings.HasSuffix(line, "\n") {
				out.WriteString("\n")
			}
			out.WriteString(saltLine)
		}
	}
	if header < 0 {
		if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			out.WriteString("\n")
		}
		out.WriteString("\n[build]\n" + saltLine)
	}
	r, _, err := Parse(file, out.Bytes())
	if err != nil {
		return nil, err
	}
	if r.Build.Salt != salt {
		return nil, &Error{File: file, Msg: fmt.Sprintf("could not set [build] salt (the recipe sets it in a form rezup cannot edit); remove it and run again")}
	}
	return out.Bytes(), nil
}

func isKeyLine(t, key string) bool {
	if !strings.HasPrefix(t, key) {
		return false
	}
	rest := strings.TrimSpace(t[len(key):])
	return strings.HasPrefix(rest, "=")
}

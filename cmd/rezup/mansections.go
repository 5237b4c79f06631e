package main

import (
	"fmt"
	"strings"
)

// The man page's ENVIRONMENT and EXIT STATUS sections are the README's
// "Environment variables" and "Exit codes" tables, rendered when
// scripts/release writes the pages (mangen.go), so that the two never
// disagree. This file has no build tag so that its test runs with the
// others; rezup itself never calls it, and the linker leaves it out.

// manSections returns the roff of the ENVIRONMENT and EXIT STATUS sections
// made from readme, the text of README.md.
func manSections(readme string) (string, error) {
	var b strings.Builder
	for _, s := range []struct{ heading, section string }{
		{"Environment variables", "ENVIRONMENT"},
		{"Exit codes", "EXIT STATUS"},
	} {
		rows, err := readmeTable(readme, s.heading)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, ".SH %s\n", s.section)
		for _, r := range rows {
			fmt.Fprintf(&b, ".TP\n%s\n%s\n", roffText(r[0]), roffText(r[1]))
		}
	}
	return b.String(), nil
}

// insertManSections puts sections into the roff page before its SEE ALSO
// section (where man-pages(7) orders them), or at the end of a page that
// has none.
func insertManSections(page, sections string) string {
	if i := strings.Index(page, "\n.SH SEE ALSO"); i >= 0 {
		return page[:i+1] + sections + page[i+1:]
	}
	if !strings.HasSuffix(page, "\n") {
		page += "\n"
	}
	return page + sections
}

// readmeTable returns the rows (first two cells) of the first table
// under the level-2 heading "## heading" of a Markdown text.
func readmeTable(md, heading string) ([][2]string, error) {
	lines := strings.Split(md, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == "## "+heading {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("README has no section %q", heading)
	}
	var rows [][2]string
	header := true
	for _, l := range lines[start:] {
		if strings.HasPrefix(l, "## ") {
			break
		}
		if !strings.HasPrefix(l, "|") {
			if len(rows) > 0 {
				break // the table has ended
			}
			continue
		}
		cells := tableCells(l)
		if header || isRule(cells) {
			header = false
			continue
		}
		if len(cells) < 2 {
			return nil, fmt.Errorf("README, section %q: a table row with fewer than two cells: %s", heading, l)
		}
		rows = append(rows, [2]string{cells[0], cells[1]})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("README, section %q: no table", heading)
	}
	return rows, nil
}

// tableCells splits a Markdown table row on its unescaped pipes.
func tableCells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(row, "|")
	row = strings.TrimSuffix(row, "|")
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cell.WriteByte('|')
			i++
		case row[i] == '|':
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(row[i])
		}
	}
	return append(cells, strings.TrimSpace(cell.String()))
}

// isRule reports the |---|---| line under a table's header.
func isRule(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, "-: ") != "" {
			return false
		}
	}
	return true
}

// roffText turns a Markdown cell into roff text: code in bold, links as
// their text, and roff's own characters escaped.
func roffText(md string) string {
	md = linkText(md)
	var b strings.Builder
	code := false
	for _, r := range md {
		switch r {
		case '`':
			if code {
				b.WriteString(`\fR`)
			} else {
				b.WriteString(`\fB`)
			}
			code = !code
		case '\\':
			b.WriteString(`\e`)
		case '-':
			b.WriteString(`\-`)
		default:
			b.WriteRune(r)
		}
	}
	if code {
		b.WriteString(`\fR`)
	}
	s := b.String()
	// A line starting with . or ' would be a roff request.
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// linkText replaces each Markdown link [text](target) by its text. (No
// regexp: one compiled at start would cost every launch.)
func linkText(md string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(md, '[')
		if open < 0 {
			break
		}
		closing := strings.IndexByte(md[open:], ']')
		if closing < 0 {
			break
		}
		closing += open
		end := -1
		if strings.HasPrefix(md[closing+1:], "(") {
			end = strings.IndexByte(md[closing:], ')')
		}
		if end < 0 { // brackets, not a link: "[root] local"
			b.WriteString(md[:closing+1])
			md = md[closing+1:]
			continue
		}
		b.WriteString(md[:open])
		b.WriteString(md[open+1 : closing])
		md = md[closing+end+1:]
	}
	b.WriteString(md)
	return b.String()
}

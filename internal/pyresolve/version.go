package pyresolve

import (
	"cmp"
	"regexp"
	"strings"
	"sync"
)

// pep440 is PEP 440's version pattern (as in packaging.version), matched
// case-insensitively against a trimmed version.
var pep440 = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)^v?` +
		`(?:([0-9]+)!)?` + // epoch
		`([0-9]+(?:\.[0-9]+)*)` + // release
		`(?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?([0-9]+)?)?` + // pre
		`(?:-([0-9]+)|[-_.]?(post|rev|r)[-_.]?([0-9]+)?)?` + // post
		`(?:[-_.]?(dev)[-_.]?([0-9]+)?)?` + // dev
		`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`) // local
})

var localSep = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[-_.]`) })

// version is a parsed PEP 440 version. Numbers stay decimal strings
// without leading zeros, compared by length then digits, so that no
// component overflows.
type version struct {
	epoch   string
	release []string // trailing zeros removed: 1.0 == 1
	pre     int      // -1: sorts before any pre-release (a dev release of the release itself); 0: a; 1: b; 2: rc; 3: none (sorts after)
	preN    string
	post    string // "" with hasPost false: none, sorts first
	hasPost bool
	dev     string
	hasDev  bool // no dev sorts last
	local   []string
}

func parseVersion(s string) (version, bool) {
	m := pep440().FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return version{}, false
	}
	v := version{epoch: num(m[1])}
	for _, r := range strings.Split(m[2], ".") {
		v.release = append(v.release, num(r))
	}
	for len(v.release) > 0 && v.release[len(v.release)-1] == "0" {
		v.release = v.release[:len(v.release)-1]
	}
	switch strings.ToLower(m[3]) {
	case "a", "alpha":
		v.pre = 0
	case "b", "beta":
		v.pre = 1
	case "rc", "c", "pre", "preview":
		v.pre = 2
	default:
		v.pre = 3
	}
	v.preN = num(m[4])
	if m[5] != "" || m[6] != "" {
		v.hasPost, v.post = true, num(m[5]+m[7])
	}
	if m[8] != "" {
		v.hasDev, v.dev = true, num(m[9])
	}
	if v.pre == 3 && !v.hasPost && v.hasDev {
		v.pre = -1
	}
	if m[10] != "" {
		for _, p := range localSep().Split(strings.ToLower(m[10]), -1) {
			if isDigits(p) {
				p = num(p)
			}
			v.local = append(v.local, p)
		}
	}
	return v, true
}

// num is a decimal string without leading zeros; "" is 0.
func num(s string) string {
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return "0"
	}
	return s
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func numCmp(a, b string) int {
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// CompareVersions orders two versions per PEP 440: epoch, release (1.0 ==
// 1.0.0), pre-releases (a < b < rc) before the release, dev releases before
// everything of their release, post-releases after it, and local labels
// (+x) after the public version, numeric segments above alphanumeric
// ones. It returns -1, 0 or +1.
//
// Approximated: a version PEP 440 cannot parse (a legacy version) sorts
// below every valid one, and two of them compare as strings; local labels
// are compared case-insensitively but not otherwise normalized.
func CompareVersions(a, b string) int {
	va, okA := parseVersion(a)
	vb, okB := parseVersion(b)
	switch {
	case !okA && !okB:
		return strings.Compare(a, b)
	case !okA:
		return -1
	case !okB:
		return 1
	}
	if c := numCmp(va.epoch, vb.epoch); c != 0 {
		return c
	}
	for i := 0; i < max(len(va.release), len(vb.release)); i++ {
		x, y := "0", "0"
		if i < len(va.release) {
			x = va.release[i]
		}
		if i < len(vb.release) {
			y = vb.release[i]
		}
		if c := numCmp(x, y); c != 0 {
			return c
		}
	}
	if c := cmp.Compare(va.pre, vb.pre); c != 0 {
		return c
	}
	if va.pre >= 0 && va.pre <= 2 {
		if c := numCmp(va.preN, vb.preN); c != 0 {
			return c
		}
	}
	if c := boolCmp(va.hasPost, vb.hasPost); c != 0 {
		return c
	}
	if c := numCmp(va.post, vb.post); va.hasPost && c != 0 {
		return c
	}
	// No dev release sorts after any dev release.
	if c := boolCmp(!va.hasDev, !vb.hasDev); c != 0 {
		return c
	}
	if c := numCmp(va.dev, vb.dev); va.hasDev && c != 0 {
		return c
	}
	for i := 0; i < max(len(va.local), len(vb.local)); i++ {
		if i >= len(va.local) {
			return -1
		}
		if i >= len(vb.local) {
			return 1
		}
		x, y := va.local[i], vb.local[i]
		dx, dy := isDigits(x), isDigits(y)
		var c int
		switch {
		case dx && dy:
			c = numCmp(x, y)
		case dx:
			c = 1
		case dy:
			c = -1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

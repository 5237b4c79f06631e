package selfupdate

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a semver-like version: "1.2.3", "v1.2", "1.2.3-dev",
// "1.2.3-rc.1+build". Missing numbers count as 0; build metadata (after
// '+') is ignored.
type Version struct {
	raw  string
	nums []int
	pre  []string // dot-separated pre-release identifiers; nil for a release
}

// ParseVersion reads a version with an optional leading "v". It must start
// with a number; the core is up to three dot-separated numbers.
func ParseVersion(s string) (Version, error) {
	v := Version{raw: s}
	rest := strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		rest = rest[:i]
	}
	core, pre, hasPre := strings.Cut(rest, "-")
	parts := strings.Split(core, ".")
	if core == "" || len(parts) > 3 {
		return Version{}, fmt.Errorf("version %q: want numbers like 1.2.3", s)
	}
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || strings.TrimLeft(p, "0123456789") != "" {
			return Version{}, fmt.Errorf("version %q: %q is not a number", s, p)
		}
		v.nums = append(v.nums, n)
	}
	if hasPre {
		if pre == "" {
			return Version{}, fmt.Errorf("version %q: empty pre-release after '-'", s)
		}
		v.pre = strings.Split(pre, ".")
	}
	return v, nil
}

// String is the version as it was written.
func (v Version) String() string { return v.raw }

// Compare returns -1, 0 or +1 as a is older than, the same as, or newer
// than b. A pre-release is older than its release (1.2.3-dev < 1.2.3);
// pre-release identifiers compare numerically when both are numbers,
// otherwise as text, and a numeric one is older than a text one.
func Compare(a, b Version) int {
	for i := range 3 {
		if c := cmpInt(a.num(i), b.num(i)); c != 0 {
			return c
		}
	}
	switch {
	case a.pre == nil && b.pre == nil:
		return 0
	case a.pre == nil:
		return 1
	case b.pre == nil:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		xn, xerr := strconv.Atoi(x)
		yn, yerr := strconv.Atoi(y)
		var c int
		switch {
		case xerr == nil && yerr == nil:
			c = cmpInt(xn, yn)
		case xerr == nil:
			c = -1
		case yerr == nil:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return cmpInt(len(a.pre), len(b.pre))
}

func (v Version) num(i int) int {
	if i < len(v.nums) {
		return v.nums[i]
	}
	return 0
}

func cmpInt(x, y int) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

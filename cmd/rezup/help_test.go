package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// visibleCommands is every command a user can see in rezup's help, the
// help command included: cobra adds it only when executing.
func visibleCommands(t *testing.T) []*cobra.Command {
	t.Helper()
	root := testApp(t).command()
	root.InitDefaultHelpCmd()
	var all []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if len(all) < 13 {
		t.Fatalf("walked %d commands; the tree has at least 13", len(all))
	}
	return all
}

// Every command says what it does at length and shows how it is used, in
// cobra's own Examples section rather than inside the long text.
func TestEveryCommandHasLongAndExamples(t *testing.T) {
	t.Parallel()
	for _, c := range visibleCommands(t) {
		t.Run(c.CommandPath(), func(t *testing.T) {
			if strings.TrimSpace(c.Long) == "" {
				t.Error("no Long description")
			}
			if strings.Contains(c.Long, "Examples:") || strings.Contains(c.Long, "\n  rezup ") {
				t.Errorf("examples inside Long; they go in Example:\n%s", c.Long)
			}
			lines := strings.Split(c.Example, "\n")
			if len(lines) < 2 || len(lines) > 4 {
				t.Errorf("%d examples, want 2 to 4:\n%s", len(lines), c.Example)
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "  ") || !strings.Contains(l, "rezup") || strings.TrimSpace(l) != strings.TrimPrefix(l, "  ") {
					t.Errorf("example %q: want two spaces of indent and a rezup command line", l)
				}
			}
		})
	}
}

// exampleComment is where an example's trailing comment starts: two or
// more spaces, then "# ".
var exampleComment = regexp.MustCompile(`\S( {1,})# `)

// The comments of a command's examples start in one column, whatever
// quoting the example line has (env's csh line is spliced from two Go
// strings, which is how it once came out of line).
func TestExampleCommentsAligned(t *testing.T) {
	t.Parallel()
	for _, c := range visibleCommands(t) {
		col := -1
		for _, l := range strings.Split(c.Example, "\n") {
			m := exampleComment.FindStringSubmatchIndex(l)
			if m == nil {
				continue
			}
			at := m[3] // the "#"
			if col >= 0 && at != col {
				t.Errorf("%s: comment of %q at column %d, the one before at %d:\n%s", c.CommandPath(), l, at, col, c.Example)
			}
			col = at
		}
	}
}

// The defaults the README states are the ones --help shows.
func TestFlagDefaultsMatchREADME(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	root := testApp(t).command()
	for _, tc := range []struct {
		cmd, flag string
		readme    *regexp.Regexp // its first group is the README's default
		help      func(c *cobra.Command, flag string) string
	}{
		{"gc", "cache-grace", regexp.MustCompile("`--cache-grace` \\(default `([^`]+)`\\)"), defValue},
		{"gc", "keep", regexp.MustCompile("`--keep N` newest \\(default ([0-9]+)\\)"), defValue},
		{"key generate", "out", regexp.MustCompile("write a new ed25519 secret key \\(default `([^`]+)`"), defaultInUsage},
	} {
		t.Run(tc.cmd+" --"+tc.flag, func(t *testing.T) {
			m := tc.readme.FindSubmatch(readme)
			if m == nil {
				t.Fatalf("README does not state the default of --%s (%s)", tc.flag, tc.readme)
			}
			c, _, err := root.Find(strings.Fields(tc.cmd))
			if err != nil || c.Flags().Lookup(tc.flag) == nil {
				t.Fatalf("rezup %s has no --%s (%v)", tc.cmd, tc.flag, err)
			}
			if got := tc.help(c, tc.flag); got != string(m[1]) {
				t.Errorf("--help says the default is %q, README %q", got, m[1])
			}
		})
	}
}

// defValue is the default --help shows for a flag with a value.
func defValue(c *cobra.Command, flag string) string { return c.Flags().Lookup(flag).DefValue }

// defaultInUsage is the default a flag whose value is computed at run
// time states in its usage text: "(default X)".
func defaultInUsage(c *cobra.Command, flag string) string {
	_, after, ok := strings.Cut(c.Flags().Lookup(flag).Usage, "(default ")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, ")")
	return v
}

// A mistyped command is a usage error that suggests the command meant,
// at the root, under a command with commands, and as a help topic.
func TestTypoSuggestsCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args       []string
		want, hint string
	}{
		{[]string{"stats"}, `unknown command "stats" for "rezup"`, "did you mean this? status"},
		{[]string{"stauts", "prod"}, `unknown command "stauts" for "rezup"`, "did you mean this? status"},
		{[]string{"pul", "--all"}, `unknown command "pul" for "rezup"`, "did you mean this? pull"},
		{[]string{"d"}, `unknown command "d" for "rezup"`, "one of these? add, diff, drop, gc"},
		{[]string{"key", "genrate", "studio-1"}, `unknown command "genrate" for "rezup key"`, "did you mean this? generate"},
		{[]string{"help", "stats"}, `unknown command "stats" for "rezup"`, "did you mean this? status"},
		{[]string{"nosuch"}, `unknown command "nosuch" for "rezup"`, "see rezup --help"},
		{[]string{"help", "nosuch"}, `unknown command "nosuch" for "rezup"`, "see rezup --help"},
		{[]string{"help", "key", "nosuch"}, `unknown command "nosuch" for "rezup key"`, "see rezup key --help"},
		{[]string{"key", "nosuch"}, `unknown command "nosuch" for "rezup key"`, "see rezup key --help"},
		{[]string{"gc", "--dryrun"}, `rezup gc: unknown flag: --dryrun`, "did you mean this? --dry-run (see rezup gc --help)"},
		{[]string{"status", "--jsn"}, `rezup status: unknown flag: --jsn`, "did you mean this? --json"},
		{[]string{"use", "--nowait", "--", "true"}, `rezup use: unknown flag: --nowait`, "did you mean this? --no-wait"},
		{[]string{"pull", "--debg"}, `rezup pull: unknown flag: --debg`, "did you mean this? --debug"},
		{[]string{"gc", "--zzzzzz"}, `rezup gc: unknown flag: --zzzzzz`, "see rezup gc --help"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := rezup(t, t.TempDir(), nil, tc.args...)
			checkOneLineError(t, out, errOut, code, 2, tc.want, tc.hint)
		})
	}
}

// A bad command line points at the help of the command it was given to.
func TestUsageHintNamesCommandHelp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args       []string
		want, hint string
	}{
		{[]string{"use", "--nosuch"}, "unknown flag: --nosuch", "see rezup use --help"},
		{[]string{"use", "a", "b"}, "at most one container name", "see rezup use --help"},
		{[]string{"use", "--"}, "nothing after --", "see rezup use --help"},
		{[]string{"gc", "--keep", "0"}, "keep at least 1", "see rezup gc --help"},
		{[]string{"gc", "--cache-grace", "soon"}, "not a duration", "see rezup gc --help"},
		{[]string{"key", "generate"}, "exactly one key name", "see rezup key generate --help"},
		{[]string{"status", "--revision", "latest"}, "goes with --packages", "see rezup status --help"},
		{[]string{"--nosuch"}, "unknown flag: --nosuch", "see rezup --help"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := rezup(t, t.TempDir(), nil, tc.args...)
			checkOneLineError(t, out, errOut, code, 2, tc.want, tc.hint)
		})
	}
}

// rezup help COMMAND prints that command's help, as COMMAND --help does.
func TestHelpCommand(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	for _, path := range [][]string{{"use"}, {"key", "generate"}, {"status"}} {
		viaHelp, errOut, code := rezup(t, home, nil, append([]string{"help"}, path...)...)
		viaFlag, _, _ := rezup(t, home, nil, append(path, "--help")...)
		if code != 0 || errOut != "" || viaHelp != viaFlag || !strings.Contains(viaHelp, "Examples:\n  rezup "+strings.Join(path, " ")) {
			t.Errorf("rezup help %s: exit %d, stderr %q, same as --help: %v\n%s", strings.Join(path, " "), code, errOut, viaHelp == viaFlag, viaHelp)
		}
	}
}

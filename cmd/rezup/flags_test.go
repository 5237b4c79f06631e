package main

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/gc"
)

// These tests read command lines the way rezup does, without the binary:
// each command is built with a runF that captures its options, under a
// real root (persistent flags, preRun, flag errors as usage errors). The
// HOME of the app is empty, so preRun reads no recipe and runs nothing.

// flagCase is one command line: the options it yields, or the exit code
// (and part of the message) of the error it is refused with.
type flagCase[O any] struct {
	args []string
	want O
	code int    // 0: the command line is accepted
	msg  string // with code: a part of the error message
}

// testApp is an app with an empty HOME and no other environment.
func testApp(t *testing.T) *app {
	t.Helper()
	return newApp([]string{"HOME=" + t.TempDir()}, &bytes.Buffer{}, &bytes.Buffer{})
}

// parseWith runs args (after the command's name) through a root holding
// the command mk builds, and returns the options runF got (nil when it
// was not called) and the error.
func parseWith[O any](t *testing.T, a *app, mk func(*app, func(context.Context, *O) error) *cobra.Command, args []string) (*O, error) {
	t.Helper()
	var got *O
	cmd := mk(a, func(_ context.Context, o *O) error {
		if got != nil {
			t.Fatal("runF called twice")
		}
		got = o
		return nil
	})
	root := a.rootCommand(func(context.Context, *rootOptions) error {
		t.Fatal("bare rezup ran instead of the command")
		return nil
	})
	root.AddCommand(cmd)
	root.SetArgs(append([]string{cmd.Name()}, args...))
	err := root.ExecuteContext(context.Background())
	return got, err
}

func checkFlags[O any](t *testing.T, mk func(*app, func(context.Context, *O) error) *cobra.Command, cases []flagCase[O]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parseWith(t, testApp(t), mk, tc.args)
			if tc.code != 0 {
				if err == nil {
					t.Fatalf("accepted, with options %+v; want exit %d", *got, tc.code)
				}
				if code := exitCode(err); code != tc.code || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("error %q (exit %d), want exit %d and %q", err, code, tc.code, tc.msg)
				}
				if got != nil {
					t.Fatalf("the command ran despite the error: %+v", *got)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v (exit %d)", err, exitCode(err))
			}
			if got == nil {
				t.Fatal("runF was not called")
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("options\n got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestUseFlags(t *testing.T) {
	t.Parallel()
	checkFlags(t, (*app).useCommand, []flagCase[useOptions]{
		{args: nil, want: useOptions{name: ".main"}},
		{args: []string{"prod"}, want: useOptions{name: "prod"}},
		{args: []string{"prod", "-l"}, want: useOptions{name: "prod", local: true}},
		{args: []string{"--local", "dev-2"}, want: useOptions{name: "dev-2", local: true}},
		{args: []string{"--", "rez-env", "maya"}, want: useOptions{name: ".main", argv: []string{"rez-env", "maya"}}},
		// Flags after -- are the command's, and so is a second --.
		{args: []string{"prod", "--", "-l", "--", "x"}, want: useOptions{name: "prod", argv: []string{"-l", "--", "x"}}},
		{args: []string{"-n", "--", "sleep", "1"}, want: useOptions{name: ".main", noWait: true, argv: []string{"sleep", "1"}}},
		{args: []string{"--no-wait", "prod", "--do", "true"}, want: useOptions{name: "prod", noWait: true, do: "true"}},
		{args: []string{"--do", "rez-env maya -- maya -batch"}, want: useOptions{name: ".main", do: "rez-env maya -- maya -batch"}},
		{args: []string{"-d", "x; y", "-l"}, want: useOptions{name: ".main", do: "x; y", local: true}},
		{args: []string{"-D", "prod"}, want: useOptions{name: "prod"}}, // rezup's own -D, not the command's
		{args: []string{"--no-upgrade"}, want: useOptions{name: ".main"}},

		{args: []string{"-n"}, code: 2, msg: "--no-wait needs a command"},
		{args: []string{"--no-wait", "prod"}, code: 2, msg: "--no-wait needs a command"},
		{args: []string{"prod", "--"}, code: 2, msg: "nothing after --"},
		{args: []string{"--do", "x", "--", "y"}, code: 2, msg: "not both"},
		{args: []string{"a", "b"}, code: 2, msg: "at most one container name"},
		{args: []string{"a", "b", "--", "c"}, code: 2, msg: "at most one container name"},
		{args: []string{"../x"}, code: 2, msg: "not a path"},
		{args: []string{".store"}, code: 2, msg: "reserved"},
		{args: []string{"--nosuch"}, code: 2, msg: "unknown flag: --nosuch"},
		{args: []string{"-x"}, code: 2, msg: "unknown shorthand flag: 'x'"},
		{args: []string{"--do"}, code: 2, msg: "needs an argument"},
		{args: []string{"--local=maybe"}, code: 2, msg: "invalid argument"},
	})
}

func TestAddFlags(t *testing.T) {
	t.Parallel()
	checkFlags(t, (*app).addCommand, []flagCase[addOptions]{
		{args: nil, want: addOptions{name: ".main"}},
		{args: []string{"-s"}, want: addOptions{name: ".main", skipUse: true}},
		{args: []string{"prod", "-r", "-s"}, want: addOptions{name: "prod", remote: true, skipUse: true}},
		{args: []string{"-rs", "prod"}, want: addOptions{name: "prod", remote: true, skipUse: true}},
		{args: []string{"--fresh", "dev"}, want: addOptions{name: "dev", fresh: true}},
		{args: []string{"--skip-use", "--remote", "--fresh"}, want: addOptions{name: ".main", skipUse: true, remote: true, fresh: true}},

		{args: []string{"a", "b"}, code: 2, msg: "at most one container name"},
		{args: []string{"bad name"}, code: 2, msg: "invalid container name"},
		{args: []string{"--force"}, code: 2, msg: "unknown flag: --force"},
		{args: []string{"-f"}, code: 2, msg: "unknown shorthand flag"},
	})
}

func TestStatusFlags(t *testing.T) {
	t.Parallel()
	checkFlags(t, (*app).statusCommand, []flagCase[statusOptions]{
		{args: nil, want: statusOptions{}}, // every container
		{args: []string{"--json"}, want: statusOptions{asJSON: true}},
		{args: []string{"prod", "--json"}, want: statusOptions{name: "prod", asJSON: true}},
		{args: []string{".main"}, want: statusOptions{name: ".main"}},
		{args: []string{"prod", "--packages"}, want: statusOptions{name: "prod", packages: true}},
		{args: []string{"--packages", "prod", "--json"}, want: statusOptions{name: "prod", packages: true, asJSON: true}},
		{args: []string{"prod", "--packages", "--revision", "1763900000.1"}, want: statusOptions{name: "prod", packages: true, revision: "1763900000.1"}},
		{args: []string{"prod", "--packages", "--revision=latest~2"}, want: statusOptions{name: "prod", packages: true, revision: "latest~2"}},

		{args: []string{"a", "b"}, code: 2, msg: "at most one container name"},
		{args: []string{""}, code: 2, msg: "empty"},
		{args: []string{"x/y"}, code: 2, msg: "not a path"},
		{args: []string{"-l"}, code: 2, msg: "unknown shorthand flag"},
		{args: []string{"--packages"}, code: 2, msg: "give its name"},
		{args: []string{"prod", "--revision", "latest"}, code: 2, msg: "--revision goes with --packages"},
		{args: []string{"prod", "--packages", "--revision", "newest"}, code: 2, msg: `--revision "newest" names no revision`},
		{args: []string{"prod", "--packages", "--revision"}, code: 2, msg: "needs an argument"},
	})
}

func TestDiffFlags(t *testing.T) {
	t.Parallel()
	checkFlags(t, (*app).diffCommand, []flagCase[diffOptions]{
		{args: nil, want: diffOptions{name: ".main"}},
		{args: []string{"prod"}, want: diffOptions{name: "prod"}},
		{args: []string{"prod", "-l", "--json"}, want: diffOptions{name: "prod", local: true, asJSON: true}},
		// A first argument that looks like a revision is REV1 of .main.
		{args: []string{"1763900000"}, want: diffOptions{name: ".main", old: "1763900000"}},
		{args: []string{"latest~1", "latest"}, want: diffOptions{name: ".main", old: "latest~1", new: "latest"}},
		{args: []string{"prod", "1763900000.123456"}, want: diffOptions{name: "prod", old: "1763900000.123456"}},
		{args: []string{"prod", "17639", "latest~2", "--local"}, want: diffOptions{name: "prod", old: "17639", new: "latest~2", local: true}},
		// With three arguments the first is NAME, even one that looks like a revision.
		{args: []string{"2024", "1", "2"}, want: diffOptions{name: "2024", old: "1", new: "2"}},

		{args: []string{"a", "1", "2", "3"}, code: 2, msg: "at most two revisions"},
		{args: []string{"prod", "newest"}, code: 2, msg: `"newest" names no revision`},
		{args: []string{"prod", "latest~"}, code: 2, msg: "names no revision"},
		{args: []string{"prod", "1", "latest-1"}, code: 2, msg: "names no revision"},
		{args: []string{"../x"}, code: 2, msg: "not a path"},
		{args: []string{"prod", "-1"}, code: 2, msg: "unknown shorthand flag"},
		{args: []string{"--packages"}, code: 2, msg: "unknown flag"},
	})
}

func TestDropFlags(t *testing.T) {
	t.Parallel()
	checkFlags(t, (*app).dropCommand, []flagCase[dropOptions]{
		{args: []string{"prod"}, want: dropOptions{name: "prod"}},
		{args: []string{".main", "--force"}, want: dropOptions{name: ".main", force: true}},

		{args: nil, code: 2, msg: "exactly one container name"},
		{args: []string{"--force"}, code: 2, msg: "exactly one container name"},
		{args: []string{"a", "b"}, code: 2, msg: "exactly one container name"},
		{args: []string{".."}, code: 2, msg: "invalid container name"},
		{args: []string{"prod", "-f"}, code: 2, msg: "unknown shorthand flag"},
	})
}

func TestPullFlags(t *testing.T) {
	t.Parallel()
	checkFlags(t, (*app).pullCommand, []flagCase[pullOptions]{
		{args: nil, want: pullOptions{name: ".main"}},
		{args: []string{"prod", "-l"}, want: pullOptions{name: "prod", local: true}},
		{args: []string{"--local"}, want: pullOptions{name: ".main", local: true}},
		{args: []string{"prod", "--repair"}, want: pullOptions{name: "prod", repair: true}},
		{args: []string{"--all"}, want: pullOptions{all: true}},
		{args: []string{"--all", "-l", "--repair"}, want: pullOptions{all: true, local: true, repair: true}},
		{args: []string{"--all", "prod"}, code: 2, msg: "give no container name"},
		{args: []string{"prod", "--all"}, code: 2, msg: "give no container name"},

		{args: []string{"a", "b"}, code: 2, msg: "at most one container name"},
		{args: []string{".tmp"}, code: 2, msg: "reserved"},
		{args: []string{"-n"}, code: 2, msg: "unknown shorthand flag"},
	})
}

func TestKeyFlags(t *testing.T) {
	t.Parallel()
	checkFlags(t, (*app).keyCommand, []flagCase[keyGenerateOptions]{
		{args: []string{"generate", "studio-1"}, want: keyGenerateOptions{name: "studio-1"}},
		{args: []string{"generate", "node-42", "-o", "/etc/rezup/node.key", "--force"}, want: keyGenerateOptions{name: "node-42", out: "/etc/rezup/node.key", force: true}},

		{args: []string{"generate"}, code: 2, msg: "exactly one key name"},
		{args: []string{"generate", "a", "b"}, code: 2, msg: "exactly one key name"},
		{args: nil, code: 2, msg: "needs a command"},
		{args: []string{"make"}, code: 2, msg: "unknown command"},
	})
}

func TestEnvFlags(t *testing.T) {
	t.Parallel()
	var cases []flagCase[envOptions]
	for _, f := range envFormats {
		cases = append(cases, flagCase[envOptions]{args: []string{"--format", f}, want: envOptions{name: ".main", format: f}})
	}
	cases = append(cases, []flagCase[envOptions]{
		{args: nil, want: envOptions{name: ".main", format: "sh"}},
		{args: []string{"prod", "--format=json"}, want: envOptions{name: "prod", format: "json"}},
		{args: []string{"-l", "dev", "--format", "csh"}, want: envOptions{name: "dev", format: "csh", local: true}},

		{args: []string{"--format", "cmd"}, code: 2, msg: "use one of sh, csh, fish, pwsh, json"},
		{args: []string{"--format", ""}, code: 2, msg: "use one of"},
		{args: []string{"--format"}, code: 2, msg: "needs an argument"},
		{args: []string{"a", "b"}, code: 2, msg: "at most one container name"},
		{args: []string{"a/b"}, code: 2, msg: "not a path"},
	}...)
	checkFlags(t, (*app).envCommand, cases)
}

func TestResolveFlags(t *testing.T) {
	t.Parallel()
	checkFlags(t, (*app).resolveCommand, []flagCase[resolveOptions]{
		{args: []string{"--", "maya-2024", "arnold"}, want: resolveOptions{name: ".main", request: []string{"maya-2024", "arnold"}}},
		{args: []string{"prod", "--json", "--", "nuke"}, want: resolveOptions{name: "prod", asJSON: true, request: []string{"nuke"}}},
		{args: []string{"-l", "--", "x", "--json"}, want: resolveOptions{name: ".main", local: true, request: []string{"x", "--json"}}},

		{args: nil, code: 2, msg: "give the Rez request after --"},
		{args: []string{"prod"}, code: 2, msg: "give the Rez request after --"},
		{args: []string{"prod", "--"}, code: 2, msg: "give the Rez request after --"},
		{args: []string{"a", "b", "--", "x"}, code: 2, msg: "at most one container name"},
		{args: []string{"../a", "--", "x"}, code: 2, msg: "not a path"},
		{args: []string{"--format", "sh", "--", "x"}, code: 2, msg: "unknown flag: --format"},
	})
}

func TestCompletionFlags(t *testing.T) {
	t.Parallel()
	// The options hold the tree to complete: it must be rezup's root.
	mk := func(a *app, runF func(context.Context, *completionOptions) error) *cobra.Command {
		return a.completionCommand(func(ctx context.Context, o *completionOptions) error {
			if o.root == nil || o.root.Name() != "rezup" {
				return errors.New("completion is not given rezup's root command")
			}
			o.root = nil
			return runF(ctx, o)
		})
	}
	checkFlags(t, mk, []flagCase[completionOptions]{
		{args: []string{"bash"}, want: completionOptions{shell: "bash"}},
		{args: []string{"zsh"}, want: completionOptions{shell: "zsh"}},
		{args: []string{"fish"}, want: completionOptions{shell: "fish"}},
		{args: []string{"powershell"}, want: completionOptions{shell: "powershell"}},
		{args: []string{"pwsh"}, want: completionOptions{shell: "pwsh"}},

		{args: nil, code: 2, msg: "completion takes one shell"},
		{args: []string{"bash", "zsh"}, code: 2, msg: "completion takes one shell"},
		{args: []string{"tcsh"}, code: 2, msg: `unknown shell "tcsh"`},
		{args: []string{"--json", "bash"}, code: 2, msg: "unknown flag"},
	})
}

func TestGCFlags(t *testing.T) {
	t.Parallel()
	defaults := gcOptions{keep: gc.DefaultKeep, cacheGrace: days(gc.DefaultCacheGrace)}
	with := func(f func(*gcOptions)) gcOptions {
		o := defaults
		f(&o)
		return o
	}
	checkFlags(t, (*app).gcCommand, []flagCase[gcOptions]{
		{args: nil, want: defaults},
		{args: []string{"--dry-run"}, want: with(func(o *gcOptions) { o.dryRun = true })},
		{args: []string{"prod", "dev"}, want: with(func(o *gcOptions) { o.names = []string{"prod", "dev"} })},
		{args: []string{"--older-than", "1d12h"}, want: with(func(o *gcOptions) { o.olderThan = days(36 * time.Hour) })},
		{args: []string{"--older-than", "30d"}, want: with(func(o *gcOptions) { o.olderThan = days(30 * 24 * time.Hour) })},
		{args: []string{"--older-than=90m"}, want: with(func(o *gcOptions) { o.olderThan = days(90 * time.Minute) })},
		{args: []string{"--older-than", "0"}, want: defaults},
		{
			args: []string{"--keep", "1", "--cache", "--cache-grace", "2d", "--json", "--wait", ".main"},
			want: with(func(o *gcOptions) {
				o.keep, o.cache, o.cacheGrace, o.asJSON, o.wait = 1, true, days(48*time.Hour), true, true
				o.names = []string{".main"}
			}),
		},

		{args: []string{"--keep", "0"}, code: 2, msg: "keep at least 1"},
		{args: []string{"--keep", "-3"}, code: 2, msg: "keep at least 1"},
		{args: []string{"--keep", "x"}, code: 2, msg: "invalid argument"},
		{args: []string{"--older-than", "soon"}, code: 2, msg: "use e.g. 12h, 30d or 1d12h"},
		{args: []string{"--older-than", "-1h"}, code: 2, msg: "not a duration"},
		{args: []string{"--older-than", "1.5d"}, code: 2, msg: "not a duration"},
		{args: []string{"--cache-grace", "d"}, code: 2, msg: "not a duration"},
		{args: []string{"prod", "../x"}, code: 2, msg: "not a path"},
		{args: []string{"-n"}, code: 2, msg: "unknown shorthand flag"},
	})
}

func TestRootFlags(t *testing.T) {
	t.Parallel()
	mk := func(a *app, runF func(context.Context, *rootOptions) error) *cobra.Command {
		return a.rootCommand(runF)
	}
	use := useOptions{name: ".main"}
	for _, tc := range []flagCase[rootOptions]{
		{args: nil, want: rootOptions{use: use}}, // bare rezup is use .main
		{args: []string{"-V"}, want: rootOptions{version: true, use: use}},
		{args: []string{"--version"}, want: rootOptions{version: true, use: use}},
		{args: []string{"-L"}, want: rootOptions{latest: true, use: use}},
		{args: []string{"--latest", "--no-upgrade"}, want: rootOptions{latest: true, use: use}},
		{args: []string{"-D"}, want: rootOptions{use: use}},

		{args: []string{"nosuch"}, code: 2, msg: `unknown command "nosuch"`},
		{args: []string{"--nosuch"}, code: 2, msg: "unknown flag"},
		{args: []string{"-l"}, code: 2, msg: "unknown shorthand flag"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			a := testApp(t)
			var got *rootOptions
			root := mk(a, func(_ context.Context, o *rootOptions) error { got = o; return nil })
			root.SetArgs(tc.args)
			err := root.ExecuteContext(context.Background())
			if tc.code != 0 {
				if err == nil || exitCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) || got != nil {
					t.Fatalf("error %v (ran: %v), want exit %d and %q", err, got != nil, tc.code, tc.msg)
				}
				return
			}
			if err != nil || got == nil {
				t.Fatalf("error %v (ran: %v)", err, got != nil)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("options\n got %+v\nwant %+v", *got, tc.want)
			}
			if want := slices.Contains(tc.args, "-D"); a.debug != want {
				t.Errorf("debug = %v, want %v", a.debug, want)
			}
		})
	}
}

// The whole tree holds every command, each with the real run (a nil runF
// is not called: the flag tests above cover the parsing).
func TestCommandTree(t *testing.T) {
	t.Parallel()
	root := testApp(t).command()
	var names []string
	for _, c := range root.Commands() {
		names = append(names, c.Name())
	}
	want := []string{"add", "completion", "diff", "drop", "env", "gc", "key", "pull", "resolve", "status", "use"}
	if !slices.Equal(names, want) {
		t.Errorf("commands %v, want %v", names, want)
	}
	// The Python rezup's short flags.
	for _, f := range []struct{ cmd, short, long string }{
		{"use", "l", "local"}, {"use", "n", "no-wait"}, {"use", "d", "do"},
		{"add", "s", "skip-use"}, {"add", "r", "remote"},
		{"pull", "l", "local"}, {"env", "l", "local"}, {"resolve", "l", "local"}, {"diff", "l", "local"},
	} {
		c, _, err := root.Find([]string{f.cmd})
		if err != nil {
			t.Fatal(err)
		}
		if fl := c.Flags().ShorthandLookup(f.short); fl == nil || fl.Name != f.long {
			t.Errorf("%s -%s is not --%s", f.cmd, f.short, f.long)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"65536": 65536, "64k": 64 << 10, "64KiB": 64 << 10, "1M": 1 << 20, "2MiB": 2 << 20, "0": 0, "-5": 0, "fast": 0, "1.5M": 0, "": 0} {
		if got := parseRate(in); got != want {
			t.Errorf("parseRate(%q) = %d, want %d", in, got, want)
		}
	}
}

// A launch builds only its own command; anything else gets the whole
// tree, so that help lists, and mistakes are matched against, every
// command.
func TestCommandForBuildsWhatARunNeeds(t *testing.T) {
	all := []string{"add", "completion", "diff", "drop", "env", "gc", "key", "pull", "resolve", "status", "use"}
	tests := []struct {
		args []string
		want []string // the root's commands, but help
	}{
		{[]string{"use", "--", "true"}, []string{"use"}},
		{[]string{"use", "prod"}, []string{"use"}},
		{[]string{"env", "prod"}, []string{"env"}},
		{[]string{}, nil},     // bare rezup: use .main from the root
		{[]string{"-V"}, nil}, // the root's flags only
		{[]string{"-D", "-q"}, nil},
		{[]string{"use", "--help"}, all},
		{[]string{"use", "-h"}, all},
		{[]string{"-D", "use"}, all}, // a flag first: the whole tree
		{[]string{"add"}, all},
		{[]string{"pul", "--all"}, all}, // a typo is matched against every command
		{[]string{"completion", "bash"}, all},
		{[]string{"--help"}, all},
		{nil, all}, // command(): man pages, completion scripts
	}
	for _, tt := range tests {
		root := testApp(t).commandFor(tt.args)
		var got []string
		for _, c := range root.Commands() {
			if !c.Hidden && c.Name() != "help" {
				got = append(got, c.Name())
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("commandFor(%q): commands %q, want %q", tt.args, got, tt.want)
		}
	}
}

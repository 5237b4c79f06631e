package main

import (
	"context"
	"encoding/json"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// envFormats are the --format values of `rezup env`.
var envFormats = []string{"sh", "csh", "fish", "pwsh", "json"}

// envOptions is what `rezup env` is told.
type envOptions struct {
	name   string
	format string
	local  bool
}

func (a *app) envCommand(runF func(context.Context, *envOptions) error) *cobra.Command {
	var o envOptions
	cmd := &cobra.Command{
		Use:   "env [NAME]",
		Short: "Print the launch environment of a container's latest revision",
		Long: `Print the environment that "rezup use NAME" runs commands with (default
.main), for eval and for pipeline tools. The revision is made ready first,
as use does; a container with no revision yet is an error (exit 1), never
a build: make it with rezup add.

The shell formats (sh, csh, fish, pwsh) print what differs from the
calling environment, as commands to eval; --format json prints every
variable as one JSON object.`,
		Example: `  eval "$(rezup env)"                          # sh, bash, zsh
  eval "` + "`rezup env --format csh`" + `"              # csh, tcsh
  rezup env --format fish | source             # fish
  rezup env --format pwsh | Invoke-Expression  # PowerShell`,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			if !validFormat(o.format) {
				return usagef("--format %q: use one of %s", o.format, strings.Join(envFormats, ", "))
			}
			o.name = name
			if runF == nil {
				runF = a.runEnv
			}
			return runF(cmd.Context(), &o)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "sh", "output format: "+strings.Join(envFormats, ", "))
	cmd.Flags().BoolVarP(&o.local, "local", "l", false, "ignore the remote root and use the latest local revision")
	return cmd
}

// runEnv prints the launch environment of o.name's latest revision.
func (a *app) runEnv(ctx context.Context, o *envOptions) error {
	env, release, err := a.launchEnv(ctx, o.name, o.local)
	if err != nil {
		return err
	}
	// The lock only has to cover composing the environment: what
	// runs afterwards in an eval'ing shell takes its own.
	release()
	base := a.startEnviron
	if base == nil {
		base = a.environ
	}
	return writeEnv(a.stdout, o.format, base, env)
}

func validFormat(f string) bool {
	for _, v := range envFormats {
		if f == v {
			return true
		}
	}
	return false
}

// isEnvName reports whether every shell format can set k: an identifier.
// Others (bash's exported functions, Windows' "=C:") are left out.
// (Checked by hand: `rezup env` runs in login scripts, and a regexp costs
// its compilation every time.)
func isEnvName(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return k != ""
}

// writeEnv prints env in format. json is every variable; the shell formats
// are the changes from base: variables env sets differently, and those it
// drops, sorted by name.
func writeEnv(w io.Writer, format string, base, env []string) error {
	vars := envMap(env)
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(vars) // map keys are sorted
	}
	old := envMap(base)
	var b strings.Builder
	for _, k := range sortedNames(vars) {
		if v, ok := old[k]; (ok && v == vars[k]) || !isEnvName(k) {
			continue
		}
		b.WriteString(setLine(format, k, vars[k]))
	}
	for _, k := range sortedNames(old) {
		if _, ok := vars[k]; ok || !isEnvName(k) {
			continue
		}
		b.WriteString(unsetLine(format, k))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeVars prints a whole variable map (json, or sh export lines).
func writeVars(w io.Writer, asJSON bool, vars map[string]string) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(vars)
	}
	var b strings.Builder
	for _, k := range sortedNames(vars) {
		if isEnvName(k) {
			b.WriteString(setLine("sh", k, vars[k]))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		// The search starts at 1: Windows keeps "=C:=C:\dir" entries.
		if i := strings.IndexByte(kv[min(1, len(kv)):], '='); i >= 0 {
			i += min(1, len(kv))
			m[kv[:i]] = kv[i+1:]
		}
	}
	return m
}

func sortedNames(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// setLine is one assignment. Each line ends in ';' so that csh's
// eval "`…`", which joins lines, still sees separate commands.
func setLine(format, k, v string) string {
	switch format {
	case "csh":
		return "setenv " + k + " " + cshQuote(v) + ";\n"
	case "fish":
		return "set -gx " + k + " " + fishQuote(v) + ";\n"
	case "pwsh":
		return "$env:" + k + " = " + pwshQuote(v) + ";\n"
	}
	return "export " + k + "=" + shQuote(v) + ";\n"
}

func unsetLine(format, k string) string {
	switch format {
	case "csh":
		return "unsetenv " + k + ";\n"
	case "fish":
		return "set -e " + k + ";\n"
	case "pwsh":
		return "Remove-Item -ErrorAction SilentlyContinue Env:" + k + ";\n"
	}
	return "unset " + k + ";\n"
}

// shQuote: inside single quotes nothing is special but the quote itself.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cshQuote: as sh, but history expansion works inside single quotes, so
// '!' is escaped, and a newline needs a backslash before it.
func cshQuote(s string) string {
	r := strings.NewReplacer("'", `'\''`, "!", `\!`, "\n", "\\\n")
	return "'" + r.Replace(s) + "'"
}

// fishQuote: inside single quotes, fish honours \\ and \' only.
func fishQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "'", `\'`)
	return "'" + r.Replace(s) + "'"
}

// pwshQuote: a verbatim string, where ' is written twice. PowerShell also
// treats the typographic quotes ‘ ’ ‚ ‛ as single quotes.
func pwshQuote(s string) string {
	r := strings.NewReplacer("'", "''", "\u2018", "\u2018\u2018", "\u2019", "\u2019\u2019", "\u201a", "\u201a\u201a", "\u201b", "\u201b\u201b")
	return "'" + r.Replace(s) + "'"
}

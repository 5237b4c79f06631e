package launch

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/rezup/rezup/internal/envlist"
)

// knownShells are the names the parent-process walk accepts as "the shell
// that invoked rezup".
var knownShells = map[string]bool{
	"bash": true, "zsh": true, "sh": true, "dash": true, "fish": true,
	"tcsh": true, "csh": true, "ksh": true, "mksh": true, "pwsh": true,
	"xonsh": true,
}

// Shell picks the interactive shell, first match wins:
//
//  1. $REZUP_DEFAULT_SHELL: a path, or a name looked up on PATH;
//  2. on Linux, the nearest ancestor process that is a known shell (bash,
//     zsh, sh, dash, fish, tcsh, csh, ksh, mksh, pwsh, xonsh), which is the
//     shell the user typed rezup in, not merely their login shell;
//  3. on Unix $SHELL, on Windows %COMSPEC%;
//  4. /bin/sh, or cmd.exe on Windows.
//
// Only a REZUP_DEFAULT_SHELL or SHELL that names no command is an error.
func Shell(environ []string) (string, error) {
	return pickShell(environ, parentShell)
}

func pickShell(environ []string, parent func([]string) (string, bool)) (string, error) {
	if s, _ := envlist.Lookup(environ, "REZUP_DEFAULT_SHELL"); s != "" {
		p, err := envlist.LookPath(s, environ)
		if err != nil {
			return "", fmt.Errorf("REZUP_DEFAULT_SHELL: %w", err)
		}
		return p, nil
	}
	if p, ok := parent(environ); ok {
		return p, nil
	}
	return fallbackShell(environ)
}

// shellKind is a shell's name without directory, ".exe", login dash or
// case: "/usr/bin/bash" → "bash", "-zsh" → "zsh", `C:\…\PwSh.exe` → "pwsh".
func shellKind(shell string) string {
	base := shell
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	base = strings.ToLower(strings.TrimPrefix(base, "-"))
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// Prompt is the prompt prefix of a rezup shell: $REZUP_PROMPT when set
// (even to ""), with the seed's "{linebreak}" code turned into a newline;
// otherwise "rezup (NAME/local) " or "rezup (NAME/remote) ".
func Prompt(container string, remote bool, environ []string) string {
	if p, ok := envlist.Lookup(environ, "REZUP_PROMPT"); ok {
		return strings.ReplaceAll(p, "{linebreak}", "\n")
	}
	where := "local"
	if remote {
		where = "remote"
	}
	return "rezup (" + container + "/" + where + ") "
}

// ScriptShell is the command line of shell reading a script on its stdin
// (a pipe or a heredoc rather than a terminal), as `use` runs it when
// stdin is not a terminal: the shell itself for the POSIX shells, csh and
// fish, which read stdin when it is not a terminal; PowerShell with
// `-Command -`.
func ScriptShell(shell string) []string {
	switch shellKind(shell) {
	case "pwsh", "powershell":
		return []string{shell, "-NoLogo", "-NoProfile", "-NonInteractive", "-Command", "-"}
	}
	return []string{shell}
}

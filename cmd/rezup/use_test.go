package main

import (
	"strings"
	"testing"
)

// A command that cannot be found exits 127, and one that cannot run 126,
// as in a shell, whichever way it is given; rezup says so in one error
// line naming it, and a hint.
func TestUseCommandNotFoundExitCodes(t *testing.T) {
	t.Parallel()
	s := builtUser(t, "")
	s.WriteFile("notexec", "#!/bin/sh\necho hi\n")
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"use", "--", "nosuchcmd"}, 127, `rezup: error: command "nosuchcmd" not found on the PATH of container .main`},
		{[]string{"use", "--", "nosuchcmd", "-x", "1"}, 127, `rezup: error: command "nosuchcmd" not found on the PATH of container .main`},
		{[]string{"use", "--do", "nosuchcmd"}, 127, `rezup: error: command "nosuchcmd" not found on the PATH of container .main`},
		{[]string{"use", "--do", "nosuchcmd -x 1"}, 127, `rezup: error: command "nosuchcmd" not found on the PATH of container .main`},
		{[]string{"use", "--no-wait", "--", "nosuchcmd"}, 127, `rezup: error: command "nosuchcmd" not found on the PATH of container .main`},
		{[]string{"use", "--", "./nosuch/cmd"}, 127, `rezup: error: command "./nosuch/cmd" not found`},
		{[]string{"use", "--", s.Home + "/notexec"}, 126, `rezup: error: command "` + s.Home + `/notexec" in container .main is not executable`},
	}
	for _, tt := range tests {
		res := s.Run(tt.args...)
		lines := strings.Split(strings.TrimSuffix(res.Stderr, "\n"), "\n")
		if res.Code != tt.code || len(lines) != 2 || lines[0] != tt.msg || !strings.HasPrefix(lines[1], "rezup: hint: ") {
			t.Errorf("%q: exit %d, want %d, the error %q and a hint; stderr:\n%s", tt.args, res.Code, tt.code, tt.msg, res.Stderr)
		}
	}

	// What the shell runs, rezup does not second-guess: a builtin, a
	// list, a quoted name, a command found.
	for _, tt := range []struct {
		do   string
		code int
	}{
		{"exit 3", 3},
		{"nosuchcmd || exit 4", 4},
		{"'nosuchcmd'", 127},
		{"sh -c 'exit 5'", 5},
	} {
		res := s.Run("use", "--do", tt.do)
		if res.Code != tt.code || strings.Contains(res.Stderr, "rezup: error:") {
			t.Errorf("--do %q: exit %d, want %d and no error of rezup's\n%s", tt.do, res.Code, tt.code, res.Stderr)
		}
	}
}

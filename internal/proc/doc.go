// Package proc runs rezup's child processes (python, pip and what they
// start: compileall's workers, build backends; a site-customize script; a
// release's --version) as process groups: cancelling the command's context
// ends the whole group, so that an interrupt or a deadline leaves nothing
// running, and KillGroup ends what a finished command left behind.
//
// It is a leaf: it imports nothing of rezup's, never prints and never reads
// the environment.
package proc

//go:build !rezup_mangen

package main

import "github.com/spf13/cobra"

// buildCommands are the commands only a build step needs (see mangen.go):
// none in the rezup people run.
func (a *app) buildCommands() []*cobra.Command { return nil }

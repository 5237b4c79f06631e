//go:build rezup_mangen

package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// The man pages are generated from the command tree itself, so that they
// say what --help says. cobra/doc brings a Markdown renderer along, which
// the rezup people run has no use for: only scripts/release builds this
// file in (go build -tags rezup_mangen), into a binary it runs once.

func (a *app) buildCommands() []*cobra.Command {
	return []*cobra.Command{{
		Use:    "__mangen DIR",
		Short:  "Write rezup's man pages into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		// Writing the pages needs neither a recipe nor an upgrade check:
		// this replaces the root's preRun.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			root.DisableAutoGenTag = true // a stable page: no generation date at the bottom
			header := &doc.GenManHeader{
				Title:   "REZUP",
				Section: "1",
				Source:  "rezup " + rezupVersion(),
				Manual:  "rezup manual",
			}
			// The page date is $SOURCE_DATE_EPOCH when set (cobra reads it),
			// so a release rebuilt from one commit gets the same pages.
			if err := doc.GenManTree(root, header, args[0]); err != nil {
				return fmt.Errorf("write man pages: %w", err)
			}
			return nil
		},
	}}
}

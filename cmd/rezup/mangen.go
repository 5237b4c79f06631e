//go:build rezup_mangen

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// The man pages are generated from the command tree itself, so that they
// say what --help says. cobra/doc brings a Markdown renderer along, which
// the rezup people run has no use for: only scripts/release builds this
// file in (go build -tags rezup_mangen), into a binary it runs once.

func (a *app) buildCommands() []*cobra.Command {
	return []*cobra.Command{{
		Use:    "__mangen DIR README",
		Short:  "Write rezup's man pages into DIR, with the ENVIRONMENT and EXIT STATUS of README",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
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
			readme, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			sections, err := manSections(string(readme))
			if err != nil {
				return err
			}
			if err := doc.GenManTree(root, header, args[0]); err != nil {
				return fmt.Errorf("write man pages: %w", err)
			}
			// The variables and exit codes are the whole program's: they
			// go on rezup(1), not on each command's page.
			page := filepath.Join(args[0], "rezup.1")
			b, err := os.ReadFile(page)
			if err != nil {
				return err
			}
			// A fresh file of the generator's own: written in place.
			return os.WriteFile(page, []byte(insertManSections(string(b), sections)), 0o644)
		},
	}}
}

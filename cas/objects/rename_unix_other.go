//go:build unix && !linux

package objects

// renameNoReplace: only Linux has renameat2; linkNew links and unlinks.
func renameNoReplace(string, string) error { return errNoRenameNoReplace }

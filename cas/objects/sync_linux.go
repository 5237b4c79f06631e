package objects

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncTemps makes the temps durable: one syncfs(2) of the store's
// filesystem for more than syncfsOver of them, an fsync each otherwise.
func syncTemps(dir string, temps []string) error {
	if len(temps) <= syncfsOver {
		return fsyncEach(temps)
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close() // a directory opened to sync: nothing to lose
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

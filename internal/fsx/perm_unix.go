//go:build unix

package fsx

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// readUmask reads the umask without changing it where the kernel says it
// (Linux 4.7+: "Umask:" in /proc/self/status). Elsewhere it sets and
// restores it: another thread creating a file in that instant would get
// mode 022, which is why this runs once, before rezup writes anything.
func readUmask() fs.FileMode {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("Umask:")); ok {
				if m, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 8, 32); err == nil {
					return fs.FileMode(m)
				}
			}
		}
	}
	old := unix.Umask(0o022)
	unix.Umask(old)
	return fs.FileMode(old)
}

func isReadOnlyFS(err error) bool { return errors.Is(err, syscall.EROFS) }

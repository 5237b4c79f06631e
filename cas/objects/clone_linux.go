package objects

import (
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/rezup/rezup/internal/fsx"
)

// cloneFile makes dst a reflink of src (FICLONE), through a temp beside
// dst, with mode perm; where the filesystem cannot (ext4, tmpfs, dst on
// another filesystem), the temp is filled by a copy instead.
func cloneFile(src, dst string, perm fs.FileMode) (How, error) {
	in, err := fsx.OpenRegular(src)
	if err != nil {
		return 0, err
	}
	defer in.Close() // read-only
	how := Cloned
	err = writeBeside(dst, perm, func(out *os.File) error {
		if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil {
			return nil
		}
		// EOPNOTSUPP, EXDEV, EINVAL: no reflink between these two files.
		// Any other failure (EIO, ENOSPC) the copy meets again and
		// reports. FICLONE moves no offset, so the copy starts at 0.
		how = Copied
		_, err := io.Copy(out, in)
		return err
	})
	if err != nil {
		return 0, err
	}
	return how, nil
}
